"""`signalstack tune --ray-address`: the study run by Ray Tune (OptunaSearch, ASHA) on a local Ray instance writes
the same outputs, scores trials exactly as the local objective does and never reads a test-period bar; ASHA stops
a bad trial and the study records it as pruned; the address comes from the flag or RAY_ADDRESS; without Ray, one
line names the extra. Ray is an extra (`signalstack[ray]`): the tests that need it skip, saying so, when absent."""

from __future__ import annotations

import math
import sys

import optuna
import pandas as pd
import pytest

from signalstack.cli import main
from signalstack.core.errors import SignalstackError
from signalstack.research.experiment import load_experiment
from signalstack.research.search import Param
from signalstack.research.tune import _suggest, apply_params, distribution, open_storage, validation_loss
from signalstack.research.walkforward import plan_folds, sample_windows

from .support import ar1_bars, local_ray, time_limit, write_experiment
from .test_tune import QUICK, _rewrite

NO_RAY_TUNE = "Ray Tune is not installed (pip install 'signalstack[ray]'; CI installs it)"
LIMIT = 240
"""Seconds any test here may run (Ray Tune's start-up included) before it fails with TimeoutError."""
SPACE = {
    "trials": 3,
    "pruner": "none",
    "params": {"hidden": [2, 6], "lr": [0.001, 0.05, "log"], "optimizer": ["adam", "sgd"]},
}
"""Three kinds of parameter; no early stopping, so every trial runs to its end and has a value to compare."""


@pytest.fixture(autouse=True)
def bounded_in_time():
    with time_limit(LIMIT):
        yield


@pytest.fixture(scope="module")
def ray_session():
    """A local Ray instance of 2 CPUs for the module (the commands find it as this process's session); shut down
    after it, with no process of it left behind."""
    pytest.importorskip("ray.tune", reason=NO_RAY_TUNE, exc_type=ImportError)  # Ray itself included
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with local_ray(NO_RAY_TUNE) as ray:
        yield ray


@pytest.mark.slow  # trains 5 tiny models on Ray, 2 here
def test_a_study_on_ray_writes_the_outputs_scores_as_the_local_objective_and_never_reads_a_test_period_bar(
    tmp_path, ray_session, capsys
):
    bars = ar1_bars(900, 0.3, seed=6)
    path = write_experiment(
        tmp_path / "real", bars, train=QUICK, search=SPACE, walk_forward={"train": 300, "test": 150}
    )
    experiment = load_experiment(path)
    windows = sample_windows(bars, experiment.features.spec, experiment.labels.spec, experiment.window)
    folds = plan_folds(experiment, len(windows))
    first_test = windows.times[folds[0].test.start]  # every fold's test period is at or after it
    changed = write_experiment(
        tmp_path / "changed",
        _rewrite(bars, first_test, seed=1),
        train=QUICK,
        search=SPACE,
        walk_forward={"train": 300, "test": 150},
    )

    out = tmp_path / "tune"
    assert main(["tune", str(path), "--out", str(out), "--ray-address", "local"]) == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    assert "study 'exp' in sqlite:///" in printed and "(trials on Ray at local)" in printed
    table = pd.read_csv(out / "trials.csv")
    assert list(table["number"]) == [0, 1, 2] and list(table["state"]) == ["COMPLETE"] * 3
    assert {"param_hidden", "param_lr", "param_optimizer", "fold_losses", "best_epochs"} <= set(table)
    assert (table["duration_s"] > 0).all() and (out / "study.db").is_file()
    assert (out / "plots" / "history.png").stat().st_size > 1000

    best = load_experiment(out / "best.yaml")  # what `signalstack run` reads
    row = table.loc[table["value"].idxmin()]
    assert best.search is None and best.model.params["hidden"] == (row["param_hidden"],)
    assert math.isclose(best.train.lr, row["param_lr"]) and best.train.optimizer == row["param_optimizer"]

    # A Ray trial's value is the local objective's for its values, to the last bit.
    params = {"hidden": int(row["param_hidden"]), "lr": float(row["param_lr"]), "optimizer": row["param_optimizer"]}
    here, _ = validation_loss(apply_params(experiment, params), bars)
    assert here == row["value"]

    # The same study on bars rewritten from the first test period on: the same draws, the same values.
    again = tmp_path / "tune-changed"
    assert main(["tune", str(changed), "--out", str(again), "--ray-address", "local", "--trials", "2"]) == 0
    pd.testing.assert_frame_equal(
        pd.read_csv(again / "trials.csv").drop(columns="duration_s"), table.iloc[:2].drop(columns="duration_s")
    )

    # The check can fail: rewriting from the validation tail on moves the objective.
    val_start = windows.times[folds[0].val.start]
    assert validation_loss(apply_params(experiment, params), _rewrite(bars, val_start, seed=3))[0] != here


@pytest.mark.slow  # trains 2 tiny models on Ray (a third trial fails before training)
def test_asha_stops_a_bad_trial_the_study_records_it_as_pruned_and_a_trial_that_raises_as_failed(
    tmp_path, ray_session, caplog
):
    from signalstack.research.ray_tune import tune_on_ray

    search = {"trials": 3, "params": {"lr": [0.001, 1000.0, "log"], "window": [5, 5000]}}  # pruner: median
    experiment = load_experiment(write_experiment(tmp_path, ar1_bars(900, 0.3, seed=4), train=QUICK, search=search))
    storage = f"journal:{tmp_path / 'journal.log'}"
    study = optuna.create_study(storage=open_storage(storage), study_name="s", direction="minimize")
    queued = [
        {"lr": 0.01, "window": 10},
        {"lr": 1000.0, "window": 10},  # a deliberately bad learning rate
        {"lr": 0.01, "window": 5000},
    ]  # more than the bars have: the objective raises ValueError
    for params in queued:
        study.enqueue_trial(params)
    with caplog.at_level("INFO", logger="signalstack"):
        result = tune_on_ray(
            experiment, tmp_path / "out", ray_address="local", storage=storage, study_name="s", concurrent=1
        )  # one at a time: the good trial reaches each rung first
    # The study that was there is the one resumed: its queued trials ran, in order.
    assert [t.params for t in result.study.trials] == queued
    good, bad, _ = result.study.trials
    assert [t.state.name for t in result.study.trials] == ["COMPLETE", "PRUNED", "FAIL"]
    assert (
        "a trial failed on Ray: signalstack.core.errors.InvalidInput: 802 feature rows after warm-up: expected "
        "at least window=5000"
    ) in caplog.text and "trial 2 fail {'lr': 0.01, 'window': 5000}" in caplog.text
    assert list(good.intermediate_values) == [1, 2] and good.value == min(good.intermediate_values.values())
    assert good.user_attrs["fold_losses"] == [round(good.value, 6)]
    assert list(bad.intermediate_values) == [1] and bad.intermediate_values[1] > good.intermediate_values[1]
    assert list(result.table["state"]) == ["COMPLETE", "PRUNED", "FAIL"]
    assert load_experiment(tmp_path / "out" / "best.yaml").train.lr == 0.01


def test_ray_trials_draw_from_the_distributions_the_local_study_draws_from():
    study = optuna.create_study()
    trial = study.ask()
    params = {
        name: Param.model_validate(spec)
        for name, spec in {
            "hidden": [2, 6],
            "units": [8, 64, "log"],
            "lr": [0.001, 0.05, "log"],
            "dropout": [0.0, 0.5],
            "optimizer": ["adam", "sgd"],
        }.items()
    }
    for name, param in params.items():
        _suggest(trial, name, param)
    assert trial.distributions == {name: distribution(p) for name, p in params.items()}


def test_the_command_takes_the_ray_address_from_the_flag_or_else_from_the_environment(tmp_path, monkeypatch, capsys):
    path = write_experiment(tmp_path, ar1_bars(600, 0.0, seed=1), search=SPACE)

    def on_ray(experiment, out, *, ray_address, trials, storage, study_name):
        raise SignalstackError(f"would tune on Ray at {ray_address}")

    def here(experiment, out, *, trials, storage, study_name):
        raise SignalstackError("would tune here")

    monkeypatch.setattr("signalstack.research.ray_tune.tune_on_ray", on_ray)
    monkeypatch.setattr("signalstack.research.tune.tune", here)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    for argv, environment, said in (
        (["--ray-address", "ray://head:10001"], None, "on Ray at ray://head:10001"),
        ([], "auto", "on Ray at auto"),
        (["--ray-address", "local"], "auto", "on Ray at local"),
        ([], None, "here"),
        ([], "", "here"),
    ):
        if environment is not None:
            monkeypatch.setenv("RAY_ADDRESS", environment)
        assert main(["tune", str(path), *argv]) == 1
        assert capsys.readouterr().err == f"signalstack tune: error: would tune {said}\n"
        monkeypatch.delenv("RAY_ADDRESS", raising=False)


def test_through_ray_client_a_file_storage_is_refused_before_connecting(tmp_path, capsys):
    pytest.importorskip("ray.tune", reason=NO_RAY_TUNE, exc_type=ImportError)
    path = write_experiment(tmp_path, ar1_bars(600, 0.0, seed=1), search=SPACE)
    out = tmp_path / "tune"
    assert main(["tune", str(path), "--out", str(out), "--ray-address", "ray://head:10001"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(
        "signalstack tune: error: --ray-address ray://head:10001: through Ray Client the Tune loop "
        f"runs on the cluster's head node, which cannot use this machine's sqlite:///{out.resolve()}"
    )
    assert "expected --storage a database URL both reach" in err and not out.exists()


@pytest.mark.parametrize("missing", ["ray", "ray.tune"])
def test_without_ray_tune_a_ray_address_fails_in_one_line_naming_the_extra(tmp_path, monkeypatch, capsys, missing):
    path = write_experiment(tmp_path, ar1_bars(600, 0.0, seed=1), search=SPACE)
    monkeypatch.setitem(sys.modules, missing, None)  # `import ray` / `from ray import tune` raises ImportError
    code = main(["tune", str(path), "--out", str(tmp_path / "tune"), "--ray-address", "auto"])
    what = "Ray" if missing == "ray" else "Ray Tune"
    assert code == 1
    assert capsys.readouterr().err.strip().splitlines() == [
        f"signalstack tune: error: --ray-address auto: {what} is not installed; pip install 'signalstack[ray]'"
    ]
    assert not (tmp_path / "tune").exists()
