"""`signalstack tune`: the search section, a study that writes its table, plots and best experiment and resumes
from its storage, pruning fed by the training loop, an objective that never reads a test-period bar, the same
trials from the same seed, and a study stopped by Ctrl-C that keeps what finished."""

import math
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
import yaml

from signalstack.cli import main
from signalstack.core.bars import load_bars
from signalstack.core.errors import SettingsError
from signalstack.models.config import TrainConfig
from signalstack.models.train import train
from signalstack.research.experiment import load_experiment, parse_experiment
from signalstack.research.search import Param
from signalstack.research.tune import TuneError, apply_params, open_storage, tune, validation_loss
from signalstack.research.walkforward import fold_dataset, plan_folds, sample_windows

from .support import TINY, ar1_bars, write_experiment

SPACE = {
    "trials": 3,
    "startup": 1,
    "params": {"hidden": [2, 6], "lr": [0.001, 0.05, "log"], "optimizer": ["adam", "sgd"]},
}
"""A space of three kinds: an integer range, a log-scale range, choices."""

QUICK = {"epochs": 2, "lr": 0.01, "batch_size": 64}


def quiet():
    optuna.logging.set_verbosity(optuna.logging.WARNING)


def test_the_search_section_parses_round_trips_and_maps_names_to_their_places():
    doc = {
        "data": {"path": "sample:sp500"},
        **TINY,
        "search": {
            "trials": 7,
            "folds": 2,
            "params": {
                "window": [20, 120],
                "hidden": [16, 256, "log"],
                "dropout": [0.0, 0.5],
                "optimizer": ["adam", "sgd"],
                "batch_size": [32, 64, 128],
                "lr": {"choices": [0.01, 0.1]},
            },
        },
    }
    experiment = parse_experiment(doc)
    search = experiment.search
    assert (search.trials, search.folds, search.pruner, search.startup) == (7, 2, "median", 5)
    params = {name: (p.low, p.high, p.log, p.integer) for name, p in search.params.items()}
    assert params["window"] == (20, 120, False, True) and params["hidden"] == (16, 256, True, True)
    assert params["dropout"] == (0.0, 0.5, False, False) and search.params["dropout"] == Param.model_validate([0, 0.5])
    assert search.params["batch_size"].choices == (32, 64, 128) and search.params["lr"].choices == (0.01, 0.1)
    again = parse_experiment(yaml.safe_load(experiment.to_yaml()))
    assert again == experiment and again.digest == experiment.digest
    assert "search" not in parse_experiment({"data": {"path": "sample:sp500"}}).to_dict()  # old digests stay

    tuned = apply_params(
        experiment, {"window": 33, "hidden": 64, "dropout": 0.25, "lr": 0.1, "optimizer": "sgd", "batch_size": 32}
    )
    assert tuned.window == 33 and (tuned.train.lr, tuned.train.optimizer, tuned.train.batch_size) == (0.1, "sgd", 32)
    assert tuned.model.params["hidden"] == (64,) and tuned.model.params["dropout"] == 0.25  # TINY has one layer
    two = apply_params(parse_experiment({"data": {"path": "sample:sp500"}}), {"hidden": 8})
    assert two.model.params["hidden"] == (8, 8)  # lstm's default: two layers


@pytest.mark.parametrize(
    "search, message",
    [
        (
            {"params": {"lr": [0.001, 0.1]}, "trails": 3},
            re.escape(
                "search.trails: unknown key (did you mean 'trials'? expected one of trials, folds, seed, pruner, "
                "startup, params)"
            ),
        ),
        (
            {"params": {"hiden": [4, 8]}},
            re.escape(
                "search.params.hiden: unknown key (did you mean 'hidden'? expected one of window, epochs, batch_size, "
                "lr, optimizer, weight_decay, patience, clip_norm, hidden, dropout"
            ),
        ),
        ({"params": {}}, "search.params: {}, expected a mapping"),
        ({"params": {"lr": [0.1, 0.01]}}, r"search.params.lr: \[0.1, 0.01\], expected low < high"),
        ({"params": {"lr": [0.0, 0.1, "log"]}}, "expected low > 0 on a log scale"),
        ({"params": {"window": [10.0, 50]}}, "search.params.window: .*expected integer bounds"),
        ({"params": {"optimizer": ["adam", "rmsprop"]}}, "expected choices among adam, sgd"),
        ({"params": {"lr": 0.01}}, r"search.params.lr: 0.01, expected \[low, high\]"),
        ({"params": {"lr": {"choices": []}}}, r"search.params.lr: {'choices': \[\]}, expected a non-empty list"),
        (
            {"params": {"lr": [0.001, 0.1]}, "pruner": "hyperband"},
            "search.pruner: 'hyperband', expected one of 'median'",
        ),
        ({"params": {"lr": [0.001, 0.1]}, "trials": 0}, "search.trials: 0, expected >= 1"),
    ],
)
def test_a_bad_search_section_is_an_error_naming_the_key_and_what_was_expected(search, message):
    with pytest.raises(SettingsError, match=message):
        parse_experiment({"data": {"path": "sample:sp500"}, "search": search}, source="exp.yaml")


def test_a_study_writes_its_table_plots_and_best_experiment_and_resumes_from_its_storage(tmp_path, capsys):
    quiet()
    path = write_experiment(tmp_path, ar1_bars(900, 0.3, seed=3), train=QUICK, search=SPACE)
    out = tmp_path / "tune"
    assert main(["tune", str(path), "--out", str(out)]) == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    assert "study 'exp' in sqlite:///" in printed and "best: trial" in printed
    first = pd.read_csv(out / "trials.csv")
    assert list(first["number"]) == [0, 1, 2] and (out / "study.db").is_file()
    assert {"number", "state", "value", "duration_s", "param_hidden", "param_lr", "param_optimizer"} <= set(first)
    assert (first["duration_s"] > 0).all() and set(first["state"]) <= {"COMPLETE", "PRUNED"}
    for name in ("history", "slice"):
        assert (out / "plots" / f"{name}.png").stat().st_size > 1000, name
    complete = first[first["state"] == "COMPLETE"]
    if len(complete) >= 2:  # parameter importances need two complete trials (the sampler varies every param)
        assert (out / "plots" / "importances.png").is_file()
    else:
        assert "plot importances skipped" in printed

    best = load_experiment(out / "best.yaml")  # what `signalstack run` reads
    row = complete.loc[complete["value"].idxmin()]
    assert best.search is None and best.data.path == str(tmp_path / "bars.csv")
    assert best.model.params["hidden"] == (row["param_hidden"],)
    assert math.isclose(best.train.lr, row["param_lr"]) and best.train.optimizer == row["param_optimizer"]

    assert main(["tune", str(path), "--out", str(out), "--trials", "5"]) == 0  # the same storage and study name
    again = pd.read_csv(out / "trials.csv")
    assert list(again["number"]) == [0, 1, 2, 3, 4]
    pd.testing.assert_frame_equal(again.iloc[:3], first, check_dtype=False)  # resumed, not restarted
    assert not set(again["param_lr"].iloc[3:]) & set(first["param_lr"])  # new draws, not the first ones again
    assert main(["tune", str(path), "--out", str(out), "--trials", "5"]) == 0  # a finished study runs no trial
    assert len(pd.read_csv(out / "trials.csv")) == 5
    assert "5 trial(s)" in capsys.readouterr().out


def test_a_journal_storage_is_shared_by_name_and_a_bad_trial_is_pruned_by_the_median_pruner(tmp_path):
    quiet()
    search = {"trials": 2, "startup": 1, "params": {"lr": [0.001, 1000.0, "log"]}}
    experiment = load_experiment(write_experiment(tmp_path, ar1_bars(900, 0.3, seed=4), train=QUICK, search=search))
    storage = f"journal:{tmp_path / 'journal.log'}"
    study = optuna.create_study(storage=open_storage(storage), study_name="s", direction="minimize")
    study.enqueue_trial({"lr": 0.01})
    study.enqueue_trial({"lr": 1000.0})  # a deliberately bad learning rate
    result = tune(experiment, tmp_path / "out", storage=storage, study_name="s")
    states = [t.state for t in result.study.trials]
    assert states == [optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED]
    pruned = result.study.trials[1]
    assert list(pruned.intermediate_values) == [1]  # stopped after its first epoch
    assert pruned.intermediate_values[1] > result.study.trials[0].intermediate_values[1]
    assert "importances" in result.skipped and (tmp_path / "out" / "best.yaml").is_file()


def test_the_epoch_callback_sees_each_validation_loss_changes_nothing_and_its_exception_propagates(tmp_path):
    experiment = load_experiment(write_experiment(tmp_path, ar1_bars(900, 0.3, seed=5)))
    features, labels = experiment.features.spec, experiment.labels.spec
    windows = sample_windows(load_bars(tmp_path / "bars.csv"), features, labels, experiment.window)
    fold = plan_folds(experiment, len(windows))[0]
    dataset = fold_dataset(
        windows, fold, features=features, labels=labels, window=experiment.window, embargo=experiment.embargo
    )
    config = TrainConfig(epochs=2, batch_size=64, lr=0.01, progress=False)
    params = dict(experiment.model.params)
    seen = []
    plain = train(dataset, "lstm", config, **params)
    watched = train(dataset, "lstm", config, on_epoch=lambda epoch, loss: seen.append((epoch, loss)), **params)
    assert (
        seen
        == [(h["epoch"], h["val_loss"]) for h in plain.history]
        == [(h["epoch"], h["val_loss"]) for h in watched.history]
    )
    assert watched.metrics == plain.metrics

    def prune(epoch, loss):
        raise optuna.TrialPruned(f"epoch {epoch}")

    with pytest.raises(optuna.TrialPruned, match="epoch 1"):
        train(dataset, "lstm", config, on_epoch=prune, **params)


def _rewrite(bars: pd.DataFrame, start: pd.Timestamp, seed: int) -> pd.DataFrame:
    """Every bar from `start` on scaled by its own random factor (a valid bar stays valid)."""
    changed = bars.copy()
    later = changed.index >= start
    factor = np.exp(np.random.default_rng(seed).normal(0, 0.05, later.sum()))
    for column in ("open", "high", "low", "close"):
        changed.loc[later, column] = changed.loc[later, column] * factor
    return changed


def test_the_objective_never_reads_a_test_period_bar(tmp_path):
    bars = ar1_bars(900, 0.3, seed=6)
    experiment = load_experiment(
        write_experiment(tmp_path, bars, train={**QUICK, "epochs": 1}, walk_forward={"train": 300, "test": 150})
    )
    windows = sample_windows(bars, experiment.features.spec, experiment.labels.spec, experiment.window)
    folds = plan_folds(experiment, len(windows))
    assert len(folds) == 3
    first_test = windows.times[folds[0].test.start]  # every fold's test period is at or after it
    value, rows = validation_loss(experiment, bars)
    assert [r["fold"] for r in rows] == [0] and math.isfinite(value)
    assert validation_loss(experiment, _rewrite(bars, first_test, seed=1))[0] == value

    # With every fold, no fold reads its own test period: rewriting the last one changes nothing either.
    value_all, rows_all = validation_loss(experiment, bars, folds=3)
    assert [r["fold"] for r in rows_all] == [0, 1, 2]
    last_test = windows.times[folds[-1].test.start]
    assert validation_loss(experiment, _rewrite(bars, last_test, seed=2), folds=3)[0] == value_all

    # The check can fail: rewriting the validation tail's bars moves the objective.
    val_start = windows.times[folds[0].val.start]
    assert validation_loss(experiment, _rewrite(bars, val_start, seed=3))[0] != value


def test_tune_names_a_missing_search_section(tmp_path, capsys):
    path = write_experiment(tmp_path, ar1_bars(700, 0.3, seed=7))
    assert main(["tune", str(path), "--out", str(tmp_path / "t")]) == 1
    assert re.search(r"signalstack tune: error: .*no search section", capsys.readouterr().err)


def test_tune_refuses_a_layout_whose_samples_it_cannot_search(tmp_path):
    for i, name in enumerate("AB"):
        ar1_bars(300, 0.0, seed=i).to_csv(tmp_path / f"{name}.csv")
    experiment = parse_experiment(
        {"data": {"path": ["A.csv", "B.csv"]}, "search": {"params": {"lr": [0.001, 0.1]}}}, base=tmp_path
    )
    with pytest.raises(TuneError, match="reads .* windows of every symbol of a panel: tune searches windows of one"):
        tune(experiment, tmp_path / "out")


def _tune_process(path, out, *extra):
    return subprocess.Popen(
        [sys.executable, "-m", "signalstack.cli", "tune", str(path), "--out", str(out), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


@pytest.mark.slow
def test_two_fresh_studies_with_the_same_file_and_seed_draw_the_same_trials(tmp_path):
    path = write_experiment(
        tmp_path,
        ar1_bars(900, 0.3, seed=3),
        train={**QUICK, "epochs": 1},
        search={**SPACE, "trials": 2, "pruner": "none"},
    )
    tables = []
    for name in ("a", "b"):  # separate processes, as two sessions are
        storage = f"sqlite:///{tmp_path / name}.db"
        process = _tune_process(path, tmp_path / name, "--storage", storage)
        _, err = process.communicate(timeout=600)
        assert process.returncode == 0, err
        tables.append(pd.read_csv(tmp_path / name / "trials.csv"))
    params = [table.filter(like="param_") for table in tables]
    assert len(params[0]) == 2
    pd.testing.assert_frame_equal(params[0], params[1])


def _trial_states(database: Path, name: str) -> list[str]:
    """The study's trial states so far, read through a read-only connection (opening it as an Optuna storage would
    race the tuning process to create the schema); none while the database or the study does not exist yet."""
    try:
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
            rows = db.execute(
                "SELECT t.state FROM trials t JOIN studies s ON s.study_id = t.study_id"
                " WHERE s.study_name = ? ORDER BY t.number",
                (name,),
            ).fetchall()
    except sqlite3.OperationalError:  # no file yet, or its tables not yet made, or locked by the writer
        return []
    return [state for (state,) in rows]


@pytest.mark.slow
def test_a_study_stopped_by_sigint_keeps_its_finished_trials_and_goes_on_without_counting_the_cut_one(tmp_path, capsys):
    quiet()
    path = write_experiment(
        tmp_path,
        ar1_bars(900, 0.3, seed=3),
        train={**QUICK, "epochs": 30, "patience": 30},  # trials of seconds: the signal lands inside one
        search={**SPACE, "trials": 3, "pruner": "none"},
    )
    out = tmp_path / "tune"
    process = _tune_process(path, out)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and process.poll() is None:  # a trial finished, the next one running
        states = _trial_states(out / "study.db", "exp")
        if "COMPLETE" in states and states[-1] == "RUNNING":
            break
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGINT)
    stdout, stderr = process.communicate(timeout=300)

    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr
    assert [line for line in stderr.splitlines() if line.startswith("signalstack tune:")] == [
        "signalstack tune: interrupted by SIGINT: the trial it cut short is not counted; the same command continues "
        "the study"
    ]
    first = pd.read_csv(out / "trials.csv")
    assert list(first["state"]).count("INTERRUPTED") == 1 and first["state"].iloc[-1] == "INTERRUPTED"
    kept = first[first["state"] != "INTERRUPTED"]
    assert len(kept) >= 1 and (out / "best.yaml").is_file() and "best: trial" in stdout

    assert main(["tune", str(path), "--out", str(out)]) == 0  # the same storage: the study goes on
    again = pd.read_csv(out / "trials.csv")
    counted = again[again["state"] != "INTERRUPTED"]
    assert len(counted) == 3 and list(again["number"]) == list(range(len(first) + 3 - len(kept)))
    pd.testing.assert_frame_equal(again.iloc[: len(first)], first, check_dtype=False)
    assert "3 complete" in capsys.readouterr().out
