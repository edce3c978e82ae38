"""Scale-out on Ray: the same tasks as Ray tasks on a local Ray instance give the same run folder as a run in
this process; the command takes the address from --ray-address or RAY_ADDRESS; without Ray, one line names
the extra. Ray is an extra (`signalstack[ray]`): the tests that need it skip, saying so, when it is absent."""

from __future__ import annotations

import ast
import json
import operator
import sys
from pathlib import Path

import pandas as pd
import pytest

from signalstack.cli import main
from signalstack.core.errors import SignalstackError
from signalstack.research.executors import RayNotInstalled, run_all
from signalstack.research.experiment import load_experiment
from signalstack.research.run import run_experiment

from .support import ar1_bars, local_ray, time_limit, write_experiment

NO_RAY = "Ray is not installed (pip install 'signalstack[ray]'; CI installs it)"
LIMIT = 120
"""Seconds any test here may run (Ray start-up included) before it fails with TimeoutError."""


@pytest.fixture(autouse=True)
def bounded_in_time():
    with time_limit(LIMIT):
        yield


@pytest.fixture(scope="module")
def ray_session():
    with local_ray(NO_RAY) as ray:
        yield ray


@pytest.mark.slow  # trains real models, here and on Ray
def test_a_run_on_ray_writes_the_same_folds_and_predictions_as_a_run_in_this_process(tmp_path, ray_session):
    path = write_experiment(tmp_path, ar1_bars(1000, 0.3, seed=7), seeds=2, surrogates={"n": 1})
    experiment = load_experiment(path)
    here = run_experiment(experiment, tmp_path / "here", workers=1)
    on_ray = run_experiment(experiment, tmp_path / "ray", ray_address="local")  # the session the fixture started

    a, b = (json.loads((r.path / "metrics.json").read_text()) for r in (here, on_ray))
    assert len(b["folds"]) == 2 and len(b["surrogate_runs"]) == 1 and b["baseline_folds"]
    for key in ("folds", "baseline_folds", "surrogate_runs", "model", "baselines", "surrogates"):
        assert b[key] == a[key], key
    assert (a["run"]["ray_address"], b["run"]["ray_address"]) == (None, "local")
    pd.testing.assert_frame_equal(
        pd.read_csv(on_ray.path / "predictions.csv"), pd.read_csv(here.path / "predictions.csv")
    )
    log = (on_ray.path / "run.log").read_text()
    assert "tasks on Ray at local" in log and "[5/5]" in log and "done in" in log
    assert "signalstack.plugin.backtest: backtest of surrogate 0" in log  # logged in a Ray worker, again here


@pytest.mark.parametrize(
    ("workers", "ray_address"), [(1, None), (2, None), (1, "local")], ids=["here", "processes", "ray"]
)
def test_every_executor_yields_every_result_and_raises_a_task_error_as_itself(workers, ray_address, request):
    ray = request.getfixturevalue("ray_session") if ray_address else None
    found = run_all(operator.truediv, 1.0, [1.0, 2.0, 4.0], workers=workers, ray_address=ray_address)
    assert sorted(found) == [0.25, 0.5, 1.0]
    with pytest.raises(ZeroDivisionError) as raised:
        list(run_all(operator.truediv, 1.0, [1.0, 0.0], workers=workers, ray_address=ray_address))
    if ray:
        assert any("in a Ray task" in note for note in getattr(raised.value, "__notes__", []))
        assert ray.is_initialized()  # the caller's session is left running


def test_the_command_passes_the_ray_address_from_the_flag_or_else_from_the_environment(tmp_path, monkeypatch, capsys):
    path = write_experiment(tmp_path, ar1_bars(600, 0.0, seed=1))

    def fake_run(experiment, out, *, workers, ray_address, progress):
        raise SignalstackError(f"would run on {ray_address} with {workers} worker(s)")

    monkeypatch.setattr("signalstack.research.run.run_experiment", fake_run)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    for argv, environment, said in (
        (["--ray-address", "ray://head:10001"], None, "ray://head:10001"),
        ([], "auto", "auto"),
        (["--ray-address", "local"], "auto", "local"),
        ([], None, "None"),
        ([], "", "None"),
    ):
        if environment is not None:
            monkeypatch.setenv("RAY_ADDRESS", environment)
        assert main(["run", str(path), *argv, "--workers", "2"]) == 1
        assert capsys.readouterr().err == f"signalstack run: error: would run on {said} with 2 worker(s)\n"
        monkeypatch.delenv("RAY_ADDRESS", raising=False)


def test_fold_models_written_in_a_ray_task_come_back_as_bytes_and_land_in_the_run_folder(tmp_path, monkeypatch):
    from signalstack.research import run as runner
    from signalstack.research.layouts import Context, Task, TaskResult

    def fake_task(context, task):
        assert context.models != tmp_path / "models"  # a folder of the worker's own
        (context.models / "fold0_seed0.training").mkdir()
        (context.models / "fold0_seed0.onnx").write_bytes(b"onnx")
        (context.models / "fold0_seed0.training" / "metrics.json").write_text("{}")
        return TaskResult(task, [{"model": "lstm"}], None, 0.0)

    monkeypatch.setattr(runner, "run_task", fake_task)
    result, files = runner.run_task_shipping_models(Context(None, None, None, tmp_path / "models"), Task("model", 0, 0))
    assert result.rows == [{"model": "lstm"}]
    assert files == {"fold0_seed0.onnx": b"onnx", "fold0_seed0.training/metrics.json": b"{}"}
    runner._write_files(tmp_path / "models", files)
    assert (tmp_path / "models" / "fold0_seed0.onnx").read_bytes() == b"onnx"
    assert (tmp_path / "models" / "fold0_seed0.training" / "metrics.json").read_text() == "{}"


def test_without_ray_a_ray_address_fails_in_one_line_naming_the_extra_before_making_a_folder(
    tmp_path, monkeypatch, capsys
):
    path = write_experiment(tmp_path, ar1_bars(600, 0.0, seed=1))
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    code = main(["run", str(path), "--out", str(tmp_path / "runs"), "--ray-address", "auto"])
    err = capsys.readouterr().err
    assert code == 1
    assert err.strip().splitlines() == [
        "signalstack run: error: --ray-address auto: Ray is not installed; pip install 'signalstack[ray]'"
    ]
    assert not (tmp_path / "runs").exists()
    with pytest.raises(RayNotInstalled):
        next(run_all(operator.truediv, 1.0, [1.0], ray_address="local"))


def test_no_module_of_the_research_workflow_or_the_command_line_imports_ray_when_loaded():
    root = Path(__file__).resolve().parents[2]
    for path in sorted((root / "research").glob("*.py")) + sorted((root / "cli").glob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        top = [node for node in tree.body if isinstance(node, ast.Import | ast.ImportFrom)]  # module level only
        names = [alias.name for node in top if isinstance(node, ast.Import) for alias in node.names]
        names += [node.module or "" for node in top if isinstance(node, ast.ImportFrom)]
        assert not [n for n in names if n == "ray" or n.startswith("ray.")], f"{path.name} imports ray when loaded"
