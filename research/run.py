"""`run_experiment`: every task of an experiment, in this process or in worker processes, and the run's folder.

Folds x seeds x series (the real bars and each surrogate) are independent tasks (`layouts.Task`), each
run by the experiment's layout on one CPU thread: a task shares nothing, builds its own series, fold and
model, and returns plain rows, so worker processes may run tasks in any order. With workers > 1 they run
in a ProcessPoolExecutor of spawned processes, and with a Ray address as Ray tasks on that cluster
(`executors.py` makes that one choice). Every task is seeded by itself, so a rerun with the same experiment
gives the same metrics on the CPU, whatever the worker count or the executor. The run writes `OUT/<run id>/`,
the id being the local start time and the experiment's digest (`20240501-142233-1a2b3c4d`):

    experiment.yaml    the resolved experiment (absolute paths, defaults written out): running it again
                       reproduces the run
    metrics.json       {"run": {...}, "model": {METRIC: {mean, std, n}}, "baselines": {NAME: {METRIC: {...}}},
                       "surrogates": {METRIC: {mean, std, n, percentile, p_value, significant}},
                       "folds": [{model, fold, seed, train, val, test, METRIC: value, ..., best_epoch}],
                       "baseline_folds": [...], "surrogate_runs": [{surrogate, METRIC: mean over its folds x seeds}]}
    predictions.csv    the stitched out-of-sample predictions of every seed: time, the output columns,
                       fold, seed, label, forward_return (a multitask net adds its `forecast` column and
                       `forecast_label`; a panel adds `symbol`; a ranking net's rows are its scorer's
                       per-symbol scores: time, symbol, score, forward_return, fold, seed)
    models/            fold{k}_seed{s}.onnx with its card (and .training/ artefacts), unless export: false
    report/            the layout's report (research/layouts): report.html, charts, trades.csv, stats.json,
                       config.json of the backtest of the seed-mean stitched predictions (a panel's: the
                       RankingStrategy backtest's equity.csv, fills.csv, stats.json); folds.csv (every
                       fold's metrics, model and baselines); summary.txt (the table and the verdicts)
    run.log            the run's log

With tracking (the file's `tracking:`, or `--mlflow`), the finished folder is also logged to MLflow as one run
(research/tracking.py).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from threadpoolctl import threadpool_limits

from signalstack import __version__

from . import defaults
from .executors import import_ray, run_all
from .layouts import Context, Task, TaskResult, layout_of
from .metrics import aggregate, head_metric_names, metric_names, versus_surrogates
from .settings import ExperimentFile
from .summary import summary_text, write_folds
from .tracking import connect

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
    tasks += [Task("model", k, seed, number) for number in range(experiment.surrogates.n)
              for k in range(folds) for seed in seeds]
    return tasks


def run_experiment(experiment: ExperimentFile, out: str | Path = defaults.OUT, *,
                   workers: int = defaults.WORKERS, ray_address: str | None = None) -> RunResult:
    """Run every task of `experiment` and write the run's folder under `out`; see the module's docstring.

    With workers > 1 the tasks run in spawned processes, which import the caller's main module: a
    script that calls this needs the usual `if __name__ == "__main__":` guard. With `ray_address`
    (`local`, `auto`, `HOST:PORT`, `ray://HOST:PORT`: as `ray.init` reads it; needs `signalstack[ray]`)
    they run as Ray tasks of one CPU each on that cluster instead, in the caller's Ray session if one
    is already initialised; `workers` then only sizes the instance that `local` starts. Each Ray task
    sends its fold model files and log lines back, so the run folder is written here either way.
    """
    if workers < 1:
        raise ValueError(f"workers {workers}: expected at least 1")
    ray_address = ray_address or None
    if ray_address:
        import_ray(ray_address)  # a missing Ray fails here, before any folder is made
    tracker = connect(experiment)  # so does a missing MLflow; the tracking server is reached meanwhile
    began = time.perf_counter()
    layout = layout_of(experiment)
    bars, fundamentals = layout.load(experiment)
    plan = layout.plan(experiment, bars, fundamentals)  # a layout that cannot work fails here, before training
    path = _new_folder(Path(out), experiment)
    (path / "experiment.yaml").write_text(experiment.to_yaml())
    with _logging_to(path / "run.log"):
        tasks = make_tasks(experiment, len(plan.folds))
        read = layout.describe(experiment, bars, plan)
        log.info("run %s: %s on %s (%s, %d samples), %d folds x %d seeds, %d surrogates: %d tasks on %s", path.name,
                 experiment.model.name, read["data"], layout.name, plan.samples, len(plan.folds), experiment.seeds,
                 experiment.surrogates.n, len(tasks),
                 f"Ray at {ray_address}" if ray_address else f"{workers} worker(s)")
        results = execute(Context(experiment, layout, bars, path / "models", fundamentals), tasks, workers,
                          ray_address)
        metrics = collect(experiment, results, layout.extra_metrics)
        metrics["run"] = {"id": path.name, "digest": experiment.digest, "version": __version__,
                          "created": dt.datetime.now().isoformat(timespec="seconds"), "model": experiment.model.name,
                          "layout": layout.name, **read, "folds": len(plan.folds), "seeds": experiment.seeds,
                          "embargo": experiment.embargo, "surrogates": experiment.surrogates.n,
                          "surrogate_kind": experiment.surrogates.kind, "workers": workers,
                          "ray_address": ray_address, "metrics": list(metrics["model"])}
        predictions = pd.concat([r.predictions for r in results if r.predictions is not None])
        predictions = predictions.sort_values(["seed", "fold"], kind="stable").rename_axis("time")
        predictions.to_csv(path / "predictions.csv")
        report = layout.write_report(experiment, bars, predictions, path / "report")
        write_folds(metrics, path / "report" / "folds.csv")
        metrics["run"]["seconds"] = round(time.perf_counter() - began, 1)
        (path / "metrics.json").write_text(json.dumps(_json_ready(metrics), indent=2) + "\n")
        (path / "report" / "summary.txt").write_text(summary_text(metrics, report))
        if tracker is not None:
            tracker.log_run(path, metrics)
        log.info("run %s done in %.1f s", path.name, metrics["run"]["seconds"])
    return RunResult(path, metrics)


def execute(context: Context, tasks: Sequence[Task], workers: int, ray_address: str | None = None
            ) -> list[TaskResult]:
    """Every task's result, in the order of `tasks`: here with one worker, else in spawned processes or on Ray."""
    done: dict[Task, TaskResult] = {}
    if ray_address:  # the workers may not share this machine's disk: fold models come back as bytes
        for result, files in run_all(run_task_shipping_models, context, tasks, workers=workers,
                                     ray_address=ray_address):
            _write_files(context.models, files)
            _finished(done, result, len(tasks))
    else:
        for result in run_all(run_task, context, tasks, workers=workers):
            _finished(done, result, len(tasks))
    return [done[t] for t in tasks]


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
        files = {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(Path(folder).rglob("*"))
                 if p.is_file()}
    return result, files


def _write_files(folder: Path, files: dict[str, bytes]) -> None:
    for name, content in files.items():
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)


def _finished(done: dict[Task, TaskResult], result: TaskResult, total: int) -> None:
    done[result.task] = result
    first = result.rows[0]
    shown = ", ".join(f"{k} {first[k]:.4f}" for k in ("roc_auc", "ic", "sharpe") if k in first)
    log.info("[%d/%d] %s: %s (%.1f s)", len(done), total, result.task.name, shown or "done", result.seconds)


def collect(experiment: ExperimentFile, results: Sequence[TaskResult], extra: tuple[str, ...] = ()) -> dict[str, Any]:
    """metrics.json's sections from the task results (all but "run"): the labels' metrics, the further heads' and
    the layout's `extra` ones."""
    real = [r.rows[0] for r in results if r.task.kind == "model" and r.task.surrogate is None]
    names = metric_names(experiment.labels.spec) + head_metric_names(real[0]) + extra
    folds = [{k: v for k, v in row.items() if k != "surrogate"} for row in real]
    baseline_rows = [row for r in results if r.task.kind == "baselines" for row in r.rows]
    model = {m: aggregate([row[m] for row in real]) for m in names}
    baselines = {}
    for name in experiment.baselines:
        rows = [row for row in baseline_rows if row["model"] == name]
        baselines[name] = {m: aggregate([row[m] for row in rows]) for m in names if m in rows[0]}
    runs = []
    for number in range(experiment.surrogates.n):
        rows = [r.rows[0] for r in results if r.task.surrogate == number]
        runs.append({"surrogate": number, **{m: aggregate([row[m] for row in rows])["mean"] for m in names}})
    surrogates = {m: versus_surrogates(model[m]["mean"], [run[m] for run in runs], m) for m in names} if runs else {}
    return {"model": model, "baselines": baselines, "surrogates": surrogates, "folds": folds,
            "baseline_folds": baseline_rows, "surrogate_runs": runs}


def _new_folder(out: Path, experiment: ExperimentFile) -> Path:
    """OUT/<local time>-<digest>, with -2, -3 ... when a run of the same experiment started in the same second."""
    stem = f"{dt.datetime.now():%Y%m%d-%H%M%S}-{experiment.digest}"
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
