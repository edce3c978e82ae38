"""A run stopped by a real signal keeps its finished tasks and says so; `signalstack run --resume` goes on from them
to the metrics an uninterrupted run gives; a resume is refused, in one line, when the experiment or its data
changed."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from signalstack.cli import main
from signalstack.research.experiment import load_experiment
from signalstack.research.run import run_experiment

from .support import ar1_bars, write_experiment

pytestmark = pytest.mark.slow  # trains real models end to end, in subprocesses

VOLATILE = ("id", "created", "seconds", "workers", "resumes")
"""metrics.json's run fields that say when and how a run ran, not what it found."""

TASKS = 10
"""2 folds x 2 seeds, 2 baseline tasks, 1 surrogate x 2 folds x 2 seeds."""


def comparable(metrics: dict) -> dict:
    return {**metrics, "run": {k: v for k, v in metrics["run"].items() if k not in VOLATILE}}


@pytest.fixture(scope="module")
def experiment_path(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("resume")
    return write_experiment(
        folder,
        ar1_bars(1300, 0.3, seed=8),
        seeds=2,
        surrogates={"n": 1},
        baselines=["majority", "logistic"],
        export=True,
    )


@pytest.fixture(scope="module")
def uninterrupted(experiment_path) -> Path:
    return run_experiment(load_experiment(experiment_path), experiment_path.parent / "plain").path


def start(experiment: Path, out: Path, workers: int) -> subprocess.Popen:
    """`signalstack run` in a process group of its own, as a shell starts a job."""
    return subprocess.Popen(
        [sys.executable, "-m", "signalstack.cli", "run", str(experiment), "--out", str(out), "--workers", str(workers)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def wait_for_tasks(out: Path, count: int, process: subprocess.Popen, seconds: float = 600) -> Path:
    """The run folder once `count` tasks are kept in it (failing if the process ends first)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        kept = list(out.glob("*/tasks/*.pickle"))
        if len(kept) >= count:
            return kept[0].parents[1]
        if process.poll() is not None:
            pytest.fail(f"the run ended (status {process.returncode}) before {count} tasks: {process.stderr.read()}")
        time.sleep(0.1)
    process.kill()
    pytest.fail(f"fewer than {count} tasks kept after {seconds} s")


@pytest.mark.parametrize(
    "workers, signum, group",
    [(1, signal.SIGINT, True), (2, signal.SIGINT, True), (2, signal.SIGTERM, False)],
    ids=["one_worker_ctrl_c", "two_workers_ctrl_c", "two_workers_sigterm_to_the_run"],
)
def test_a_stopped_run_keeps_its_finished_tasks_and_resumes_to_an_uninterrupted_runs_metrics(
    experiment_path, uninterrupted, tmp_path, capsys, workers, signum, group
):
    out = tmp_path / "runs"
    process = start(experiment_path, out, workers)
    run = wait_for_tasks(out, 3, process)
    if group:  # a terminal's Ctrl-C reaches the whole process group, the workers included
        os.killpg(process.pid, signum)
    else:
        os.kill(process.pid, signum)
    _, stderr = process.communicate(timeout=300)
    name = signal.Signals(signum).name

    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    said = [line for line in stderr.splitlines() if line.startswith("signalstack run:")]
    assert len(said) == 1 and re.fullmatch(
        rf"signalstack run: run {run.name} interrupted by {name} after \d+ of {TASKS} tasks, which are kept; "
        rf"continue it with: signalstack run --resume {re.escape(str(run))}",
        said[0],
    ), said
    status = json.loads((run / "status.json").read_text())
    assert status["status"] == "interrupted" and status["signal"] == name and status["tasks"] == TASKS
    assert 3 <= status["finished"] < TASKS and len(status["left"]) == TASKS - status["finished"]
    assert len(list((run / "tasks").glob("*.pickle"))) == status["finished"]
    assert not (run / "metrics.json").exists()
    assert not list(run.glob("**/*.partial"))

    assert main(["run", "--resume", str(run), "--workers", str(workers)]) == 0, capsys.readouterr().err
    assert f"resumed with {status['finished']} finished" in (run / "run.log").read_text()
    metrics = json.loads((run / "metrics.json").read_text())
    plain = json.loads((uninterrupted / "metrics.json").read_text())
    assert comparable(metrics) == comparable(plain)
    assert metrics["run"]["resumes"] == 1 and metrics["run"]["id"] == run.name
    pd.testing.assert_frame_equal(pd.read_csv(run / "predictions.csv"), pd.read_csv(uninterrupted / "predictions.csv"))
    assert sorted(p.name for p in (run / "models").glob("*.onnx")) == sorted(
        p.name for p in (uninterrupted / "models").glob("*.onnx")
    )
    assert json.loads((run / "status.json").read_text())["status"] == "complete" and not (run / "tasks").exists()
    assert main(["run", "--resume", str(run)]) == 1
    assert "the run is complete (metrics.json written): nothing to resume" in capsys.readouterr().err


def test_a_killed_run_resumes_only_with_the_experiment_and_the_data_it_began_with(
    experiment_path, uninterrupted, tmp_path, capsys
):
    out = tmp_path / "runs"
    process = start(experiment_path, out, 1)
    run = wait_for_tasks(out, 1, process)
    process.kill()  # SIGKILL: no handler runs, the kept tasks are all that is left
    process.communicate(timeout=60)
    assert json.loads((run / "status.json").read_text())["status"] == "running"

    bars_file = experiment_path.parent / "bars.csv"
    original = bars_file.read_text()
    bars = pd.read_csv(bars_file, index_col=0)
    edited = bars.copy()
    edited.iloc[700, edited.columns.get_loc("volume")] += 1  # one bar, one number
    edited.to_csv(bars_file)
    try:
        assert main(["run", "--resume", str(run)]) == 1
        (err,) = capsys.readouterr().err.strip().splitlines()
        assert re.fullmatch(
            rf"signalstack run: error: {re.escape(str(run))}: the bars changed since the run began "
            r"\(fingerprint \w+, expected \w+\): start a new run instead",
            err,
        ), err
    finally:
        bars_file.write_text(original)

    yaml_file = run / "experiment.yaml"
    written = yaml_file.read_text()
    yaml_file.write_text(written.replace("seeds: 2", "seeds: 3"))
    assert main(["run", "--resume", str(run)]) == 1
    assert "experiment.yaml changed since the run began" in capsys.readouterr().err
    yaml_file.write_text(written)

    assert main(["run", "--resume", str(run), "--seeds", "3"]) == 1
    assert "expected no EXP.yaml, --seeds or --mlflow beside it" in capsys.readouterr().err
    assert main(["run", "--resume", str(run), "--mlflow", "sqlite:///never-made.db"]) == 1
    assert "expected no EXP.yaml, --seeds or --mlflow beside it" in capsys.readouterr().err
    assert main(["run", "--resume", str(run)]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert comparable(metrics) == comparable(json.loads((uninterrupted / "metrics.json").read_text()))
