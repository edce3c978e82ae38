"""One unit of a research run: a fold's model with one seed, or a fold's baselines, on the real bars or a surrogate.

Tasks share nothing and return plain rows, so the runner can hand them to worker processes in any
order and get the same numbers: each builds its own series (a surrogate is drawn from its number),
its fold's dataset and its model, seeded by the task alone, on one CPU thread (parallelism comes
from running tasks side by side, and one thread keeps results the same whatever the worker count).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from threadpoolctl import threadpool_limits

from signalstack.core.labels import forward_returns
from signalstack.models.train import predict
from signalstack.models.windows import Dataset, as_named

from .baselines import BUY_AND_HOLD, baseline_predictions, first_target
from .experiment import Experiment
from .metrics import buy_and_hold_scores, prediction_frame, score, score_outputs, trade
from .surrogates import make_surrogate
from .walkforward import Fold, built_fold, export_folder, fold_dataset, sample_windows, train_fold, walk_forward

Data = pd.DataFrame | Mapping[str, pd.DataFrame]
"""One bar series, or {symbol: bars} (a panel, or the symbols of factor images)."""


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
    bars: Data
    models: Path
    """The folder the real runs' fold models go to."""
    fundamentals: pd.DataFrame | None = None
    """The dated factors of a two-input net (experiment.fundamentals, loaded once)."""


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


def series(context: Context, surrogate: int | None) -> Data:
    """The real bars, or surrogate number `surrogate` of them (of each symbol, for several)."""
    if surrogate is None:
        return context.bars
    if isinstance(context.bars, Mapping):
        from .panel import panel_series  # several symbols: each its own surrogate

        return panel_series(context, surrogate)
    s = context.experiment.surrogates
    return make_surrogate(context.bars, s.kind, surrogate, block=s.block, seed=s.seed)


def trading_bars(experiment: Experiment, data: Data) -> pd.DataFrame:
    """The bars a single-series run's predictions are scored and traded on: the data's, the first symbol's
    (factor images are labelled on it), or the daily bars of intraday ones (one sample per day)."""
    bars = next(iter(data.values())) if isinstance(data, Mapping) else data
    return session_bars(bars) if experiment.layout == "intraday" else bars


def session_bars(bars: pd.DataFrame) -> pd.DataFrame:
    """One bar per date of intraday `bars`, stamped at the date's last bar: first open, highest high, lowest
    low, last close, summed volume (the day x intraday labels compare these closes)."""
    day = pd.DatetimeIndex(bars.index).normalize()
    grouped = bars.groupby(day)
    daily = pd.DataFrame({"open": grouped["open"].first(), "high": grouped["high"].max(),
                          "low": grouped["low"].min(), "close": grouped["close"].last(),
                          "volume": grouped["volume"].sum()})
    daily.index = pd.DatetimeIndex(bars.index.to_series().groupby(day).last().to_numpy(), name=bars.index.name)
    return daily


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
    if experiment.data.is_panel and experiment.layout in ("windows", "pairs"):
        from .panel import run_panel_task  # several symbols, one model, ranked: see panel.py

        return run_panel_task(context, task)
    data = series(context, task.surrogate)
    dataset, fold = fold_set(context, data, task.fold)
    bars = trading_bars(experiment, data)
    ranges = {"fold": fold.number, "seed": task.seed, "train": list(dataset.train.time_range),
              "val": list(dataset.val.time_range), "test": list(dataset.test.time_range)}
    if task.kind == "baselines":
        rows = [{"model": name, **ranges, **_baseline_scores(name, dataset, bars, experiment)}
                for name in experiment.baselines]
        return rows, None
    result = train_fold(experiment, dataset, fold=task.fold, seed=task.seed,
                        models=export_folder(experiment, context.models, task.surrogate),
                        data_source=_source(experiment))
    outputs = as_named(predict(result.net, dataset.x_of(dataset.test)), next(iter(dataset.targets)))
    ys = dataset.y_of(dataset.test)
    frame, found = score_outputs(outputs, dataset.targets, ys, dataset.test.times, bars)
    labels = experiment.labels
    row = {"model": experiment.model.name if task.surrogate is None else "surrogate",
           "surrogate": task.surrogate, **ranges, **found,
           **trade(frame[labels.columns], bars, labels, experiment.backtest_keywords, name=task.name),
           "best_epoch": result.best_epoch}
    predictions = None
    if task.surrogate is None:
        forward = pd.Series(forward_returns(bars["close"].to_numpy(), labels.horizon), index=bars.index)
        names = list(dataset.targets)
        predictions = frame.assign(fold=fold.number, seed=task.seed, **label_columns("label", ys[names[0]]),
                                   **{k: v for name in names[1:] for k, v in label_columns(f"{name}_label",
                                                                                          ys[name]).items()},
                                   forward_return=forward.reindex(frame.index).to_numpy())
    return [row], predictions


def label_columns(name: str, y: np.ndarray) -> dict[str, np.ndarray]:
    """predictions.csv's label column(s): `name`, or name.t+1 .. name.t+h for a path's h steps."""
    if y.ndim == 1:
        return {name: y}
    return {f"{name}.t+{k + 1}": y[:, k] for k in range(y.shape[1])}


def fold_set(context: Context, data: Data, number: int) -> tuple[Dataset, Fold]:
    """Fold `number`'s dataset of a single-series run (or of factor images): windows cut by walk-forward
    positions, or the set the net's builder makes with the fold's split; scalers fitted on its fit rows."""
    experiment = context.experiment
    if experiment.builds_samples:
        return built_fold(experiment, data, context.fundamentals, number)
    windows = sample_windows(data, experiment.features, experiment.labels, experiment.window)
    fold = plan_folds(experiment, len(windows))[number]
    return fold_dataset(windows, fold, features=experiment.features, labels=experiment.labels,
                        window=experiment.window, embargo=experiment.embargo), fold


def _source(experiment: Experiment) -> str:
    """The model card's data_source: the data's path(s), and the fundamentals' of a two-input net."""
    paths = experiment.data.path if experiment.data.is_panel else (experiment.data.path,)
    return " ".join([*paths, *([experiment.fundamentals] if experiment.fundamentals else [])])


def _baseline_scores(name: str, dataset: Dataset, bars: pd.DataFrame, experiment: Experiment) -> dict[str, float]:
    labels, trading = experiment.labels, experiment.backtest_keywords
    if name == BUY_AND_HOLD:
        times = dataset.test.times
        return buy_and_hold_scores(bars.loc[times[0]:times[-1]], trading)
    frame = prediction_frame(baseline_predictions(name, dataset), dataset.test.times, labels)
    y = first_target(dataset, dataset.test)
    return {**score(frame, y, labels, bars), **trade(frame, bars, labels, trading, name=name)}
