"""One unit of a research run: a fold's model with one seed, or a fold's baselines, on the real bars or a surrogate.

Tasks share nothing and return plain rows, so the runner can hand them to worker processes in any
order and get the same numbers: each builds its own series (a surrogate is drawn from its number),
its fold's dataset and its model, seeded by the task alone, on one CPU thread (parallelism comes
from running tasks side by side, and one thread keeps results the same whatever the worker count).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from threadpoolctl import threadpool_limits

from signalstack.core.labels import forward_returns
from signalstack.models.train import predict, train
from signalstack.models.windows import Dataset

from .baselines import BUY_AND_HOLD, baseline_predictions
from .experiment import Experiment
from .metrics import buy_and_hold_scores, prediction_frame, score, trade
from .surrogates import make_surrogate
from .walkforward import Fold, fold_dataset, sample_windows, walk_forward


@dataclass(frozen=True)
class Task:
    kind: str
    """"model" (one seed) or "baselines" (all of the experiment's, seedless)."""
    fold: int
    seed: int | None = None
    surrogate: int | None = None
    """None: the real bars; else the number of the surrogate series."""

    @property
    def name(self) -> str:
        where = "real" if self.surrogate is None else f"surrogate {self.surrogate}"
        seed = "" if self.seed is None else f" seed {self.seed}"
        return f"{where} fold {self.fold} {self.kind}{seed}"


@dataclass(frozen=True)
class Context:
    """What every task of a run reads: sent to each worker with the task."""

    experiment: Experiment
    bars: pd.DataFrame
    models: Path
    """The folder the real runs' fold models go to."""


@dataclass(frozen=True)
class TaskResult:
    task: Task
    rows: list[dict[str, Any]]
    """One per scored predictor: {"model", "fold", "seed", "train", "val", "test", METRIC: value, ...}."""
    predictions: pd.DataFrame | None
    """A real model task's test predictions with fold, seed, label and forward_return columns."""
    seconds: float


def plan_folds(experiment: Experiment, samples: int) -> list[Fold]:
    """The experiment's walk-forward folds over `samples` samples."""
    wf = experiment.walk_forward
    return walk_forward(samples, train=wf.train, test=wf.test, step=wf.step, embargo=experiment.embargo,
                        expanding=wf.expanding, val=wf.val)


def series(context: Context, surrogate: int | None) -> pd.DataFrame:
    """The real bars, or surrogate number `surrogate` of them."""
    if surrogate is None:
        return context.bars
    s = context.experiment.surrogates
    return make_surrogate(context.bars, s.kind, surrogate, block=s.block, seed=s.seed)


def run_task(context: Context, task: Task) -> TaskResult:
    """Build the task's series, fold and dataset; train and score its model, or fit and score its baselines."""
    began = time.perf_counter()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(limits=1):
            rows, predictions = _run(context, task)
    finally:
        torch.set_num_threads(threads)  # a run in the caller's process leaves its setting as it was
    return TaskResult(task, rows, predictions, time.perf_counter() - began)


def _run(context: Context, task: Task) -> tuple[list[dict[str, Any]], pd.DataFrame | None]:
    """The task's rows, and a real model's test predictions."""
    experiment = context.experiment
    if experiment.data.is_panel:
        from .panel import run_panel_task  # several symbols, one model: see panel.py

        return run_panel_task(context, task)
    bars = series(context, task.surrogate)
    windows = sample_windows(bars, experiment.features, experiment.labels, experiment.window)
    fold = plan_folds(experiment, len(windows))[task.fold]
    dataset = fold_dataset(windows, fold, features=experiment.features, labels=experiment.labels,
                           window=experiment.window, embargo=experiment.embargo)
    ranges = {"fold": fold.number, "seed": task.seed, "train": list(dataset.train.time_range),
              "val": list(dataset.val.time_range), "test": list(dataset.test.time_range)}
    if task.kind == "baselines":
        rows = [{"model": name, **ranges, **_baseline_scores(name, dataset, bars, experiment)}
                for name in experiment.baselines]
        return rows, None
    frame, best_epoch = _model_predictions(context, task, dataset)
    labels = experiment.labels
    row = {"model": experiment.model.name if task.surrogate is None else "surrogate",
           "surrogate": task.surrogate, **ranges, **score(frame, dataset.test.y, labels, bars),
           **trade(frame, bars, labels, experiment.backtest_keywords, name=task.name), "best_epoch": best_epoch}
    predictions = None
    if task.surrogate is None:
        forward = pd.Series(forward_returns(bars["close"].to_numpy(), labels.horizon), index=bars.index)
        predictions = frame.assign(fold=fold.number, seed=task.seed, label=dataset.test.y,
                                   forward_return=forward.reindex(frame.index).to_numpy())
    return [row], predictions


def _model_predictions(context: Context, task: Task, dataset: Dataset) -> tuple[pd.DataFrame, int]:
    """Train the fold's model with the task's seed (exporting it for a real run when asked); its test predictions."""
    experiment = context.experiment
    config = replace(experiment.train, seed=task.seed, progress=False)
    params = dict(experiment.model.params)
    if experiment.export and task.surrogate is None:
        # Imported here: the exporter (onnx, onnxruntime) is only loaded by workers that export.
        from signalstack.models.pipeline import train_dataset_and_export

        out = context.models / f"fold{task.fold}_seed{task.seed}.onnx"
        result = train_dataset_and_export(dataset, out, architecture=experiment.model.name, config=config,
                                          data_source=experiment.data.path, params=params).result
    else:
        result = train(dataset, experiment.model.name, config, **params)
    if len(result.net.heads) != 1:
        raise ValueError(f"model {experiment.model.name} has outputs {list(result.net.output_names)}: "
                         "expected one output (a walk-forward run scores single-output models)")
    values = predict(result.net, dataset.x_of(dataset.test))
    return prediction_frame(np.asarray(values), dataset.test.times, experiment.labels), result.best_epoch


def _baseline_scores(name: str, dataset: Dataset, bars: pd.DataFrame, experiment: Experiment) -> dict[str, float]:
    labels, trading = experiment.labels, experiment.backtest_keywords
    if name == BUY_AND_HOLD:
        times = dataset.test.times
        return buy_and_hold_scores(bars.loc[times[0]:times[-1]], trading)
    frame = prediction_frame(baseline_predictions(name, dataset), dataset.test.times, labels)
    return {**score(frame, dataset.test.y, labels, bars), **trade(frame, bars, labels, trading, name=name)}
