"""`run_experiment`: every task of an experiment, in this process or in worker processes, and the run's folder.

Folds x seeds x series (the real bars and each surrogate) are independent tasks (`layouts.Task`), each
run by the experiment's layout on one CPU thread: a task shares nothing, builds its own series, fold and
model, and returns plain rows, so worker processes may run tasks in any order. With workers > 1 they run
in a ProcessPoolExecutor of spawned processes, and with a Ray address as Ray tasks on that cluster
(`executors.py` makes that one choice). Every task is seeded by itself, so a rerun with the same experiment
gives the same metrics on the CPU, whatever the worker count or the executor. The run writes `OUT/<run id>/`,
the id being the local start time and the run's digest (`20240501-142233-1a2b3c4d`: `run_digest`, of the
experiment's digest and the fingerprints of the data it read):

    experiment.yaml    the resolved experiment (absolute paths, defaults written out): running it again
                       reproduces the run
    metrics.json       {"run": {...}, "model": {METRIC: SUMMARY}, "baselines": {NAME: {METRIC: SUMMARY}},
                       "surrogates": {METRIC: {SUMMARY..., percentile, p_value, significant}},
                       "folds": [{model, fold, seed, train, val, test, METRIC: value, ..., fills, best_epoch}],
                       "baseline_folds": [...], "surrogate_runs": [{surrogate, METRIC: mean over its folds x seeds,
                       n, no_trade}], "surrogate_folds": [{model, surrogate, fold, seed, ..., METRIC: value}]};
                       SUMMARY is {mean, std, n, undefined} over every fold x seed (`metrics.summarise`), with
                       no_trade beside a trading metric's; "run" records the digest, experiment_digest,
                       data_digest ({bars, fundamentals}), tasks and resumes among what was run
    status.json, tasks/  the run's state while it runs, and the finished tasks' results kept for
                       `signalstack run --resume` (`runfolder.py`; tasks/ is removed once the run completes)
    predictions.csv    the stitched out-of-sample predictions of every seed: time, the output columns,
                       fold, seed, label, forward_return (a multitask net adds its `forecast` column and
                       `forecast_label`; a panel adds `symbol`; a ranking net's rows are its scorer's
                       per-symbol scores: time, symbol, score, forward_return, fold, seed)
    models/            fold{k}_seed{s}.onnx with its card (and .training/ artefacts), unless export: false
    report/            index.html (research/report.py: the verdict, the model against its baselines and
                       surrogates, each seed's stitched out-of-sample backtest, calibration, IC over time,
                       per-seed and per-fold tables; static, charts inline); equity.csv, stats.json,
                       trades.csv, fills.csv of those backtests (the layout's: a panel's rank the symbols);
                       folds.csv (every fold's metrics, model and baselines); summary.txt (the table, the
                       verdicts and the backtests)
    run.log            the run's log

With tracking (the file's `tracking:`, or `--mlflow`), the finished folder is also logged to MLflow as one run
(research/tracking.py).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import math
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from signalstack import __version__
from signalstack.core.errors import SettingsError
from signalstack.core.fingerprint import data_digest
from signalstack.models.pipeline import Bars

from . import defaults
from .executors import import_ray, run_all
from .interrupt import Interrupted, interruptible, raise_if_received, signals_ignored
from .layouts import Context, Layout, Plan, Task, TaskResult, layout_of
from .metrics import TRADING_METRICS, aggregate, head_metric_names, metric_names, no_trade, summarise, versus_surrogates
from .report import Results, write_report
from .runfolder import INTERRUPTED_KEYS, check_resumable, forget, keep, kept, read_status, write_status
from .settings import ExperimentFile
from .summary import summary_text, write_folds
from .tracking import Tracker, connect

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunResult:
    path: Path
    """The run's folder."""
    metrics: dict[str, Any]
    """metrics.json's content, with NaN where the file has null."""


def make_tasks(experiment: ExperimentFile, folds: int) -> list[Task]:
    """The real models first (their failures show soonest), then the baselines, then the surrogates."""
    seeds = range(experiment.seeds)
    tasks = [Task("model", k, seed) for k in range(folds) for seed in seeds]
    if experiment.baselines:
        tasks += [Task("baselines", k) for k in range(folds)]
    tasks += [
        Task("model", k, seed, number)
        for number in range(experiment.surrogates.n)
        for k in range(folds)
        for seed in seeds
    ]
    return tasks


def run_experiment(
    experiment: ExperimentFile,
    out: str | Path = defaults.OUT,
    *,
    workers: int = defaults.WORKERS,
    ray_address: str | None = None,
    progress: bool = False,
) -> RunResult:
    """Run every task of `experiment` and write the run's folder under `out`; see the module's docstring.

    With workers > 1 the tasks run in spawned processes, which import the caller's main module: a
    script that calls this needs the usual `if __name__ == "__main__":` guard. With `ray_address`
    (`local`, `auto`, `HOST:PORT`, `ray://HOST:PORT`: as `ray.init` reads it; needs `signalstack[ray]`)
    they run as Ray tasks of one CPU each on that cluster instead, in the caller's Ray session if one
    is already initialised; `workers` then only sizes the instance that `local` starts. Each Ray task
    sends its fold model files and log lines back, so the run folder is written here either way.
    `progress`: a progress bar over the tasks on stderr.

    SIGINT or SIGTERM stops the run with its finished tasks kept (tasks/) and the folder marked interrupted
    (status.json), and raises `interrupt.Interrupted`, whose text says how to go on: `resume_run`.
    """
    ray_address = _checked_executor(workers, ray_address)
    tracker = connect(experiment)  # a missing MLflow fails here too; the server is reached meanwhile
    began = time.perf_counter()
    layout = layout_of(experiment)
    bars, fundamentals = layout.load(experiment)
    plan = layout.plan(experiment, bars, fundamentals)  # a layout that cannot work fails here, before training
    data = data_digest(bars, fundamentals)
    digest = run_digest(experiment.digest, data)
    path = _new_folder(Path(out), digest)
    (path / "experiment.yaml").write_text(experiment.to_yaml())
    tasks = make_tasks(experiment, len(plan.folds))
    status = {
        "status": "running",
        "run": path.name,
        "version": __version__,
        "digest": digest,
        "experiment_digest": experiment.digest,
        "data_digest": data,
        "tasks": len(tasks),
        "finished": 0,
        "resumes": 0,
    }
    write_status(path, status)
    return _carry_out(
        _Run(experiment, layout, bars, fundamentals, plan, path, tasks, status, tracker),
        {},
        workers,
        ray_address,
        progress,
        began,
    )


def resume_run(
    folder: str | Path, *, workers: int = defaults.WORKERS, ray_address: str | None = None, progress: bool = False
) -> RunResult:
    """Continue the interrupted (or killed) run in `folder`: its experiment.yaml, its finished tasks kept, the rest
    run as `run_experiment` runs them; the metrics equal those of the run had it never stopped.

    Raises `runfolder.ResumeRefused` (one line) when the run is complete, was made by another signalstack
    version, or its experiment.yaml or its data changed since it began.
    """
    from .experiment import load_experiment  # reads the zoo: not needed to import the runner

    ray_address = _checked_executor(workers, ray_address)
    began = time.perf_counter()
    path = Path(folder)
    status = read_status(path)
    experiment = load_experiment(path / "experiment.yaml")
    tracker = connect(experiment)  # its tracking section, as when the run began
    layout = layout_of(experiment)
    bars, fundamentals = layout.load(experiment)
    check_resumable(path, status, experiment.digest, data_digest(bars, fundamentals))
    plan = layout.plan(experiment, bars, fundamentals)
    tasks = make_tasks(experiment, len(plan.folds))
    done = kept(path, tasks)
    status = {key: value for key, value in status.items() if key not in INTERRUPTED_KEYS}
    status.update(status="running", finished=len(done), resumes=status["resumes"] + 1)
    write_status(path, status)
    return _carry_out(
        _Run(experiment, layout, bars, fundamentals, plan, path, tasks, status, tracker),
        done,
        workers,
        ray_address,
        progress,
        began,
    )


def run_digest(experiment_digest: str, data: dict[str, str]) -> str:
    """Eight hex digits naming a run's inputs: the experiment and the fingerprints of the data it read, so that
    the same file over edited bars is another run."""
    doc = json.dumps({"experiment": experiment_digest, "data": data}, sort_keys=True)
    return hashlib.sha256(doc.encode()).hexdigest()[:8]


@dataclass(frozen=True)
class _Run:
    """What a run (or its resume) has read and planned before its tasks run."""

    experiment: ExperimentFile
    layout: Layout
    bars: Bars
    fundamentals: pd.DataFrame | None
    plan: Plan
    path: Path
    tasks: list[Task]
    status: dict[str, Any]
    tracker: Tracker | None
    """Where the finished run is also logged (MLflow), when its experiment asks for it."""


def _carry_out(
    run: _Run, done: dict[Task, TaskResult], workers: int, ray_address: str | None, progress: bool, began: float
) -> RunResult:
    """The tasks not in `done`, each kept as it finishes, then the run's metrics and files; on SIGINT or SIGTERM the
    folder marked interrupted and `Interrupted` raised."""
    experiment, path, tasks = run.experiment, run.path, run.tasks
    with _logging_to(path / "run.log"), interruptible() as received:
        try:
            read = run.layout.describe(experiment, run.bars, run.plan)
            log.info(
                "run %s: %s on %s (%s, %d samples), %d folds x %d seeds, %d surrogates: %d tasks on %s%s",
                path.name,
                experiment.model.name,
                read["data"],
                run.layout.name,
                run.plan.samples,
                len(run.plan.folds),
                experiment.seeds,
                experiment.surrogates.n,
                len(tasks),
                f"Ray at {ray_address}" if ray_address else f"{workers} worker(s)",
                f"; resumed with {len(done)} finished" if run.status["resumes"] else "",
            )
            context = Context(
                experiment, run.layout, run.bars, path / "models", run.fundamentals, run.status["data_digest"]
            )
            with _progress(tasks, done, enabled=progress) as shown:
                for result in execute(context, [t for t in tasks if t not in done], workers, ray_address):
                    keep(path, result)
                    done[result.task] = result
                    _finished(result, len(done), len(tasks))
                    shown(result)
                    raise_if_received()
            metrics = _write_results(run, [done[t] for t in tasks], read, workers, ray_address, began)
        except KeyboardInterrupt:
            with signals_ignored():
                left = [t.name for t in tasks if t not in done]
                write_status(
                    path,
                    {
                        **run.status,
                        "status": "interrupted",
                        "finished": len(done),
                        "signal": received.name,
                        "left": left,
                        "resume": f"signalstack run --resume {path}",
                    },
                )
                log.info(
                    "run %s interrupted by %s after %d of %d tasks", path.name, received.name, len(done), len(tasks)
                )
            raise Interrupted(
                f"run {path.name} interrupted by {received.name} after {len(done)} of {len(tasks)} "
                f"tasks, which are kept; continue it with: signalstack run --resume {path}"
            ) from None
        except Exception as exc:
            write_status(
                path, {**run.status, "status": "failed", "finished": len(done), "error": f"{type(exc).__name__}: {exc}"}
            )
            raise
        write_status(path, {**run.status, "status": "complete", "finished": len(tasks)})
        forget(path)
        if run.tracker is not None:  # the folder complete, its kept tasks gone: that is what is logged
            run.tracker.log_run(path, metrics)
        log.info("run %s done in %.1f s", path.name, metrics["run"]["seconds"])
    return RunResult(path, metrics)


def _write_results(
    run: _Run, results: list[TaskResult], read: dict[str, Any], workers: int, ray_address: str | None, began: float
) -> dict[str, Any]:
    """metrics.json, predictions.csv, report/ (the layout's, folds.csv, summary.txt) from every task's result."""
    experiment, path, status = run.experiment, run.path, run.status
    metrics = collect(experiment, results, run.layout.extra_metrics)
    metrics["run"] = {
        "id": path.name,
        "digest": status["digest"],
        "version": __version__,
        "created": dt.datetime.now().isoformat(timespec="seconds"),
        "model": experiment.model.name,
        "layout": run.layout.name,
        **read,
        "folds": len(run.plan.folds),
        "seeds": experiment.seeds,
        "embargo": experiment.embargo,
        "surrogates": experiment.surrogates.n,
        "surrogate_kind": experiment.surrogates.kind,
        "workers": workers,
        "ray_address": ray_address,
        "metrics": list(metrics["model"]),
        "experiment_digest": experiment.digest,
        "data_digest": status["data_digest"],
        "tasks": len(results),
        "resumes": status["resumes"],
    }
    predictions = _stacked(results, "model").sort_values(["seed", "fold"], kind="stable")
    predictions.to_csv(path / "predictions.csv")
    report = write_report(
        run.layout, Results(experiment, run.bars, metrics, predictions, _stacked(results, "baselines")), path / "report"
    )
    write_folds(metrics, path / "report" / "folds.csv")
    metrics["run"]["seconds"] = round(time.perf_counter() - began, 1)
    (path / "metrics.json").write_text(json.dumps(_json_ready(metrics), indent=2) + "\n")
    (path / "report" / "summary.txt").write_text(summary_text(metrics, report))
    return metrics


def _checked_executor(workers: int, ray_address: str | None) -> str | None:
    """The Ray address or None; a bad worker count or a missing Ray fails here, before any folder is made."""
    if workers < 1:
        raise SettingsError(f"workers {workers}: expected at least 1")
    ray_address = ray_address or None
    if ray_address:
        import_ray(ray_address)
    return ray_address


def execute(
    context: Context, tasks: Sequence[Task], workers: int, ray_address: str | None = None
) -> Iterator[TaskResult]:
    """Every task's result as it finishes: here with one worker, else in spawned processes or on Ray."""
    if ray_address:  # the workers may not share this machine's disk: fold models come back as bytes
        for result, files in run_all(
            run_task_shipping_models, context, tasks, workers=workers, ray_address=ray_address
        ):
            _write_files(context.models, files)
            yield result
    else:
        yield from run_all(run_task, context, tasks, workers=workers)


def run_task(context: Context, task: Task) -> TaskResult:
    """The task run by its layout on one CPU thread: the same numbers whatever the worker count or the machine."""
    began = time.perf_counter()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(limits=1):
            rows, predictions = context.layout.run_task(context, task)
    finally:
        torch.set_num_threads(threads)  # a run in the caller's process leaves its setting as it was
    return TaskResult(task, rows, predictions, time.perf_counter() - began)


def run_task_shipping_models(context: Context, task: Task) -> tuple[TaskResult, dict[str, bytes]]:
    """`run_task` with the fold models written to a folder of the worker's own, and returned as
    {path relative to the models folder: bytes}."""
    with tempfile.TemporaryDirectory(prefix="signalstack-task-") as folder:
        result = run_task(replace(context, models=Path(folder)), task)
        files = {
            p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(Path(folder).rglob("*")) if p.is_file()
        }
    return result, files


def _write_files(folder: Path, files: dict[str, bytes]) -> None:
    for name, content in files.items():
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)


def _finished(result: TaskResult, count: int, total: int) -> None:
    """The task's line in the log: its scores (every baseline's, for a baselines task)."""
    parts = []
    for row in result.rows:
        scores = ", ".join(f"{k} {row[k]:.4f}" for k in ("roc_auc", "ic", "sharpe") if k in row)
        parts.append(scores if result.task.kind == "model" else f"{row['model']} {scores}".strip())
    log.info("[%d/%d] %s: %s (%.1f s)", count, total, result.task.name, "; ".join(parts) or "done", result.seconds)


@contextmanager
def _progress(
    tasks: Sequence[Task], done: dict[Task, TaskResult], *, enabled: bool
) -> Iterator[Callable[[TaskResult], None]]:
    """A tqdm bar over `tasks` (those in `done` already counted), its ETA from the tasks run here, and the count of
    real folds finished; yields the function that moves it on by a result. Log lines are written above the bar."""
    real = [t for t in tasks if t.kind == "model" and t.surrogate is None]
    folds = sum(t in done for t in real)
    with (
        tqdm(
            total=len(tasks), initial=len(done), desc="run", unit="task", disable=not enabled, dynamic_ncols=True
        ) as bar,
        logging_redirect_tqdm() if enabled else nullcontext(),
    ):
        bar.set_postfix_str(f"folds {folds}/{len(real)}")

        def shown(result: TaskResult) -> None:
            nonlocal folds
            folds += result.task.kind == "model" and result.task.surrogate is None
            bar.set_postfix_str(f"folds {folds}/{len(real)}", refresh=False)
            bar.update()

        yield shown


def collect(experiment: ExperimentFile, results: Sequence[TaskResult], extra: tuple[str, ...] = ()) -> dict[str, Any]:
    """metrics.json's sections from the task results (all but "run"): the labels' metrics, the further heads' and
    the layout's `extra` ones, each summarised over every fold x seed (`metrics.summarise`: n, the undefined
    values and, for trading metrics, the folds that did not trade are counted, never dropped)."""
    real = [r.rows[0] for r in results if r.task.kind == "model" and r.task.surrogate is None]
    names = metric_names(experiment.labels.spec) + head_metric_names(real[0]) + extra
    folds = [{k: v for k, v in row.items() if k != "surrogate"} for row in real]
    baseline_rows = [row for r in results if r.task.kind == "baselines" for row in r.rows]
    model = summarise(real, names)
    baselines = {
        name: summarise([row for row in baseline_rows if row["model"] == name], names) for name in experiment.baselines
    }
    runs, surrogate_rows = [], []
    for number in range(experiment.surrogates.n):
        rows = [r.rows[0] for r in results if r.task.surrogate == number]
        surrogate_rows += rows
        runs.append(
            {
                "surrogate": number,
                **{m: aggregate([row[m] for row in rows])["mean"] for m in names},
                "n": len(rows),
                "no_trade": no_trade(rows),
            }
        )
    surrogates = {m: versus_surrogates(model[m]["mean"], [run[m] for run in runs], m) for m in names} if runs else {}
    for name in set(surrogates) & set(TRADING_METRICS):  # runs none of whose folds traded
        surrogates[name]["no_trade"] = sum(run["no_trade"] == run["n"] for run in runs)
    return {
        "model": model,
        "baselines": baselines,
        "surrogates": surrogates,
        "folds": folds,
        "baseline_folds": baseline_rows,
        "surrogate_runs": runs,
        "surrogate_folds": surrogate_rows,
    }


def _stacked(results: Sequence[TaskResult], kind: str) -> pd.DataFrame | None:
    """The test predictions of the tasks of `kind` ("model": the real runs'; "baselines"), stacked; None without."""
    frames = [r.predictions for r in results if r.task.kind == kind and r.predictions is not None]
    return pd.concat(frames).rename_axis("time") if frames else None


def _new_folder(out: Path, digest: str) -> Path:
    """OUT/<local time>-<digest>, with -2, -3 ... when a run of the same experiment started in the same second."""
    stem = f"{dt.datetime.now():%Y%m%d-%H%M%S}-{digest}"
    out.mkdir(parents=True, exist_ok=True)
    for attempt in range(1, 100):
        path = out / (stem if attempt == 1 else f"{stem}-{attempt}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise FileExistsError(f"{out / stem}: 99 runs of this experiment started in the same second")


@contextmanager
def _logging_to(path: Path) -> Iterator[None]:
    """The signalstack loggers' INFO and above also go to `path` while the run lasts."""
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%Y-%m-%d %H:%M:%S"))
    handler.setLevel(logging.INFO)
    logger = logging.getLogger("signalstack")
    level = logger.level
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        handler.close()


def _json_ready(value: Any) -> Any:
    """NaN and infinities as null (JSON has no NaN), numpy scalars as Python numbers."""
    if isinstance(value, dict):
        return {k: _json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
