"""The layout protocol and its registry: how a run makes an experiment's samples, runs its tasks, describes itself
and writes its report, one registered class per layout, found as zoo models are (`layout_of`, `list_layouts`).

A layout is chosen by the samples its model's declared inputs ask for (`models.pipeline.input_layout`, never
the model's name) and by whether `data.path` lists several files. `run.run_experiment` makes the same calls
of every layout, in this order:

    check(experiment)        the file's keys and combinations the layout cannot run, before anything is read
    load(experiment)         the bars (one series, or {symbol: bars}) and the dated fundamentals it reads
    plan(...)                its samples and walk-forward folds: a layout that cannot work fails before training
    run_task(context, task)  one task: a fold's model with one seed, or its baselines, on the real bars or a
                             surrogate (`series`), on the fold's samples (`fold`); its rows and predictions
    describe(...)            metrics.json's "run" fields that say what it read
    write_report(...)        its section of report/, and its backtest in a line of text

The base class runs one series (the bars, traded as they are); each layout says how its samples are planned
and cut into folds, and overrides what differs.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy as np
import pandas as pd

from signalstack.core.bars import BarsError, load_bars
from signalstack.core.errors import SettingsError
from signalstack.core.labels import forward_returns
from signalstack.core.settings import unknown_key
from signalstack.models.pipeline import WINDOWS, Bars, declared_inputs, input_layout
from signalstack.models.train import TrainResult, predict
from signalstack.models.windows import Dataset, as_named
from signalstack.plugin.backtest import run_backtest
from signalstack.plugin.report import format_report, write_report
from signalstack.plugin.sources import PrecomputedSource

from ..baselines import BUY_AND_HOLD, baseline_predictions, first_target
from ..metrics import buy_and_hold_scores, prediction_frame, score, score_outputs, trade
from ..settings import RANKING, Backtest, DataFiles, ExperimentFile
from ..surrogates import make_surrogate
from ..walkforward import Fold, train_fold

Outcome = tuple[list[dict[str, Any]], pd.DataFrame | None]
"""A task's rows (one per scored predictor) and a real model's test predictions."""


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

    experiment: ExperimentFile
    layout: Layout
    bars: Bars
    models: Path
    """The folder the real runs' fold models go to."""
    fundamentals: pd.DataFrame | None = None
    """The dated factors of a two-input net, loaded once."""
    data_digest: Mapping[str, str] | None = None
    """The fingerprint of the bars and fundamentals (`core.fingerprint.data_digest`), for the fold models' cards."""


@dataclass(frozen=True)
class TaskResult:
    task: Task
    rows: list[dict[str, Any]]
    """One per scored predictor: {"model", "fold", "seed", "train", "val", "test", METRIC: value, ...}."""
    predictions: pd.DataFrame | None
    """A real model task's test predictions with fold, seed, label and forward_return columns."""
    seconds: float


@dataclass(frozen=True)
class Plan:
    samples: int
    """The samples: one per walk-forward position, or every symbol's of a panel's windows."""
    folds: list[Fold]
    positions: int
    """The walk-forward positions: bars, days or dates."""


class Layout(abc.ABC):
    """How an experiment's samples are made and its run is run; the base reads and trades one series."""

    name: ClassVar[str]
    """The registry's name, which metrics.json's run.layout records."""
    samples: ClassVar[str]
    """The samples its model's declared inputs ask for (`models.pipeline.input_layout`)."""
    reads: ClassVar[str]
    """What it reads, in words."""
    several: ClassVar[bool | None] = False
    """Whether data.path lists several files (True), one (False), or either (None)."""
    keys: ClassVar[tuple[str, ...]] = ()
    """The experiment file's keys that only this layout reads."""
    ranking: ClassVar[bool] = False
    """Whether it trades by ranking the symbols of a panel (the `backtest:` keys of `settings.RANKING`); only such
    a layout reads cross-sectional labels."""
    tunable: ClassVar[bool] = False
    """Whether `signalstack tune` searches it (its objective reads windows of one series)."""
    extra_metrics: ClassVar[tuple[str, ...]] = ()
    """The metrics its tasks report beside the labels' (`metrics.metric_names`), summarised as those are."""

    def __init__(self, inputs: Mapping[str, tuple[int | None, ...]]) -> None:
        self.inputs = dict(inputs)
        """The model's declared inputs, {name: shape}."""

    def check(self, experiment: ExperimentFile) -> None:
        """Raises ValueError, naming the key, for what this layout cannot run."""
        reads = f"model {Path(experiment.model.name).name} reads {self.reads}"
        for key, owner in _owners().items():
            if getattr(experiment, key) not in (None, False) and key not in self.keys:
                raise ValueError(f"{key}: not used by this model, which reads {self.reads} (expected {key} only for "
                                 f"a net that reads {owner.reads})")
        paths = experiment.data.paths
        if self.several is False and len(paths) > 1:
            raise ValueError(f"data.path: a list of {len(paths)} files, but {reads}: expected one CSV")
        if self.several and len(paths) < 2:
            raise ValueError(f"data.path: one file, but {reads}: expected a list of at least two CSVs")
        if experiment.cross_sectional and not self.ranking:
            raise ValueError(f"labels.kind: 'cross_sectional', but {reads}: expected binary, three or regression")
        valid = RANKING if self.ranking else tuple(k for k in Backtest.model_fields if k not in ("top_k", "rebalance"))
        for key in experiment.backtest_changes():
            if key not in valid:
                raise ValueError(f"backtest.{key}: {unknown_key(key, valid)}")

    def load(self, experiment: ExperimentFile) -> tuple[Bars, pd.DataFrame | None]:
        """The bars the run reads, cut to [start, end], and the dated fundamentals (none here)."""
        return load_period(experiment.data), None

    @abc.abstractmethod
    def plan(self, experiment: ExperimentFile, bars: Bars, fundamentals: pd.DataFrame | None) -> Plan:
        """The samples and the walk-forward folds over them."""

    @abc.abstractmethod
    def fold(self, experiment: ExperimentFile, bars: Bars, fundamentals: pd.DataFrame | None,
             number: int) -> tuple[Dataset, Fold]:
        """Fold `number`'s samples, scalers fitted on its fit rows alone."""

    def series(self, context: Context, surrogate: int | None) -> Bars:
        """The real bars, or surrogate number `surrogate` of them."""
        if surrogate is None:
            return context.bars
        s = context.experiment.surrogates
        return make_surrogate(context.bars, s.kind, surrogate, block=s.block, seed=s.seed)

    def trading_bars(self, bars: Bars) -> pd.DataFrame:
        """The bars predictions are scored and traded on."""
        return bars

    def run_task(self, context: Context, task: Task) -> Outcome:
        """Train and score the task's model on its fold, or fit and score the fold's baselines."""
        experiment = context.experiment
        data = self.series(context, task.surrogate)
        dataset, fold = self.fold(experiment, data, context.fundamentals, task.fold)
        bars = self.trading_bars(data)
        ranges = fold_ranges(dataset, fold, task)
        if task.kind == "baselines":
            return [{"model": name, **ranges, **_baseline_scores(name, dataset, bars, experiment)}
                    for name in experiment.baselines], None
        result = self.train(context, task, dataset)
        outputs = as_named(predict(result.net, dataset.x_of(dataset.test)), next(iter(dataset.targets)))
        ys = dataset.y_of(dataset.test)
        frame, found = score_outputs(outputs, dataset.targets, ys, dataset.test.times, bars)
        labels = experiment.labels.spec
        row = {**model_row(experiment, task, ranges), **found,
               **trade(frame[labels.columns], bars, labels, experiment.backtest.keywords(), name=task.name),
               "best_epoch": result.best_epoch}
        if task.surrogate is not None:
            return [row], None
        forward = pd.Series(forward_returns(bars["close"].to_numpy(), labels.horizon), index=bars.index)
        labelled: dict[str, np.ndarray] = {}
        for i, name in enumerate(dataset.targets):  # label.t+1 .. label.t+h for a path's h steps
            column, y = "label" if i == 0 else f"{name}_label", ys[name]
            labelled.update({column: y} if y.ndim == 1 else {f"{column}.t+{k + 1}": y[:, k] for k in range(y.shape[1])})
        return [row], frame.assign(fold=fold.number, seed=task.seed, **labelled,
                                   forward_return=forward.reindex(frame.index).to_numpy())

    def train(self, context: Context, task: Task, dataset: Dataset, extra: dict[str, Any] | None = None
              ) -> TrainResult:
        """The task's net trained on its fold's samples; a real run's, when the run exports, written to the models
        folder with its card (`extra`: more card fields). Surrogate runs are never exported."""
        experiment = context.experiment
        models = context.models if experiment.export and task.surrogate is None else None
        return train_fold(experiment, dataset, fold=task.fold, seed=task.seed, models=models, extra=extra,
                          data_source=", ".join([*experiment.data.paths, *filter(None, [experiment.fundamentals])]),
                          data_digest=context.data_digest)

    def describe(self, experiment: ExperimentFile, bars: Bars, plan: Plan) -> dict[str, Any]:
        """metrics.json's "run" fields that say what the run read."""
        times = (next(iter(bars.values())) if isinstance(bars, Mapping) else bars).index
        return {"data": ", ".join(experiment.data.paths), "bars": [times[0].isoformat(), times[-1].isoformat()],
                "samples": plan.samples, "labels": experiment.labels.spec.to_dict()}

    def write_report(self, experiment: ExperimentFile, bars: Bars, predictions: pd.DataFrame, folder: Path) -> str:
        """report/: the backtest of the seed-mean stitched predictions on the trading bars (plugin.report); returns
        the backtest as text."""
        labels = experiment.labels.spec
        traded = self.trading_bars(bars)
        stitched = predictions.groupby(level="time")[labels.columns].mean()
        source = PrecomputedSource(stitched, horizon=labels.horizon,
                                   name=f"{experiment.model.name} walk-forward (mean of {experiment.seeds} seed(s))")
        result = run_backtest(source, traded.loc[stitched.index[0]:stitched.index[-1]],
                              **experiment.backtest.keywords())
        write_report(result, folder)
        return format_report(result)


def load_period(data: DataFiles) -> pd.DataFrame:
    """One file's bars, loaded and checked by load_bars, cut to [start, end]."""
    bars = load_bars(data.path)
    period = bars.loc[data.start:data.end]
    if len(period) == 0:
        raise BarsError(f"{data.path}: no bars in {data.start or 'the start'} .. {data.end or 'the end'} "
                        f"(expected a period within {bars.index[0]} .. {bars.index[-1]})")
    return period


def fold_ranges(dataset: Dataset, fold: Fold, task: Task) -> dict[str, Any]:
    """A row's fold, seed and [first, last] times of its train, validation and test parts."""
    return {"fold": fold.number, "seed": task.seed, "train": list(dataset.train.time_range),
            "val": list(dataset.val.time_range), "test": list(dataset.test.time_range)}


def model_row(experiment: ExperimentFile, task: Task, ranges: dict[str, Any]) -> dict[str, Any]:
    """A model task's row's first fields: the model (`surrogate` on a surrogate), the surrogate, the fold's ranges."""
    return {"model": experiment.model.name if task.surrogate is None else "surrogate", "surrogate": task.surrogate,
            **ranges}


def _baseline_scores(name: str, dataset: Dataset, bars: pd.DataFrame, experiment: ExperimentFile) -> dict[str, float]:
    labels, trading = experiment.labels.spec, experiment.backtest
    if name == BUY_AND_HOLD:
        times = dataset.test.times
        return buy_and_hold_scores(bars.loc[times[0]:times[-1]], trading)
    frame = prediction_frame(baseline_predictions(name, dataset), dataset.test.times, labels)
    y = first_target(dataset, dataset.test)
    return {**score(frame, y, labels, bars), **trade(frame, bars, labels, trading.keywords(), name=name)}


# ------------------------------------------------------------------------------------------------ registry

L = TypeVar("L", bound=type[Layout])

_REGISTRY: dict[str, type[Layout]] = {}


def register_layout(layout: L) -> L:
    """Register a layout class under its `name`."""
    if layout.name in _REGISTRY:
        raise ValueError(f"layout {layout.name!r} is registered twice ({_REGISTRY[layout.name].__module__})")
    _REGISTRY[layout.name] = layout
    return layout


def list_layouts() -> list[str]:
    return sorted(_REGISTRY)


def layout_of(experiment: ExperimentFile) -> Layout:
    """The layout that runs `experiment`, checked against it (SettingsError naming the key): the one that reads the
    samples its model's declared inputs ask for, from one file or several.

    A net of one (T, F) input reads one-day intraday blocks when the file has an `intraday:` section (as
    `train --bars-per-day` makes it), else windows of bars.
    """
    model = experiment.model
    inputs: dict[str, tuple[int | None, ...]] = {}
    if model.is_spec_file and not Path(model.name).is_file():
        # Its inputs are unknown until it exists; training says it is missing, unless a key needs them now.
        keys = [key for key in _owners() if getattr(experiment, key) not in (None, False)]
        if keys:
            raise SettingsError(f"model.name: {model.name}: no such spec file (expected one beside {', '.join(keys)}, "
                                "whose use its inputs decide)")
        samples = WINDOWS
    else:
        inputs = declared_inputs(model.name)
        samples = input_layout(inputs, bars_per_day=1 if experiment.intraday is not None else None)
    found = [layout for layout in _REGISTRY.values() if layout.samples == samples]
    chosen = next((layout for layout in found if layout.several in (None, experiment.data.is_panel)), found[0])
    layout = chosen(inputs)
    try:
        layout.check(experiment)
    except ValueError as exc:
        raise SettingsError(str(exc)) from None
    return layout


def _owners() -> dict[str, type[Layout]]:
    """{key: the layout that reads it} for every layout's own keys."""
    return {key: layout for layout in _REGISTRY.values() for key in layout.keys}
