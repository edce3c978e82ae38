"""Runs and studies logged to MLflow, the tracker researchers already use, besides their folders.

The experiment file's `tracking: {mlflow: URI}` (or `--mlflow URI`, which overrides it) names a tracking
server (http://HOST:PORT), a database (sqlite:///mlflow.db) or a folder. MLflow is optional
(`pip install 'signalstack[mlflow]'`), imported only when tracking is asked for: `connect` fails before anything
runs when it is missing, then connects while the run works, and warns at once when the server cannot be reached
(the run goes on; its end says it was not logged). What is logged under the MLflow experiment
`tracking.experiment` (default: the experiment file's name):

- a run (`Tracker.log_run`, after its folder is written), named by its run id:
  params      the resolved experiment file, flattened (`train.lr`, `model.params.hidden`; lists and other
              non-text values as JSON), and the data fingerprints of metrics.json's run section (`run.<key>`)
  metrics     each metric's mean over folds x seeds under its own name (`roc_auc`), its other aggregates
              (`roc_auc.std`, `roc_auc.n`, ...), each baseline's (`baseline.<name>.roc_auc`, ...), the surrogate
              distribution and where the run falls in it (`surrogate.roc_auc.percentile`, `.p_value`, ...), and
              every fold's values at step = fold (`fold.seed<s>.roc_auc`, `fold.<baseline>.roc_auc`); a value that
              is undefined (null in metrics.json) is not logged
  tags        metrics.json's run section (`signalstack.<key>`), the summary as the run's note
  artifacts   the whole run folder: experiment.yaml, status.json, metrics.json, predictions.csv, report/, models/,
              run.log
- a study of `signalstack tune` (`StudyTracker`): a parent run named after the study (the experiment file as
  params; at the end the best value, the trial counts, trials.csv, best.yaml and plots/ as artifacts), and under
  it one nested run per finished trial: the trial's values as params, `val_loss` (its value), `epoch_val_loss` at
  each reported step, `fold_loss` and `best_epoch` at step = fold; status FINISHED, KILLED (pruned, or cut short by
  a signal) or FAILED, and the state (`interrupt.trial_state`) as the tag `optuna.state`; a study a signal stopped
  leaves its parent run KILLED. A resumed study finds its parent run again (by the study's name
  and storage) and adds the trials it does not hold yet.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import logging
import math
import threading
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from signalstack.core.errors import SignalstackError

from .compare import fingerprints, flatten, shown
from .interrupt import trial_state
from .settings import ExperimentFile

if TYPE_CHECKING:
    import optuna

log = logging.getLogger(__name__)

MLFLOW_INSTALL = "pip install 'signalstack[mlflow]'"
"""What to run when tracking is asked for and MLflow is not installed."""

DEFAULT_EXPERIMENT = "signalstack"
"""The MLflow experiment of a run made from Python whose tracking section names none."""

LONGEST_VALUE = 6000
"""MLflow keeps a parameter's value up to this many characters: a longer one is cut, ending in `...`."""

STATUS = {"COMPLETE": "FINISHED", "PRUNED": "KILLED", "FAIL": "FAILED", "INTERRUPTED": "KILLED"}
"""The MLflow status of a trial's run by its state (`interrupt.trial_state`: Optuna's, or INTERRUPTED for a trial a
signal cut short); MLflow has no pruned or interrupted state."""


class MlflowNotInstalled(SignalstackError, ImportError):
    """Tracking to MLflow was asked for but `import mlflow` fails."""


class TrackingError(SignalstackError):
    """The tracking server refused or lost what was sent; the run's folder is complete all the same."""


def tracked(experiment: ExperimentFile, mlflow: str | None, name: str) -> ExperimentFile:
    """The experiment as `signalstack run` and `tune` track it: `mlflow` (the --mlflow flag) over its tracking.mlflow,
    and its MLflow experiment `name` (the experiment file's stem) unless the file names one."""
    given = experiment.tracking.model_dump() if experiment.tracking else {}
    uri = mlflow or given.get("mlflow")
    if not uri:
        return experiment
    return experiment.replaced(tracking={"mlflow": uri, "experiment": given.get("experiment") or name})


def import_mlflow(uri: str) -> Any:
    """The mlflow module, or MlflowNotInstalled with the one line that says how to get it."""
    try:
        import mlflow
    except ImportError:
        raise MlflowNotInstalled(f"MLflow tracking to {uri}: MLflow is not installed; {MLFLOW_INSTALL}") from None
    return mlflow


class Tracker:
    """The MLflow experiment that a run or a study is logged under, on its tracking server.

    It connects in a thread of its own: importing MLflow takes seconds, which the run's own work hides
    (`bench/train.py --mlflow` times it). A connection that fails is logged as a warning at once, and raised by the
    first call that needs it. The thread is a daemon, so that a run stopped meanwhile (Ctrl-C) does not wait
    for a server that does not answer.
    """

    def __init__(self, uri: str, experiment: str) -> None:
        self.uri = uri
        self.experiment = experiment
        self.began = _now()  # the MLflow run's start time (ms since the epoch)
        self._connection: Future[tuple[Any, str]] = Future()
        threading.Thread(target=self._connect, name="signalstack-mlflow", daemon=True).start()

    @property
    def client(self) -> Any:
        """An mlflow.MlflowClient bound to the URI (waits for the connection)."""
        return self._connection.result()[0]

    @property
    def experiment_id(self) -> str:
        return self._connection.result()[1]

    def _connect(self) -> None:
        try:
            client = import_mlflow(self.uri).MlflowClient(tracking_uri=self.uri)
            self._connection.set_result((client, _experiment_id(client, self.experiment, self.uri)))
        except Exception as exc:
            log.warning("MLflow at %s: %s: %s (nothing will be logged there)", self.uri, type(exc).__name__, exc)
            self._connection.set_exception(exc)

    def log_run(self, path: Path, metrics: Mapping[str, Any]) -> str:
        """The run folder `path` and its metrics (metrics.json's content) as one MLflow run; its id.

        Raises:
            TrackingError: the server could not be reached, or refused what was sent (the MLflow run, when made, is
                then marked FAILED).
        """
        run = flatten(metrics.get("run", {}))
        params = {**_params(_yaml(path / "experiment.yaml")), **_params(fingerprints(metrics))}
        tags = {f"signalstack.{key}": shown(value) for key, value in run.items() if value is not None}
        summary = path / "report" / "summary.txt"
        if summary.is_file():
            tags["mlflow.note.content"] = f"```\n{summary.read_text()}\n```"
        run_id = None
        try:
            client, experiment_id = self._connection.result()
            from mlflow.entities import Param, RunTag

            run_id = client.create_run(experiment_id, start_time=self.began, run_name=path.name).info.run_id
            client.log_batch(
                run_id,
                metrics=list(run_metrics(metrics)),
                params=[Param(k, v) for k, v in params.items()],
                tags=[RunTag(k, v[:LONGEST_VALUE]) for k, v in tags.items()],
            )
            client.log_artifacts(run_id, str(path))
            client.set_terminated(run_id, "FINISHED")
        except SignalstackError:
            raise
        except Exception as exc:
            if run_id is not None:
                with contextlib.suppress(Exception):  # the server may be gone: the error below says what failed
                    client.set_terminated(run_id, "FAILED")
            raise TrackingError(
                f"MLflow at {self.uri}: logging run {path.name} failed ({type(exc).__name__}: "
                f"{exc}); its folder {path} is complete"
            ) from exc
        log.info(
            "run %s logged to MLflow at %s: experiment %s, run %s", path.name, self.uri, self.experiment_id, run_id
        )
        return run_id

    def study(self, experiment: ExperimentFile, name: str, storage: str) -> StudyTracker:
        """The study's parent run (found again when the study was logged before, else made) and the trials it holds."""
        from mlflow.entities import Param

        key = hashlib.sha256(f"{name}\n{_without_password(storage)}".encode()).hexdigest()[:16]
        found = self.client.search_runs(
            [self.experiment_id],
            f"tags.`signalstack.study_key` = '{key}'",
            max_results=1,
            order_by=["attributes.start_time DESC"],
        )
        if found:
            parent = found[0].info.run_id
            self.client.update_run(parent, status="RUNNING")
            logged = {int(r.data.tags["optuna.trial"]) for r in self._runs(f"tags.`mlflow.parentRunId` = '{parent}'")}
        else:
            tags = {
                "signalstack.study_key": key,
                "signalstack.study": name,
                "signalstack.storage": _without_password(storage),
            }
            parent = self.client.create_run(self.experiment_id, run_name=name, tags=tags).info.run_id
            self.client.log_batch(parent, params=[Param(k, v) for k, v in _params(experiment.to_dict()).items()])
            logged = set()
        log.info(
            "study %r logged to MLflow at %s: experiment %s, parent run %s (%d trial(s) in it)",
            name,
            self.uri,
            self.experiment_id,
            parent,
            len(logged),
        )
        return StudyTracker(self, parent, logged)

    def _runs(self, filter_string: str) -> Iterator[Any]:
        token = None
        while True:
            page = self.client.search_runs([self.experiment_id], filter_string, max_results=1000, page_token=token)
            yield from page
            token = page.token
            if not token:
                return


def connect(experiment: ExperimentFile) -> Tracker | None:
    """A tracker connecting to the experiment's MLflow experiment (made when missing), or None when it asks for no
    tracking.

    Raises:
        MlflowNotInstalled: tracking is asked for and MLflow is not installed (found without importing it).
    """
    tracking = experiment.tracking
    if tracking is None or not tracking.mlflow:
        return None
    if importlib.util.find_spec("mlflow") is None:
        import_mlflow(tracking.mlflow)  # raises MlflowNotInstalled
    return Tracker(tracking.mlflow, tracking.experiment or DEFAULT_EXPERIMENT)


def _experiment_id(client: Any, name: str, uri: str) -> str:
    """The id of the MLflow experiment `name`, made when missing; TrackingError when it is deleted."""
    found = client.get_experiment_by_name(name)
    if found is None:
        try:
            return client.create_experiment(name)
        except Exception:
            found = client.get_experiment_by_name(name)
            if found is None:
                raise
    if found.lifecycle_stage != "active":
        raise TrackingError(
            f"tracking.experiment {name!r}: the MLflow experiment at {uri} is deleted, expected an "
            "active one (restore it: mlflow experiments restore, or name another)"
        )
    return found.experiment_id


def study_tracker(experiment: ExperimentFile, name: str, storage: str) -> StudyTracker | None:
    """The parent run of the study `name` in `storage` (`connect`, then `Tracker.study`), or None without tracking."""
    tracker = connect(experiment)
    return None if tracker is None else tracker.study(experiment, name, storage)


@dataclass
class StudyTracker:
    """A study's parent run; called as an Optuna callback, it logs each finished trial as a nested run."""

    tracker: Tracker
    parent: str
    """The parent run's id."""
    logged: set[int]
    """The numbers of the trials that have a nested run already."""

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        if trial.state.name in STATUS and trial.number not in self.logged:
            self.log_trial(trial)

    def log_trial(self, trial: optuna.trial.FrozenTrial) -> str:
        """The finished `trial` as a run nested under the parent; its id."""
        from mlflow.entities import Metric, Param

        client = self.tracker.client
        state = trial_state(trial)
        tags = {"mlflow.parentRunId": self.parent, "optuna.trial": str(trial.number), "optuna.state": state}
        start = _ms(trial.datetime_start)
        run_id = client.create_run(
            self.tracker.experiment_id, start_time=start, run_name=f"trial {trial.number}", tags=tags
        ).info.run_id
        stamp = _ms(trial.datetime_complete) or _now()
        values = [("val_loss", trial.value, 0)]
        values += [("epoch_val_loss", value, step) for step, value in sorted(trial.intermediate_values.items())]
        for name, key in (("fold_loss", "fold_losses"), ("best_epoch", "best_epochs")):
            values += [(name, value, fold) for fold, value in enumerate(trial.user_attrs.get(key) or ())]
        client.log_batch(
            run_id,
            metrics=[Metric(k, float(v), stamp, s) for k, v, s in values if _finite(v)],
            params=[Param(k, shown(v)) for k, v in trial.params.items()],
        )
        client.set_terminated(run_id, STATUS[state], end_time=stamp)
        self.logged.add(trial.number)
        return run_id

    def finish(self, study: optuna.Study, out: Path, interrupted: str | None = None) -> None:
        """The trials not logged yet, then the study's summary and the outputs `tune` wrote in `out` (trials.csv,
        best.yaml, plots/) on the parent run, which ends FINISHED, or KILLED when the signal `interrupted` stopped
        the study (the same command continues it, and this run with it)."""
        from mlflow.entities import Metric

        trials = [t for t in study.trials if t.state.name in STATUS]
        for trial in trials:
            self(study, trial)
        client, stamp = self.tracker.client, _now()
        counts = {state: sum(trial_state(t) == state for t in trials) for state in STATUS}
        metrics = [Metric("trials", float(len(trials)), stamp, 0)]
        metrics += [Metric(f"trials.{state.lower()}", float(n), stamp, 0) for state, n in counts.items()]
        if counts["COMPLETE"]:
            metrics.append(Metric("best_val_loss", float(study.best_value), stamp, 0))
            client.set_tag(self.parent, "optuna.best_trial", str(study.best_trial.number))
        client.log_batch(self.parent, metrics=metrics)
        for name in ("trials.csv", "best.yaml"):
            if (out / name).is_file():
                client.log_artifact(self.parent, str(out / name))
        for plot in sorted((out / "plots").glob("*.png")):
            client.log_artifact(self.parent, str(plot), "plots")
        client.set_terminated(self.parent, "KILLED" if interrupted else "FINISHED")
        log.info(
            "study %r: %d trial(s) logged to MLflow at %s under run %s",
            study.study_name,
            len(self.logged),
            self.tracker.uri,
            self.parent,
        )


def run_metrics(metrics: Mapping[str, Any]) -> Iterator[Any]:
    """metrics.json's numbers as MLflow metrics (named as the module's docstring says); undefined ones left out."""
    from mlflow.entities import Metric

    stamp = _now()

    def summary(prefix: str, values: Mapping[str, Any], bare: str | None = "mean") -> Iterator[Metric]:
        """Each number of an aggregate as `prefix.key`; the `bare` one as `prefix` itself."""
        for key, value in values.items():
            if _finite(value):
                yield Metric(prefix if key == bare else f"{prefix}.{key}", float(value), stamp, 0)

    for name, values in metrics.get("model", {}).items():
        yield from summary(name, values)
    for baseline, table in metrics.get("baselines", {}).items():
        for name, values in table.items():
            yield from summary(f"baseline.{baseline}.{name}", values)
    for name, values in metrics.get("surrogates", {}).items():
        yield from summary(f"surrogate.{name}", values, bare=None)
    for row in metrics.get("folds", []):
        yield from _fold(f"fold.seed{row.get('seed')}", row, stamp)
    for row in metrics.get("baseline_folds", []):
        yield from _fold(f"fold.{row['model']}", row, stamp)


def _fold(prefix: str, row: Mapping[str, Any], stamp: int) -> Iterator[Any]:
    from mlflow.entities import Metric

    for key, value in row.items():
        if key not in ("fold", "seed") and _finite(value):
            yield Metric(f"{prefix}.{key}", float(value), stamp, int(row["fold"]))


def _params(document: Mapping[str, Any]) -> dict[str, str]:
    """A document as MLflow parameters: flattened, as text, each cut to what MLflow keeps."""
    params = {}
    for key, value in flatten(document).items():
        text = shown(value)
        params[key] = text if len(text) <= LONGEST_VALUE else text[: LONGEST_VALUE - 3] + "..."
    return params


def _finite(value: Any) -> bool:
    """A number MLflow can plot: a finite int or float (a bool counts as 0 or 1)."""
    return isinstance(value, int | float) and math.isfinite(value)


def _without_password(url: str) -> str:
    """The storage URL as it may be shown: a password in it replaced by ***."""
    parts = urlsplit(url)
    return url.replace(f":{parts.password}@", ":***@", 1) if parts.password else url


def _yaml(path: Path) -> Any:
    import yaml

    return yaml.safe_load(path.read_text())


def _ms(moment: Any) -> int | None:
    return None if moment is None else int(moment.timestamp() * 1000)


def _now() -> int:
    return int(time.time() * 1000)
