"""`tune`: an Optuna study over an experiment's `search:` space, scored on validation tails only.

The objective of a trial is the mean, over the first `search.folds` walk-forward folds (default 1),
of the best (lowest) validation loss that training reaches on the fold's validation tail with
seed 0 (the loss early stopping watches). The test periods are never read: each fold's dataset is
built from the bars up to its last validation label's bar (bars after it are cut off before the
features are computed), and its test split is the validation tail. With the default of one fold the
objective reads only bars before the first test period, so a `signalstack run` of the tuned
experiment scores every fold on bars the search never saw; with K > 1 folds, fold k's training
window holds the test periods of folds before k (never its own), which the tuner then has seen.

Pruning: each epoch's validation loss is reported to the trial (`models.train.train(on_epoch=...)`)
at step `k * E + epoch` (fold k, E the most epochs any trial can run), and Optuna's MedianPruner
stops a trial whose loss is worse than the median of earlier trials at that step.

The study lives in `--storage` (default `sqlite:///OUT/study.db`; `journal:PATH` is Optuna's
journal file, for several processes on one host; any SQLAlchemy URL, e.g. postgresql://..., for a
cluster) under `--study` (default the experiment file's stem), so running the same command again
resumes it: `trials` is the study's total, and a study that has them runs none (processes sharing a
study may overshoot it by one trial each). The sampler (TPE) is seeded with search.seed plus the trials
already in the study, so the same seed and storage draw the same trials and a resumed study draws new ones
(processes that join a shared study at the same moment draw alike: give each its own search.seed).
SIGINT or SIGTERM stops the study cleanly: the trial it cut short is recorded as interrupted (FAIL in
Optuna's storage, with the user attribute `interrupted`), does not count towards `trials`, and the
outputs are written for the trials that finished; running the same command again continues the study.
With `--ray-address` the same study runs on a Ray cluster through Ray Tune (`research/ray_tune.py`):
the same objective, space, sampler, storage and outputs; Ray Tune's ASHA scheduler stops bad trials there.
With tracking (`--mlflow URI` or the file's `tracking:`), the study is a parent run in MLflow and each trial
a run nested under it, logged as it finishes (on Ray: when the study ends); see `research/tracking.py`.
The out folder gets:

    study.db        the study (default storage)
    trials.csv      number, state, value, duration_s, one column per parameter, per-fold losses and epochs
    plots/          history.png (optimization history), importances.png (parameter importances, when at
                    least two complete trials varied a parameter), slice.png (value against each parameter)
    best.yaml       the experiment with the best trial's values in place and no search section:
                    `signalstack run best.yaml` runs it
"""

from __future__ import annotations

import logging
import math
import sys
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
import torch
from threadpoolctl import threadpool_limits

from signalstack.core.errors import SettingsError
from signalstack.models.train import train
from signalstack.models.zoo import get_entry

from .interrupt import INTERRUPTED, interruptible, interrupts_allowed, raise_if_received, trial_state
from .layouts import Layout, layout_of
from .search import OUT, TOP_LEVEL, TRAIN, Param, Search
from .settings import ExperimentFile
from .tracking import study_tracker
from .walkforward import Fold, fold_dataset, plan_folds, sample_windows

log = logging.getLogger(__name__)

FINISHED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED, optuna.trial.TrialState.FAIL)
"""The states that count towards a study's total of trials (a FAIL only when a signal did not cause it)."""


class TuneError(SettingsError):
    """A tuning request that cannot run: no search section, a layout it cannot search, no trial that completed."""


@dataclass(frozen=True)
class TuneResult:
    study: optuna.Study
    out: Path
    table: pd.DataFrame
    """trials.csv's rows."""
    best: Path | None
    """best.yaml, or None when no trial completed."""
    plots: dict[str, Path]
    skipped: dict[str, str]
    """Plots not drawn, with the reason."""
    interrupted: str | None = None
    """The signal that stopped the study (SIGINT, SIGTERM), or None when it ran its trials."""


def storage_url(storage: str | None, out: Path) -> str:
    """The storage as given, or the default sqlite file in `out`."""
    return storage if storage else f"sqlite:///{(out / 'study.db').resolve()}"


def open_storage(url: str) -> Any:
    """An Optuna storage: `journal:PATH` is a journal file (several processes on one host), else an RDB URL."""
    if url.startswith("journal:"):
        from optuna.storages.journal import JournalFileBackend, JournalStorage

        path = Path(url[len("journal:") :])
        path.parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(str(path)))
    return url


def apply_params(experiment: ExperimentFile, params: dict[str, Any]) -> ExperimentFile:
    """The experiment with a trial's values in place (window top level, train keys, model parameters)."""
    changes: dict[str, Any] = {k: v for k, v in params.items() if k in TOP_LEVEL}
    training = {k: v for k, v in params.items() if k in TRAIN}
    if training:
        changes["train"] = {**experiment.train.model_dump(), **training}
    model_values = {k: v for k, v in params.items() if k not in TOP_LEVEL + TRAIN}
    if model_values:
        defaults = get_entry(experiment.model.name).defaults
        merged = dict(experiment.model.params)
        for key, value in model_values.items():
            declared = merged.get(key, defaults[key])
            if isinstance(declared, tuple) and not isinstance(value, tuple | list):
                value = (value,) * max(1, len(declared))  # hidden: h for every layer, as many layers as set
            merged[key] = value
        changes["model"] = {"name": experiment.model.name, "params": merged}
    return experiment.replaced(**changes)


def validation_loss(
    experiment: ExperimentFile,
    bars: pd.DataFrame,
    *,
    folds: int = 1,
    seed: int = 0,
    on_epoch: Any = None,
    epochs_per_fold: int | None = None,
) -> tuple[float, list[dict[str, Any]]]:
    """The mean over the first `folds` folds of the best validation loss, and one row per fold.

    Each fold's samples come from the bars up to its last validation label's bar only; its test split is
    the validation tail, so nothing after that bar is read. `on_epoch(step, val_loss)` gets every epoch,
    at step fold * `epochs_per_fold` + epoch.
    """
    horizon = experiment.labels.horizon
    features, labels = experiment.features.spec, experiment.labels.spec
    windows = sample_windows(bars, features, labels, experiment.window)
    used = plan_folds(experiment, len(windows))[:folds]
    stride = epochs_per_fold or experiment.train.epochs
    rows = []
    for fold in used:
        last = bars.index.get_loc(windows.times[fold.val.stop - 1]) + horizon  # the last bar a label reads
        cut = sample_windows(bars.iloc[: last + 1], features, labels, experiment.window)
        if not cut.times[: fold.val.stop].equals(windows.times[: fold.val.stop]):
            raise ValueError(f"fold {fold.number}: samples moved when the bars after the validation tail were cut")
        dataset = fold_dataset(
            cut,
            Fold(fold.number, fold.fit, fold.val, fold.val),
            features=features,
            labels=labels,
            window=experiment.window,
            embargo=experiment.embargo,
        )
        config = experiment.train.config(seed)
        report = None if on_epoch is None else (lambda epoch, loss, k=fold.number: on_epoch(k * stride + epoch, loss))
        result = train(dataset, experiment.model.name, config, on_epoch=report, **dict(experiment.model.params))
        best = min(h["val_loss"] for h in result.history)
        rows.append(
            {
                "fold": fold.number,
                "val_loss": best,
                "best_epoch": result.best_epoch,
                "val": list(dataset.val.time_range),
            }
        )
    return float(np.mean([r["val_loss"] for r in rows])), rows


def _suggest(trial: optuna.Trial, name: str, param: Param) -> Any:
    if param.choices is not None:
        return trial.suggest_categorical(name, list(param.choices))
    if param.integer:
        return trial.suggest_int(name, int(param.low), int(param.high), log=param.log)
    return trial.suggest_float(name, param.low, param.high, log=param.log)


def distribution(param: Param) -> optuna.distributions.BaseDistribution:
    """The Optuna distribution `_suggest` draws `param` from: the space Ray Tune's OptunaSearch is given."""
    if param.choices is not None:
        return optuna.distributions.CategoricalDistribution(list(param.choices))
    if param.integer:
        return optuna.distributions.IntDistribution(int(param.low), int(param.high), log=param.log)
    return optuna.distributions.FloatDistribution(param.low, param.high, log=param.log)


@contextmanager
def one_thread() -> Iterator[None]:
    """Torch and the BLAS pools on one thread, as run's tasks: the same numbers whatever the machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(limits=1):
            yield
    finally:
        torch.set_num_threads(threads)


def max_epochs(experiment: ExperimentFile, search: Search) -> int:
    """The most epochs a trial can train per fold: the stride between folds in the reported steps."""
    epochs = search.params.get("epochs")
    return experiment.train.epochs if epochs is None else int(max(epochs.values))


def make_objective(experiment: ExperimentFile, bars: pd.DataFrame, search: Search):
    """The trial -> validation loss function the study minimises."""
    stride = max_epochs(experiment, search)

    def objective(trial: optuna.Trial) -> float:
        values = {name: _suggest(trial, name, p) for name, p in search.params.items()}
        candidate = apply_params(experiment, values)

        def report(step: int, loss: float) -> None:
            raise_if_received()
            trial.report(loss if math.isfinite(loss) else math.inf, step)
            if trial.should_prune():
                raise optuna.TrialPruned(f"validation loss {loss:.4f} at step {step}")

        try:  # a signal cuts the training short, never Optuna's writing of the trial (it waits for the next check)
            with one_thread(), interrupts_allowed():
                value, rows = validation_loss(
                    candidate, bars, folds=search.folds, on_epoch=report, epochs_per_fold=stride
                )
        except KeyboardInterrupt:
            trial.set_user_attr(INTERRUPTED, True)  # Optuna records it FAIL: `finished` does not count it
            raise
        trial.set_user_attr("fold_losses", [round(r["val_loss"], 6) for r in rows])
        trial.set_user_attr("best_epochs", [r["best_epoch"] for r in rows])
        return value

    return objective


def sampler_seed(seed: int, trials: int) -> int:
    """The sampler's seed: search.seed moved on by the trials the study holds, so that a resumed study does not
    draw its first trials again, and the same seed and storage always draw the same trials."""
    return (seed + trials) % 2**32


def _pruner(search: Search) -> optuna.pruners.BasePruner:
    if search.pruner == "none":
        return optuna.pruners.NopPruner()
    return optuna.pruners.MedianPruner(n_startup_trials=search.startup, n_warmup_steps=0)


def checked_request(experiment: ExperimentFile, trials: int | None) -> tuple[Search, int, Layout]:
    """The search section, the study's total of trials and the layout, or TuneError saying why the request cannot
    run."""
    search = experiment.search
    if search is None:
        raise TuneError("the experiment has no search section (expected search: {params: {NAME: [low, high]}})")
    layout = layout_of(experiment)
    if not layout.tunable:
        raise TuneError(
            f"model {experiment.model.name} reads {layout.reads}: tune searches windows of one series only so far"
        )
    total = search.trials if trials is None else trials
    if total < 1:
        raise TuneError(f"--trials {total}: expected at least 1")
    return search, total, layout


def finished(study: optuna.Study) -> int:
    """The trials that count towards the study's total: those that ran to an end, not those a signal cut short."""
    return sum(t.state in FINISHED and not t.user_attrs.get(INTERRUPTED) for t in study.trials)


def tune(
    experiment: ExperimentFile,
    out: str | Path = OUT,
    *,
    trials: int | None = None,
    storage: str | None = None,
    study_name: str = "study",
) -> TuneResult:
    """Run (or resume) the study until it has `trials` finished trials (default search.trials); write its outputs.

    On SIGINT or SIGTERM the trial running is recorded as interrupted and the outputs are written for the trials
    that finished; the result says which signal stopped it (`interrupted`)."""
    search, total, layout = checked_request(experiment, trials)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    url = storage_url(storage, out)
    trials_log = study_tracker(experiment, study_name, url)  # MLflow, when the experiment asks for it
    bars, _ = layout.load(experiment)
    study = optuna.create_study(
        storage=open_storage(url),
        study_name=study_name,
        direction="minimize",
        pruner=_pruner(search),
        load_if_exists=True,
    )
    study.sampler = optuna.samplers.TPESampler(seed=sampler_seed(search.seed, len(study.trials)))
    done = finished(study)
    remaining = max(0, total - done)
    log.info("study %r in %s: %d trial(s) finished, %d to run (total %d)", study_name, url, done, remaining, total)
    stopped = None
    if remaining:
        began = time.perf_counter()
        with interruptible(deferred=True) as received, _interrupts_unlogged():
            try:
                study.optimize(
                    make_objective(experiment, bars, search),
                    n_trials=remaining,
                    catch=(ValueError,),
                    callbacks=[
                        _stop_at(total),
                        _log_trial,
                        *([trials_log] if trials_log else []),
                        lambda study, trial: raise_if_received(),
                    ],
                )
            except KeyboardInterrupt:
                stopped = received.name
        log.info("%d trial(s) in %.1f s", finished(study) - done, time.perf_counter() - began)
        if stopped:
            cut = [t.number for t in study.trials if t.user_attrs.get(INTERRUPTED)]
            log.info(
                "stopped by %s: %s", stopped, f"trial {cut[-1]} interrupted, not counted" if cut else "between trials"
            )
    result = replace(write_outputs(study, experiment, out), interrupted=stopped)
    if trials_log is not None:
        trials_log.finish(result.study, out, interrupted=stopped)
    return result


class _NoInterrupts(logging.Filter):
    """Drops Optuna's warnings (a traceback, then the trial's value) about a trial that a signal cut short, and what
    it logs after: the study is ending, and `tune` says so in a line."""

    def __init__(self) -> None:
        super().__init__()
        self.stopping = False

    def filter(self, record: logging.LogRecord) -> bool:
        self.stopping = self.stopping or bool(record.exc_info and isinstance(record.exc_info[1], KeyboardInterrupt))
        return not self.stopping


@contextmanager
def _interrupts_unlogged() -> Iterator[None]:
    logger = logging.getLogger("optuna.study._optimize")  # where Optuna logs a failed trial
    dropped = _NoInterrupts()
    logger.addFilter(dropped)
    try:
        yield
    finally:
        logger.removeFilter(dropped)


def _stop_at(total: int) -> Any:
    """A callback that stops the study once `finished` counts `total` trials (Optuna's MaxTrialsCallback would count
    an interrupted trial)."""

    def stop(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        if finished(study) >= total:
            study.stop()

    return stop


def write_outputs(study: optuna.Study, experiment: ExperimentFile, out: Path) -> TuneResult:
    """trials.csv, plots/ and (when a trial completed) best.yaml in `out`, from the study as its storage holds it."""
    table = trials_table(study)
    table.to_csv(out / "trials.csv", index=False)
    plots, skipped = write_plots(study, out / "plots")
    best = None
    if any(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials):
        best = out / "best.yaml"
        write_best(study, experiment, best)
    else:
        log.warning("no trial completed: best.yaml not written")
    return TuneResult(study, out, table, best, plots, skipped)


def _log_trial(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
    value = "" if trial.value is None else f" value {trial.value:.5f}"
    log.info("trial %d %s%s %s", trial.number, trial.state.name.lower(), value, trial.params)


def trials_table(study: optuna.Study) -> pd.DataFrame:
    """One row per trial: number, state (Optuna's, or INTERRUPTED for a trial a signal cut short), value,
    duration_s, param_<name>..., fold_losses, best_epochs."""
    rows = []
    for t in study.trials:
        seconds = (
            (t.datetime_complete - t.datetime_start).total_seconds()
            if t.datetime_complete and t.datetime_start
            else None
        )
        rows.append(
            {
                "number": t.number,
                "state": trial_state(t),
                "value": t.value,
                "duration_s": None if seconds is None else round(seconds, 3),
                **{f"param_{k}": v for k, v in t.params.items()},
                "fold_losses": t.user_attrs.get("fold_losses"),
                "best_epochs": t.user_attrs.get("best_epochs"),
            }
        )
    return pd.DataFrame(rows, columns=None if rows else ["number", "state", "value", "duration_s"])


def write_best(study: optuna.Study, experiment: ExperimentFile, path: Path) -> Path:
    """The experiment with the best trial's values and no search section, as a file `signalstack run` takes."""
    trial = study.best_trial
    best = apply_params(experiment, trial.params).replaced(search=None)
    header = (
        f"# signalstack tune: study {study.study_name!r}, best of {len(study.trials)} trial(s): "
        f"trial {trial.number}, validation loss {trial.value:.6f}\n# params: {trial.params}\n"
    )
    path.write_text(header + best.to_yaml())
    return path


def write_plots(study: optuna.Study, folder: Path) -> tuple[dict[str, Path], dict[str, str]]:
    """history.png, importances.png and slice.png (optuna.visualization.matplotlib, Agg); skipped ones with why."""
    import matplotlib

    if "matplotlib.pyplot" not in sys.modules:
        matplotlib.use("Agg")  # headless; a caller that already chose a backend keeps it
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as vis

    folder.mkdir(parents=True, exist_ok=True)
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    varied = [
        name
        for name in {k for t in complete for k in t.params}
        if len({repr(t.params.get(name)) for t in complete}) > 1
    ]
    reasons = {}
    if not complete:
        reasons = {name: "no complete trial" for name in ("history", "importances", "slice")}
    elif len(complete) < 2 or not varied:
        reasons["importances"] = (
            f"{len(complete)} complete trial(s) with {len(varied)} varied parameter(s): "
            "parameter importances need at least two complete trials that vary one"
        )
    drawers = {
        "history": vis.plot_optimization_history,
        "importances": vis.plot_param_importances,
        "slice": vis.plot_slice,
    }
    plots: dict[str, Path] = {}
    for name, draw in drawers.items():
        if name in reasons:
            log.info("plot %s skipped: %s", name, reasons[name])
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the matplotlib backend is marked experimental
                axes = draw(study)
        except (ValueError, RuntimeError) as exc:
            reasons[name] = f"{type(exc).__name__}: {exc}"
            log.info("plot %s skipped: %s", name, reasons[name])
            continue
        figure = np.asarray(axes).flat[0].figure
        path = folder / f"{name}.png"
        figure.savefig(path, dpi=100, bbox_inches="tight")
        plt.close(figure)
        plots[name] = path
    return plots, reasons
