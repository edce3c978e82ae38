"""Tracking in MLflow: the `tracking:` section and `--mlflow`, a run and a study logged to a real MLflow tracking
server (SQLite backend, on 127.0.0.1) and read back with MLflow's own client, and the one line without MLflow."""

import json
import logging
import math
import re
import sys
from pathlib import Path

import optuna
import pandas as pd
import pytest
import yaml

from signalstack.cli import main
from signalstack.core.errors import SettingsError
from signalstack.research.experiment import load_experiment, parse_experiment
from signalstack.research.tracking import MLFLOW_INSTALL, Tracker, TrackingError, tracked
from signalstack.research.tune import tune

from ..support import free_port
from .mlflow_server import QUIET, mlflow_server
from .support import ar1_bars, write_experiment

QUICK = {"epochs": 2, "lr": 0.01, "batch_size": 64}


def test_the_tracking_section_is_typed_overridden_by_the_flag_and_left_out_of_the_digest():
    plain = parse_experiment({"data": {"path": "sample:sp500"}})
    filed = parse_experiment({"data": {"path": "sample:sp500"}, "tracking": {"mlflow": "sqlite:///m.db"}})
    assert filed.tracking.mlflow == "sqlite:///m.db" and filed.digest == plain.digest  # where it is logged only
    assert "tracking" not in plain.to_dict() and filed.to_dict()["tracking"] == {"mlflow": "sqlite:///m.db"}

    assert tracked(plain, None, "exp") is plain  # no tracking asked for
    flagged = tracked(filed, "http://127.0.0.1:5000", "exp")
    assert flagged.tracking.mlflow == "http://127.0.0.1:5000" and flagged.tracking.experiment == "exp"
    named = parse_experiment({"data": {"path": "sample:sp500"}, "tracking": {"experiment": "momentum"}})
    assert tracked(named, "sqlite:///m.db", "exp").tracking.experiment == "momentum"  # the file's name wins
    assert tracked(named, None, "exp") is named  # a name and no URI: nothing to log to

    with pytest.raises(
        SettingsError,
        match="tracking.mlflow: a URI to host with a user or password in it, expected none .*MLFLOW_TRACKING_PASSWORD",
    ):
        parse_experiment(
            {"data": {"path": "sample:sp500"}, "tracking": {"mlflow": "http://me:secret@host:5000"}}, source="exp.yaml"
        )
    with pytest.raises(SettingsError, match="tracking.mlfow: unknown key \\(did you mean 'mlflow'"):
        parse_experiment({"data": {"path": "sample:sp500"}, "tracking": {"mlfow": "x"}}, source="exp.yaml")


def test_without_mlflow_the_flag_is_refused_in_one_line_naming_the_extra(tmp_path, monkeypatch, capsys):
    path = write_experiment(tmp_path, ar1_bars(900, 0.0, seed=1), search={"params": {"lr": [0.001, 0.1]}})
    monkeypatch.setitem(sys.modules, "mlflow", None)  # `import mlflow` fails as it does where it is not installed
    for command in ("run", "tune"):
        assert main([command, str(path), "--out", str(tmp_path / command), "--mlflow", "http://127.0.0.1:5000"]) == 1
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and MLFLOW_INSTALL in err and "MLflow is not installed" in err, err
        assert not (tmp_path / command).exists() or not any((tmp_path / command).iterdir())  # refused before work


def test_a_server_that_cannot_be_reached_is_warned_of_at_once_and_named_at_the_end(tmp_path, monkeypatch, caplog):
    for name, value in {**QUIET, "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "5"}.items():
        monkeypatch.setenv(name, value)
    pytest.importorskip("mlflow", reason=MLFLOW_INSTALL)
    experiment = parse_experiment({"data": {"path": "sample:sp500"}})
    folder = tmp_path / "20240501-142233-1a2b3c4d"
    folder.mkdir()
    (folder / "experiment.yaml").write_text(experiment.to_yaml())
    uri = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with caplog.at_level(logging.WARNING, logger="signalstack"):
        tracker = Tracker(uri, "exp")
        with pytest.raises(
            TrackingError,
            match=f"MLflow at {re.escape(uri)}: logging run {folder.name} failed .*"
            f"its folder {re.escape(str(folder))} is complete",
        ):
            tracker.log_run(folder, {"run": {"id": folder.name}, "model": {"roc_auc": {"mean": 0.5, "n": 1}}})
    assert any(uri in r.getMessage() and "nothing will be logged there" in r.getMessage() for r in caplog.records)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The tracking URI of a real MLflow server, and MLflow's client on it."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in QUIET.items():
            patch.setenv(name, value)
        mlflow = pytest.importorskip("mlflow", reason=MLFLOW_INSTALL)
        with mlflow_server(tmp_path_factory.mktemp("mlflow")) as uri:
            yield uri, mlflow.MlflowClient(tracking_uri=uri)


@pytest.mark.slow
def test_a_run_is_logged_with_its_experiment_metrics_folds_and_folder(tmp_path, server, capsys):
    uri, client = server
    path = write_experiment(
        tmp_path, ar1_bars(1400, 0.3, seed=5), surrogates={"n": 2}, export=True, baselines=["majority", "logistic"]
    )
    assert main(["run", str(path), "--out", str(tmp_path / "runs"), "--mlflow", uri]) == 0, capsys.readouterr().err
    (folder,) = (tmp_path / "runs").iterdir()
    metrics = json.loads((folder / "metrics.json").read_text())

    (run,) = client.search_runs([client.get_experiment_by_name("exp").experiment_id])  # the file's stem
    assert run.info.run_name == folder.name and run.info.status == "FINISHED"
    params, logged, tags = run.data.params, run.data.metrics, run.data.tags
    resolved = yaml.safe_load((folder / "experiment.yaml").read_text())
    assert resolved["tracking"] == {"mlflow": uri, "experiment": "exp"}
    assert params["train.epochs"] == "2" and params["model.name"] == "lstm" and params["model.params.hidden"] == "[4]"
    assert params["data.path"] == str(tmp_path / "bars.csv") and params["tracking.mlflow"] == uri
    assert json.loads(params["features.features"]) == resolved["features"]["features"]
    assert params["run.data_digest.bars"] == metrics["run"]["data_digest"]["bars"]  # the data's fingerprint
    assert tags["signalstack.digest"] == metrics["run"]["digest"] and tags["signalstack.id"] == folder.name
    assert "roc_auc" in tags["mlflow.note.content"]  # the summary

    for name, summary in metrics["model"].items():
        assert logged[name] == pytest.approx(summary["mean"]) and logged[f"{name}.n"] == summary["n"]
    assert logged["baseline.logistic.roc_auc"] == pytest.approx(metrics["baselines"]["logistic"]["roc_auc"]["mean"])
    assert logged["baseline.majority.roc_auc"] == 0.5
    assert "baseline.majority.ic" not in logged  # undefined (a constant guess): null in metrics.json, not logged
    for key in ("percentile", "p_value", "mean", "n"):
        assert logged[f"surrogate.roc_auc.{key}"] == pytest.approx(metrics["surrogates"]["roc_auc"][key])
    history = client.get_metric_history(run.info.run_id, "fold.seed0.roc_auc")
    history = sorted(history, key=lambda m: m.step)
    assert [m.step for m in history] == [row["fold"] for row in metrics["folds"]] == [0, 1]
    assert [m.value for m in history] == pytest.approx([row["roc_auc"] for row in metrics["folds"]])
    assert len(client.get_metric_history(run.info.run_id, "fold.logistic.roc_auc")) == metrics["run"]["folds"]

    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"experiment.yaml", "metrics.json", "predictions.csv", "report", "models", "run.log"} <= artifacts
    assert "tasks" not in artifacts  # the kept tasks are gone once the run completes
    models = {a.path for a in client.list_artifacts(run.info.run_id, "models")}
    assert {f"models/fold{k}_seed0.onnx" for k in range(metrics["run"]["folds"])} <= models
    assert {"report/summary.txt", "report/index.html"} <= {
        a.path for a in client.list_artifacts(run.info.run_id, "report")
    }
    copy = client.download_artifacts(run.info.run_id, "metrics.json", str(tmp_path))
    assert json.loads(Path(copy).read_text()) == metrics


@pytest.mark.slow
def test_a_study_is_a_parent_run_with_a_nested_run_per_trial_and_resumes_into_it(tmp_path, server):
    uri, client = server
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    search = {"trials": 2, "startup": 1, "params": {"lr": [0.001, 0.05, "log"], "optimizer": ["adam", "sgd"]}}
    experiment = load_experiment(write_experiment(tmp_path, ar1_bars(900, 0.3, seed=3), train=QUICK, search=search))
    out = tmp_path / "tune"
    tune(experiment, out, trials=1, study_name="lr")  # not tracked
    logged = experiment.replaced(tracking={"mlflow": uri, "experiment": "studies"})  # the section, from Python
    tune(logged, out, trials=2, study_name="lr")  # trial 0 is logged when the study ends, trial 1 as it finishes
    study = optuna.load_study(study_name="lr", storage=f"sqlite:///{out / 'study.db'}")
    study.add_trial(
        optuna.trial.create_trial(  # trial 2: what a signal leaves behind (tune's SIGINT test stops one)
            state=optuna.trial.TrialState.FAIL,
            params={"lr": 0.01, "optimizer": "adam"},
            user_attrs={"interrupted": True},
            intermediate_values={0: 0.7},
            distributions={
                "lr": optuna.distributions.FloatDistribution(0.001, 0.05, log=True),
                "optimizer": optuna.distributions.CategoricalDistribution(["adam", "sgd"]),
            },
        )
    )
    result = tune(logged, out, trials=3, study_name="lr")  # resumed: one more trial (3), under the same parent
    table = pd.read_csv(out / "trials.csv")

    experiment_id = client.get_experiment_by_name("studies").experiment_id
    (parent,) = client.search_runs([experiment_id], "tags.`signalstack.study` = 'lr'")
    assert parent.info.run_name == "lr" and parent.info.status == "FINISHED"
    assert json.loads(parent.data.params["search.params.lr"]) == [0.001, 0.05, "log"]
    assert parent.data.metrics["trials"] == 4 and parent.data.metrics["trials.interrupted"] == 1
    assert parent.data.metrics["best_val_loss"] == pytest.approx(result.study.best_value)
    assert {"trials.csv", "best.yaml", "plots"} <= {a.path for a in client.list_artifacts(parent.info.run_id)}

    children = client.search_runs([experiment_id], f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'")
    by_number = {int(run.data.tags["optuna.trial"]): run for run in children}
    assert sorted(by_number) == list(table["number"]) == [0, 1, 2, 3]  # each trial once, across the resume
    assert list(table["state"])[2] == "INTERRUPTED"
    for row in table.itertuples():
        run = by_number[row.number]
        assert run.info.run_name == f"trial {row.number}" and run.data.tags["optuna.state"] == row.state
        assert (
            run.info.status
            == {"COMPLETE": "FINISHED", "PRUNED": "KILLED", "FAIL": "FAILED", "INTERRUPTED": "KILLED"}[row.state]
        )
        assert (
            math.isclose(float(run.data.params["lr"]), row.param_lr)
            and run.data.params["optimizer"] == row.param_optimizer
        )
        if row.state == "COMPLETE":
            assert run.data.metrics["val_loss"] == pytest.approx(row.value)
            assert run.data.metrics["fold_loss"] == pytest.approx(json.loads(row.fold_losses)[-1])
        epochs = client.get_metric_history(run.info.run_id, "epoch_val_loss")
        assert epochs and sorted(m.step for m in epochs) == sorted(result.study.trials[row.number].intermediate_values)
