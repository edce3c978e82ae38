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
    write_report(...)        its section of report/index.html (`report.LayoutReport`: the stitched backtests of each
                             seed, the IC over time) and their files in report/

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
from signalstack.plugin.sources import PrecomputedSource
from signalstack.plugin.stats import signal_quality

from .. import charts
from ..baselines import BUY_AND_HOLD, baseline_predictions, first_target
from ..metrics import buy_and_hold_scores, prediction_frame, score, score_outputs, trade
from ..report import (
    BEST_BY,
    Curve,
    ICOverTime,
    LayoutReport,
    Results,
    curves_text,
    ic_statistics,
    line_name,
    stitched_runs,
    unfitted_note,
    write_curves,
)
from ..settings import RANKING, Backtest, DataFiles, ExperimentFile
from ..surrogates import make_surrogate
from ..walkforward import Fold, train_fold

IC_WINDOW = 63
"""Test samples per window of a single series' IC over time (a quarter of daily bars)."""

Outcome = tuple[list[dict[str, Any]], pd.DataFrame | None]
"""A task's rows (one per scored predictor), and its test predictions on the real bars: the model's, or the fitted
baselines' (a `baseline` column naming each)."""


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
    """A real model task's test predictions with fold, seed, label and forward_return columns; a baselines task's
    (on the real bars) are its fitted baselines', with fold and baseline columns (buy-and-hold has none)."""
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
                raise ValueError(
                    f"{key}: not used by this model, which reads {self.reads} (expected {key} only for "
                    f"a net that reads {owner.reads})"
                )
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
    def fold(
        self, experiment: ExperimentFile, bars: Bars, fundamentals: pd.DataFrame | None, number: int
    ) -> tuple[Dataset, Fold]:
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
            rows, frames = [], []
            for name in experiment.baselines:
                found, frame = _baseline_scores(name, dataset, bars, experiment)
                rows.append({"model": name, **ranges, **found})
                if frame is not None:
                    frames.append(frame.assign(fold=fold.number, baseline=name))
            return rows, pd.concat(frames) if frames else None
        result = self.train(context, task, dataset)
        outputs = as_named(predict(result.net, dataset.x_of(dataset.test)), next(iter(dataset.targets)))
        ys = dataset.y_of(dataset.test)
        frame, found = score_outputs(outputs, dataset.targets, ys, dataset.test.times, bars)
        labels = experiment.labels.spec
        row = {
            **model_row(experiment, task, ranges),
            **found,
            **trade(frame[labels.columns], bars, labels, experiment.backtest.keywords(), name=task.name),
            "best_epoch": result.best_epoch,
        }
        if task.surrogate is not None:
            return [row], None
        forward = pd.Series(forward_returns(bars["close"].to_numpy(), labels.horizon), index=bars.index)
        labelled: dict[str, np.ndarray] = {}
        for i, name in enumerate(dataset.targets):  # label.t+1 .. label.t+h for a path's h steps
            column, y = "label" if i == 0 else f"{name}_label", ys[name]
            labelled.update({column: y} if y.ndim == 1 else {f"{column}.t+{k + 1}": y[:, k] for k in range(y.shape[1])})
        return [row], frame.assign(
            fold=fold.number, seed=task.seed, **labelled, forward_return=forward.reindex(frame.index).to_numpy()
        )

    def train(self, context: Context, task: Task, dataset: Dataset, extra: dict[str, Any] | None = None) -> TrainResult:
        """The task's net trained on its fold's samples; a real run's, when the run exports, written to the models
        folder with its card (`extra`: more card fields). Surrogate runs are never exported."""
        experiment = context.experiment
        models = context.models if experiment.export and task.surrogate is None else None
        return train_fold(
            experiment,
            dataset,
            fold=task.fold,
            seed=task.seed,
            models=models,
            extra=extra,
            data_source=", ".join([*experiment.data.paths, *filter(None, [experiment.fundamentals])]),
            data_digest=context.data_digest,
        )

    def describe(self, experiment: ExperimentFile, bars: Bars, plan: Plan) -> dict[str, Any]:
        """metrics.json's "run" fields that say what the run read."""
        times = (next(iter(bars.values())) if isinstance(bars, Mapping) else bars).index
        return {
            "data": ", ".join(experiment.data.paths),
            "bars": [times[0].isoformat(), times[-1].isoformat()],
            "samples": plan.samples,
            "labels": experiment.labels.spec.to_dict(),
        }

    def column(self, experiment: ExperimentFile) -> str:
        """The predictions' column the backtest trades and the IC reads: p_up, or the (last step's) forecast."""
        labels = experiment.labels.spec
        return "up" if labels.is_classification else labels.columns[-1]

    def write_report(self, results: Results, folder: Path) -> LayoutReport:
        """Its section of report/index.html, with equity.csv, stats.json, trades.csv and fills.csv in `folder`: each
        of `report.stitched_runs` (every seed's stitched predictions alone, the seeds' mean only as an asked-for
        ensemble, the best fitted baseline's) traded by `backtest` over its out-of-sample period beside buy-and-hold,
        and the IC over time (`ic_over_time`)."""
        curves, benchmark = [], None
        for name, (kind, rows) in stitched_runs(results).items():
            curve, held = self.backtest(results, rows.sort_index(), name, kind)
            curves.append(curve)
            benchmark = benchmark or held
        curves.insert(sum(c.kind in (charts.SEED, charts.ENSEMBLE) for c in curves), benchmark)
        write_curves(curves, folder)
        times = results.predictions.index
        rule = f"{self.backtest_rule(results)}, {times.min().date()} .. {times.max().date()}"
        description = (
            f"{rule}. Each curve trades one seed's out-of-sample predictions of every fold, stitched in "
            "time, as one backtest (so positions carry across fold boundaries, and its figures differ "
            "from the per-fold ones above); buy & hold and the fitted baseline with the best mean "
            f"{BEST_BY} over the folds are traded over the same bars."
            + (
                " The ensemble curve trades the mean of the seeds' predictions, as the experiment asks "
                "(ensemble: true)."
                if results.experiment.ensemble
                else ""
            )
        )
        return LayoutReport(
            "Stitched out-of-sample backtests",
            description,
            f"{rule}:\n{curves_text(curves)}",
            curves,
            self.ic_over_time(results),
            unfitted_note(results),
        )

    def backtest_rule(self, results: Results) -> str:
        """The strategy the stitched predictions are traded by, in words."""
        trading = results.experiment.backtest
        return (
            f"SignalStrategy on {trading.line}: buy at >= {trading.buy_threshold}, sell at <= "
            f"{trading.sell_threshold}" + (", short allowed" if trading.allow_short else "")
        )

    def backtest(self, results: Results, rows: pd.DataFrame, name: str, kind: str) -> tuple[Curve, Curve]:
        """`rows` (stitched predictions, in time order) traded by SignalStrategy on the trading bars of their
        period, and buy-and-hold over the same bars."""
        experiment = results.experiment
        labels = experiment.labels.spec
        frame = rows[labels.columns]
        source = PrecomputedSource(frame, horizon=labels.horizon, name=f"{experiment.model.name} walk-forward {name}")
        traded = self.trading_bars(results.bars)
        result = run_backtest(source, traded.loc[frame.index[0] : frame.index[-1]], **experiment.backtest.keywords())
        return (
            Curve.of(name, kind, result.equity["strategy"], result.stats, result.trades, result.fills),
            Curve.of("buy & hold", charts.BENCHMARK, result.equity["buy_and_hold"], result.benchmark),
        )

    def ic_over_time(self, results: Results) -> ICOverTime:
        """One series has one prediction per date, so no cross-section to correlate on a date: each seed's IC at a
        date is the correlation over the `IC_WINDOW` (at most a quarter of its) test samples up to it, and the ICIR
        is taken over non-overlapping windows, overlapping ones not being independent."""
        column, horizon = self.column(results.experiment), results.experiment.labels.horizon
        close = self.trading_bars(results.bars)["close"]
        values, summary, windows = {}, {}, set()
        for seed, rows in results.predictions.groupby("seed", sort=True):
            rows = rows.sort_index()
            window = min(IC_WINDOW, max(len(rows) // 4, 3))
            windows.add(window)
            line, forward = rows[column], rows["forward_return"]
            values[f"seed {seed}"] = line.rolling(window).corr(forward).replace([np.inf, -np.inf], np.nan)
            blocks = [
                signal_quality(line.iloc[i : i + window], close, horizon, probability=False)["ic_pearson"]
                for i in range(0, len(rows) - window + 1, window)
            ]
            summary[f"seed {seed}"] = ic_statistics(blocks)
        window = "/".join(str(w) for w in sorted(windows))
        definition = (
            "One series has one prediction per date, so there is no cross-section to correlate on a "
            f"date: here the IC of a date t is the Pearson correlation of {line_name(column)} with the "
            f"forward return close[t+{horizon}]/close[t] - 1 over the {window} test samples up to t (a "
            "trailing window over each seed's stitched out-of-sample predictions; known only once those "
            "returns are). The ICIR is the mean over the std (ddof 1) of the ICs of consecutive "
            f"non-overlapping {window}-sample windows (n: those windows), since overlapping windows are not "
            "independent; the metrics' IC is instead one correlation over each fold's whole test period."
        )
        return ICOverTime(pd.DataFrame(values), pd.DataFrame(summary).T, definition)


def load_period(data: DataFiles) -> pd.DataFrame:
    """One file's bars, loaded and checked by load_bars, cut to [start, end]."""
    bars = load_bars(data.path)
    period = bars.loc[data.start : data.end]
    if len(period) == 0:
        raise BarsError(
            f"{data.path}: no bars in {data.start or 'the start'} .. {data.end or 'the end'} "
            f"(expected a period within {bars.index[0]} .. {bars.index[-1]})"
        )
    return period


def fold_ranges(dataset: Dataset, fold: Fold, task: Task) -> dict[str, Any]:
    """A row's fold, seed and [first, last] times of its train, validation and test parts."""
    return {
        "fold": fold.number,
        "seed": task.seed,
        "train": list(dataset.train.time_range),
        "val": list(dataset.val.time_range),
        "test": list(dataset.test.time_range),
    }


def model_row(experiment: ExperimentFile, task: Task, ranges: dict[str, Any]) -> dict[str, Any]:
    """A model task's row's first fields: the model (`surrogate` on a surrogate), the surrogate, the fold's ranges."""
    return {
        "model": experiment.model.name if task.surrogate is None else "surrogate",
        "surrogate": task.surrogate,
        **ranges,
    }


def _baseline_scores(
    name: str, dataset: Dataset, bars: pd.DataFrame, experiment: ExperimentFile
) -> tuple[dict[str, float], pd.DataFrame | None]:
    """A baseline's scores on the fold's test samples, and its predictions (none for buy-and-hold)."""
    labels, trading = experiment.labels.spec, experiment.backtest
    if name == BUY_AND_HOLD:
        times = dataset.test.times
        return buy_and_hold_scores(bars.loc[times[0] : times[-1]], trading), None
    frame = prediction_frame(baseline_predictions(name, dataset), dataset.test.times, labels)
    y = first_target(dataset, dataset.test)
    return {**score(frame, y, labels, bars), **trade(frame, bars, labels, trading.keywords(), name=name)}, frame


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
            raise SettingsError(
                f"model.name: {model.name}: no such spec file (expected one beside {', '.join(keys)}, "
                "whose use its inputs decide)"
            )
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
