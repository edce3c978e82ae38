"""The research workflow end to end, on bars the tests make: chance on a random walk, skill on a planted
dependence, the run folder, the command line, and reruns that reproduce the numbers."""

import fcntl
import json
import math
import os
import pty
import re
import struct
import subprocess
import sys
import termios

import numpy as np
import pandas as pd
import pytest

from signalstack.cli import main
from signalstack.core.bars import load_bars
from signalstack.core.fingerprint import data_digest
from signalstack.core.model import OnnxModel
from signalstack.research.experiment import load_experiment
from signalstack.research.run import run_digest, run_experiment
from signalstack.research.summary import verdicts

from .support import TINY, ar1_bars, write_experiment

pytestmark = pytest.mark.slow  # trains real models end to end

SIGMAS = 4
"""How far from chance a result on pure noise may fall: four standard errors of the statistic."""


def out_of_sample_count(metrics: dict) -> int:
    """Out-of-sample samples per seed: the folds' test periods together."""
    return sum(1 for row in metrics["folds"] if row["seed"] == 0) * TINY["walk_forward"]["test"]


@pytest.fixture(scope="module")
def random_walk_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("random_walk")
    path = write_experiment(
        folder,
        ar1_bars(1600, 0.0, seed=11),
        seeds=2,
        surrogates={"n": 3},
        baselines=["majority", "logistic", "gbm", "buy_and_hold"],
    )
    return run_experiment(load_experiment(path), folder / "runs")


def test_on_a_random_walk_the_workflow_reports_chance_level_skill(random_walk_run):
    metrics = random_walk_run.metrics
    n = out_of_sample_count(metrics)
    assert metrics["run"]["folds"] == 3 and n == 900
    auc_band, ic_band = SIGMAS / math.sqrt(3 * n), SIGMAS / math.sqrt(n)  # standard errors under no signal
    for name in ("model", "logistic", "gbm"):
        found = metrics["model"] if name == "model" else metrics["baselines"][name]
        assert abs(found["roc_auc"]["mean"] - 0.5) < auc_band, (name, found["roc_auc"])
        assert abs(found["balanced_accuracy"]["mean"] - 0.5) < SIGMAS * 0.5 / math.sqrt(n), (name, found)
        assert abs(found["ic"]["mean"]) < ic_band and abs(found["rank_ic"]["mean"]) < ic_band, (name, found)
    assert metrics["baselines"]["majority"]["roc_auc"]["mean"] == 0.5
    for name in ("roc_auc", "ic", "rank_ic"):
        assert not metrics["surrogates"][name]["significant"], metrics["surrogates"][name]
        assert metrics["surrogates"][name]["n"] == 3
    summary = (random_walk_run.path / "report" / "summary.txt").read_text()
    assert "roc_auc" in summary and "INDISTINGUISHABLE FROM CHANCE" in summary


def test_a_planted_dependence_is_found_and_stands_out_from_its_surrogates(tmp_path):
    path = write_experiment(
        tmp_path, ar1_bars(1600, 0.5, seed=11), seeds=1, surrogates={"n": 3}, baselines=["majority", "logistic"]
    )
    metrics = run_experiment(load_experiment(path), tmp_path / "runs").metrics
    n = out_of_sample_count(metrics)
    assert metrics["model"]["roc_auc"]["mean"] > 0.5 + SIGMAS / math.sqrt(3 * n), metrics["model"]["roc_auc"]
    assert metrics["model"]["ic"]["mean"] > SIGMAS / math.sqrt(n), metrics["model"]["ic"]
    assert metrics["baselines"]["logistic"]["roc_auc"]["mean"] > 0.6  # a linear model on ret_1 sees it too
    for name in ("roc_auc", "ic", "rank_ic"):
        assert metrics["surrogates"][name]["percentile"] == 100, metrics["surrogates"][name]
        assert metrics["surrogates"][name]["mean"] < metrics["model"][name]["mean"]


def test_the_command_runs_tasks_in_processes_and_the_experiment_copy_reruns_to_the_same_metrics(tmp_path, capsys):
    path = write_experiment(tmp_path, ar1_bars(1000, 0.3, seed=5))
    code = main(["run", str(path), "--out", str(tmp_path / "runs"), "--workers", "2", "--seeds", "2"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "roc_auc" in out and "majority" in out and "no surrogates ran" in out and "run folder:" in out
    assert "task/s" not in err and "folds 2/2" not in err  # stderr is not a terminal: no progress bar

    (run,) = (tmp_path / "runs").iterdir()
    for name in (
        "experiment.yaml",
        "metrics.json",
        "predictions.csv",
        "run.log",
        "report/index.html",
        "report/folds.csv",
        "report/summary.txt",
    ):
        assert (run / name).is_file(), name
    assert "done in" in (run / "run.log").read_text()
    metrics = json.loads((run / "metrics.json").read_text())
    assert set(metrics) >= {"run", "model", "baselines", "surrogates", "folds"}
    assert metrics["model"]["roc_auc"].keys() == {"mean", "std", "n", "undefined"}
    assert metrics["model"]["roc_auc"]["n"] == 2 and metrics["model"]["sharpe"].keys() == {
        "mean",
        "std",
        "n",
        "undefined",
        "no_trade",
    }
    assert [(row["fold"], row["seed"]) for row in metrics["folds"]] == [(0, 0), (0, 1)]
    experiment = load_experiment(run / "experiment.yaml")
    assert experiment.seeds == 2 and metrics["run"]["experiment_digest"] == experiment.digest
    assert run.name.endswith(metrics["run"]["digest"])

    again = run_experiment(experiment, tmp_path / "again", workers=1)
    rerun = json.loads((again.path / "metrics.json").read_text())
    assert rerun["folds"] == metrics["folds"] and rerun["run"]["digest"] == metrics["run"]["digest"]
    assert rerun["model"] == metrics["model"] and rerun["baselines"] == metrics["baselines"]
    pd.testing.assert_frame_equal(pd.read_csv(again.path / "predictions.csv"), pd.read_csv(run / "predictions.csv"))


def test_folds_and_surrogates_that_never_trade_count_as_flat_with_sharpe_zero(tmp_path):
    path = write_experiment(
        tmp_path, ar1_bars(1000, 0.3, seed=7), seeds=2, surrogates={"n": 2}, backtest={"buy_threshold": 1.0}
    )  # p_up never reaches 1: no fold buys
    metrics = run_experiment(load_experiment(path), tmp_path / "runs").metrics
    n = metrics["run"]["folds"] * metrics["run"]["seeds"]
    assert metrics["model"]["sharpe"] == {"mean": 0.0, "std": 0.0, "n": n, "undefined": 0, "no_trade": n}
    assert metrics["model"]["total_return"]["mean"] == 0.0 and metrics["model"]["total_return"]["no_trade"] == n
    assert all(row["fills"] == 0 and row["sharpe"] == 0.0 for row in metrics["folds"] + metrics["surrogate_folds"])
    sharpe = metrics["surrogates"]["sharpe"]
    assert (sharpe["n"], sharpe["undefined"], sharpe["no_trade"]) == (2, 0, 2)
    (line,) = [v for v in verdicts(metrics) if v.startswith("sharpe")]
    assert line.startswith("sharpe 0.0000: INDISTINGUISHABLE FROM CHANCE (percentile 50 among 2 random_walk")


def test_each_fold_model_is_exported_with_its_card_and_reproduces_its_out_of_sample_predictions(tmp_path):
    path = write_experiment(tmp_path, ar1_bars(1000, 0.3, seed=6), export=True, baselines=[])
    run = run_experiment(load_experiment(path), tmp_path / "runs").path
    metrics = json.loads((run / "metrics.json").read_text())
    (row,) = metrics["folds"]
    bars = load_bars(tmp_path / "bars.csv")
    train_end, val_start, val_end, test_start = (
        bars.index.get_loc(pd.Timestamp(t)) for t in (row["train"][1], *row["val"], row["test"][0])
    )
    assert val_start - train_end == 2 and test_start - val_end == 2  # an embargo of the horizon (1) before each
    model = OnnxModel(run / "models" / "fold0_seed0.onnx", device="cpu")
    card = model.card
    assert (list(card.train_range), list(card.val_range), list(card.test_range)) == (
        row["train"],
        row["val"],
        row["test"],
    )
    assert card.embargo == 1 and card.extra["seed"] == 0
    assert card.data_digest == metrics["run"]["data_digest"] == data_digest(bars)
    assert metrics["run"]["digest"] == run_digest(metrics["run"]["experiment_digest"], data_digest(bars))
    edited = bars.copy()
    edited.iloc[500, edited.columns.get_loc("volume")] += 1
    assert run_digest(metrics["run"]["experiment_digest"], data_digest(edited)) != metrics["run"]["digest"]
    predictions = pd.read_csv(run / "predictions.csv", index_col="time", parse_dates=True)
    served = model.predict_series(bars).reindex(predictions.index)
    np.testing.assert_allclose(served[["down", "up"]], predictions[["down", "up"]], atol=1e-5)


def _stderr_on_a_terminal(argv: list[str]) -> str:
    """What `signalstack ARGV` writes to stderr when stderr is a terminal (a pseudo-terminal here)."""
    primary, secondary = pty.openpty()
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 160, 0, 0))  # a new one has 0 columns
    process = subprocess.Popen(
        [sys.executable, "-m", "signalstack.cli", *argv], stdout=subprocess.DEVNULL, stderr=secondary
    )
    os.close(secondary)
    chunks = []
    while True:
        try:
            chunk = os.read(primary, 4096)
        except OSError:  # the terminal closed with the process
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(primary)
    assert process.wait(timeout=600) == 0
    return b"".join(chunks).decode(errors="replace")


def test_the_command_shows_a_progress_bar_on_a_terminal_unless_quiet(tmp_path):
    path = write_experiment(tmp_path, ar1_bars(1000, 0.3, seed=9), baselines=[])
    shown = _stderr_on_a_terminal(["run", str(path), "--out", str(tmp_path / "runs")])
    assert re.search(r"run: 100%.*1/1.*folds 1/1", shown), shown[-2000:]
    quiet = _stderr_on_a_terminal(["run", str(path), "--out", str(tmp_path / "runs"), "--quiet"])
    assert "run: " in quiet and "100%" not in quiet and "folds 1/1" not in quiet  # the log lines, no bar


def test_the_command_names_a_missing_experiment_file(tmp_path, capsys):
    assert main(["run", str(tmp_path / "missing.yaml")]) == 1
    assert "signalstack run: error: " in capsys.readouterr().err
