"""`tune --ray-address`: the same study on a Ray cluster, through Ray Tune's OptunaSearch and ASHA scheduler.

Taken from `research/tune.py`, so both paths search alike: the space (`distribution(param)`, the ones
`_suggest` draws from), the objective (`validation_loss`: the first `search.folds` folds' validation tails
with seed 0, never a test period), the seeded TPE sampler, the study in `--storage` under `--study` (so a
study started here resumes there and back), and the outputs (trials.csv, plots/, best.yaml).

What Ray does: Ray Tune runs each trial as a function trainable asking for one CPU on the cluster, as many
at once as the cluster had CPUs when the study began; `ray.tune.search.optuna.OptunaSearch` asks the study
for each trial's values and tells it the outcome. The trial reports after every epoch:

    loss      the objective so far: the mean over the folds trained so far of each one's best validation
              loss (its last report is the trial's value, exactly what `validation_loss` returns)
    step      fold * E + epoch (E the most epochs any trial can run), so that trials line up fold by fold
    val_loss  the epoch's own validation loss (for Ray Tune's files; nothing decides on it)

and Ray Tune's ASHA scheduler (`search.pruner: median`; `none`: FIFO, no stopping) stops a trial whose
`loss` at a rung (steps 1, 2, 4, ...) is in the worse half of the trials that reached that rung before it:
with a reduction factor of 2 the cutoff is their median. Unlike Optuna's MedianPruner, ASHA has no
warm-up count, so `search.startup` is not used here. A stopped trial is told PRUNED (OptunaSearch alone
would tell it COMPLETE with its last value); one that raises is FAIL and the study goes on (in this
process only a ValueError is caught so; on Ray every error is, and logged).

The Tune loop runs in this process (the driver): the study's storage is opened here, and Ray Tune's own
files (result.json per trial) go to OUT/ray/STUDY_DATE_TIME/. With a `ray://` address (Ray Client) Ray
Tune runs that loop on the cluster's head node instead, where a file storage of this machine does not
exist: give `--storage` a database both reach. The bars are read here and sent to the workers through
the object store; every node needs signalstack installed (`pip install 'signalstack[ray]'`), as for
`run --ray-address`.
"""

from __future__ import annotations

import importlib
import logging
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import optuna
import pandas as pd

from .executors import LOCAL, RAY_INSTALL, RayNotInstalled, import_ray
from .search import OUT, Search
from .settings import ExperimentFile
from .tracking import study_tracker
from .tune import (
    TuneError,
    TuneResult,
    apply_params,
    checked_request,
    distribution,
    finished,
    max_epochs,
    one_thread,
    open_storage,
    sampler_seed,
    storage_url,
    validation_loss,
    write_outputs,
)

log = logging.getLogger(__name__)

LOSS = "loss"
"""The reported metric: the objective so far (its last value is the trial's)."""
STEP = "step"
"""The reported time: fold * E + epoch; the scheduler's time_attr."""
FINAL = "final"
"""True on the one report made after training: the trial ran to its end (else the scheduler stopped it)."""


def tune_on_ray(
    experiment: ExperimentFile,
    out: str | Path = OUT,
    *,
    ray_address: str,
    trials: int | None = None,
    storage: str | None = None,
    study_name: str = "study",
    concurrent: int | None = None,
) -> TuneResult:
    """Run (or resume) the study on the Ray cluster at `ray_address` until it has `trials` finished trials.

    `ray_address` is read as `ray.init` reads it (`local` starts a Ray instance here and stops it after);
    when this process already holds a Ray session, that one is used and left running. `concurrent` caps
    the trials running at once (default: the cluster's CPUs when the study begins). Writes the same outputs
    as `tune` and returns the same result.
    """
    search, total, layout = checked_request(experiment, trials)
    tune = _import_tune(ray_address)
    out = Path(out)
    url = storage_url(storage, out)
    if ray_address.startswith("ray://") and (url.startswith(("sqlite:", "journal:"))):
        raise TuneError(
            f"--ray-address {ray_address}: through Ray Client the Tune loop runs on the cluster's head "
            f"node, which cannot use this machine's {url}; expected --storage a database URL both reach "
            "(e.g. postgresql://HOST/DB)"
        )
    if concurrent is not None and concurrent < 1:
        raise TuneError(f"concurrent {concurrent}: expected at least 1 trial at a time")
    out.mkdir(parents=True, exist_ok=True)
    trials_log = study_tracker(experiment, study_name, url)  # MLflow, when the experiment asks for it
    study_storage = optuna.storages.get_storage(open_storage(url))
    study = optuna.create_study(storage=study_storage, study_name=study_name, direction="minimize", load_if_exists=True)
    done = finished(study)
    remaining = max(0, total - done)
    log.info(
        "study %r in %s: %d trial(s) finished, %d to run on Ray at %s (total %d)",
        study_name,
        url,
        done,
        remaining,
        ray_address,
        total,
    )
    if remaining:
        seed = sampler_seed(search.seed, len(study.trials))
        bars, _ = layout.load(experiment)
        with _connected(import_ray(ray_address), ray_address) as ray:
            at_once = concurrent or max(1, int(ray.cluster_resources().get("CPU", 1)))
            _fit(tune, experiment, bars, search, remaining, at_once, study_storage, study_name, seed, out)
    result = write_outputs(optuna.load_study(study_name=study_name, storage=study_storage), experiment, out)
    if trials_log is not None:
        trials_log.finish(result.study, out)  # the trials as nested runs, at the end (Ray Tune reports to OptunaSearch)
    return result


def _import_tune(address: str) -> Any:
    """The ray.tune module, or RayNotInstalled naming the extra (Ray without its tune extra fails the same way)."""
    import_ray(address)
    try:
        tune = importlib.import_module("ray.tune")
    except ImportError:
        raise RayNotInstalled(f"--ray-address {address}: Ray Tune is not installed; {RAY_INSTALL}") from None
    return tune


@contextmanager
def _connected(ray: Any, address: str) -> Iterator[Any]:
    """Ray, initialised at `address` unless this process already holds a session (then used and left running)."""
    started = not ray.is_initialized()
    if started:
        options: dict[str, Any] = {"logging_level": logging.WARNING}
        if address == LOCAL:
            options["include_dashboard"] = False
        ray.init(address=address, **options)
    try:
        yield ray
    finally:
        if started:
            ray.shutdown()


def _fit(
    tune: Any,
    experiment: ExperimentFile,
    bars: pd.DataFrame,
    search: Search,
    trials: int,
    at_once: int,
    storage: optuna.storages.BaseStorage,
    study_name: str,
    seed: int,
    out: Path,
) -> None:
    """`trials` more trials of the study, `at_once` at a time, on the Ray session this process holds."""
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

    stride = max_epochs(experiment, search)
    last = search.folds * stride + 1  # the final report's step: after every epoch any trial can run
    if search.pruner == "none":
        scheduler = FIFOScheduler()
    else:  # rungs at steps 1, 2, 4, ... below `last`; a trial in the worse half at a rung stops
        scheduler = ASHAScheduler(
            time_attr=STEP, metric=LOSS, mode="min", max_t=last, grace_period=1, reduction_factor=2
        )
    searcher = _study_search(
        space={name: distribution(p) for name, p in search.params.items()},
        metric=LOSS,
        mode="min",
        sampler=optuna.samplers.TPESampler(seed=seed),
        storage=storage,
        study_name=study_name,
    )
    trainable = tune.with_parameters(_trial, experiment=experiment, bars=bars, folds=search.folds, stride=stride)
    tuner = tune.Tuner(
        tune.with_resources(trainable, {"cpu": 1}),
        tune_config=tune.TuneConfig(
            search_alg=searcher,
            scheduler=scheduler,
            num_samples=trials,
            max_concurrent_trials=at_once,
            reuse_actors=True,
        ),  # a worker that imported torch runs the next
        run_config=tune.RunConfig(
            name=f"{study_name}_{time.strftime('%Y-%m-%d_%H-%M-%S')}",
            storage_path=str((out / "ray").resolve()),
            verbose=0,
        ),
    )
    log.info("Ray Tune: %d trial(s), %d at a time, 1 CPU each; scheduler %s", trials, at_once, type(scheduler).__name__)
    for result in tuner.fit():
        if result.error is not None:  # the trial is FAIL in the study; the error's last line says why
            lines = str(result.error).strip().splitlines() or [type(result.error).__name__]
            log.warning("a trial failed on Ray: %s", lines[-1])


def _study_search(**options: Any) -> Any:
    """Ray Tune's OptunaSearch, telling the study what `tune` would: stopped trials PRUNED, per-fold details.

    OptunaSearch reports a trial's metric to its Optuna trial at Ray's training_iteration and tells a
    stopped trial COMPLETE with its last value; here each report goes in at our `step` (the final one,
    equal to the last, is the trial's value, not an intermediate one) and a trial without the final report
    is told PRUNED. It reaches the Optuna trial through OptunaSearch's `_ot_trials` (Ray 2.x).
    """
    from ray.tune.search.optuna import OptunaSearch

    class StudySearch(OptunaSearch):
        def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
            if not result.get(FINAL):
                self._ot_trials[trial_id].report(result[LOSS], int(result[STEP]))

        def on_trial_complete(self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False) -> None:
            trial = self._ot_trials[trial_id]
            ran_to_end = bool(result and result.get(FINAL)) and not error
            if ran_to_end:
                trial.set_user_attr("fold_losses", list(result["fold_losses"]))
                trial.set_user_attr("best_epochs", list(result["best_epochs"]))
            elif result and not error:  # stopped: the report the scheduler stopped it on never reached on_trial_result
                trial.report(result[LOSS], int(result[STEP]))
            super().on_trial_complete(trial_id, result if ran_to_end else None, error)  # no result: PRUNED
            state = "complete" if ran_to_end else "fail" if error else "pruned"
            value = f" value {result[LOSS]:.5f}" if ran_to_end else ""
            log.info("trial %d %s%s %s", trial.number, state, value, trial.params)

    return StudySearch(**options)


def _trial(config: dict[str, Any], experiment: ExperimentFile, bars: pd.DataFrame, folds: int, stride: int) -> None:
    """Runs in a Ray worker: one trial's objective, reported to Ray Tune after every epoch and once at the end."""
    from ray import tune

    bests: dict[int, float] = {}

    def report(step: int, loss: float) -> None:
        fold = (step - 1) // stride
        bests[fold] = min(bests.get(fold, math.inf), loss if math.isfinite(loss) else math.inf)
        tune.report({LOSS: sum(bests.values()) / len(bests), STEP: step, "val_loss": loss, FINAL: False})

    with one_thread():
        value, rows = validation_loss(
            apply_params(experiment, config), bars, folds=folds, on_epoch=report, epochs_per_fold=stride
        )
    fold_losses = [round(r["val_loss"], 6) for r in rows]
    tune.report(
        {
            LOSS: value,
            STEP: folds * stride + 1,
            FINAL: True,
            "fold_losses": fold_losses,
            "best_epochs": [r["best_epoch"] for r in rows],
        }
    )
