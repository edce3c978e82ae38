"""The layouts of several symbols (factor images, traded on the first; panels, ranked across the symbols) and the
panel's data, scores and ranking backtest.

The symbol is each file's stem; the symbols' bars are aligned on the dates they all have, so walk-forward
positions count *dates*: a fold's parts are date ranges, and the embargo drops whole dates (>= the label
horizon h, so no training label reads a test date's bars).

`Panel`: each symbol's windows, stacked by date then symbol (scaler fitted on every symbol's fit rows), labelled
by any single-series rule or `cross_sectional`: 1 when a symbol's h-bar forward return beats the universe's
median on date t (reading bars t+1 .. t+h of every symbol, none after); `symbol_embedding` appends one-hot
symbol channels to every window row, so the net's first layer learns a vector per symbol. `Pairs`: the ranking
net (`rank`) trains on pairs of the symbols (models/pairs.py; a date's pairs stay together), scored on the test
pairs; its exported scorer scores every symbol's factor row per test date, which the IC and the backtest read.

Scores (`panel_score`): accuracy ... Brier of the pooled test samples; IC and rank IC per date across symbols,
averaged over the test dates as Qlib does, with ICIR and rank ICIR (mean / std of the daily values). Trading
(`trade_panel`): `run_ranking` on the scores, holding the top_k (default half the universe) equally weighted,
rebalanced every `rebalance` bars (default h): per fold for the metrics, and in the report on each seed's stitched
scores (`Ranked.backtest`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from signalstack.core.bars import BarsError, load_bars
from signalstack.core.card import TensorInfo
from signalstack.core.errors import InvalidInput, SettingsError
from signalstack.core.features import FeatureSpec, compute_features
from signalstack.core.labels import LabelSpec, forward_returns, make_labels
from signalstack.models.metrics import regression_metrics
from signalstack.models.pipeline import IMAGES, PAIRS, READS, WINDOWS, Bars
from signalstack.models.train import predict
from signalstack.models.windows import Dataset, WindowSet, fit_scaler, make_windows
from signalstack.plugin.ranking import RankingResult, run_ranking
from signalstack.plugin.sources import PrecomputedSource

from .. import charts
from ..baselines import BUY_AND_HOLD, baseline_predictions
from ..metrics import class_scores, prediction_frame, trading_scores
from ..report import Curve, ICOverTime, Results, ic_statistics, line_name
from ..settings import Backtest, DataFiles, ExperimentFile
from ..surrogates import make_surrogate
from ..walkforward import Fold, bars_input, plan_folds
from .base import Context, Layout, Outcome, Plan, Task, fold_ranges, model_row, register_layout
from .series import Built

IC_SMOOTHING = 20
"""Dates per rolling mean of a panel's daily IC in the report's chart (the daily values are noisy)."""

SymbolBars = dict[str, pd.DataFrame]
"""{symbol: bars}, every frame on the same dates."""


def symbol_of(path: str) -> str:
    """A panel member's symbol: the file's stem (sample:NAME gives NAME)."""
    return path.split(":", 1)[1] if path.startswith("sample:") else Path(path).stem


def align(panel: Mapping[str, pd.DataFrame]) -> SymbolBars:
    """The symbols' bars on the dates they all have, in the given symbol order."""
    common = None
    for bars in panel.values():
        common = bars.index if common is None else common.intersection(bars.index)
    if common is None or len(common) == 0:
        raise BarsError(f"panel {', '.join(panel)}: no date that every symbol has")
    return {symbol: bars.loc[common] for symbol, bars in panel.items()}


def load_panel(data: DataFiles) -> SymbolBars:
    """Every member's bars, cut to [start, end] and aligned on their common dates."""
    panel: SymbolBars = {}
    for path in data.paths:
        symbol = symbol_of(path)
        if symbol in panel:
            raise BarsError(
                f"panel: two files named {symbol!r} (the symbol is the file's stem: expected distinct names)"
            )
        panel[symbol] = load_bars(path).loc[data.start : data.end]
    return align(panel)


def cross_sectional_rule(horizon: int) -> str:
    """The cross-sectional label rule in words, as metrics.json and the fold models' cards record it."""
    return f"up if close[t+{horizon}]/close[t] - 1 beats the universe's median on date t, else down"


def cross_sectional_labels(panel: Mapping[str, pd.DataFrame], horizon: int) -> pd.DataFrame:
    """Dates x symbols: 1.0 when the symbol's forward return close[t+h] / close[t] - 1 beats the universe's median
    on date t, else 0.0; NaN for the last h dates (their future is unknown). Reads bars t+1 .. t+h only."""
    forward = pd.DataFrame(
        {s: forward_returns(b["close"].to_numpy(dtype="float64"), horizon) for s, b in panel.items()},
        index=next(iter(panel.values())).index,
    )
    median = forward.median(axis=1, skipna=False)
    labels = forward.gt(median, axis=0).astype("float64")
    return labels.where(forward.notna().all(axis=1), np.nan)


def panel_forward_returns(panel: Mapping[str, pd.DataFrame], horizon: int) -> pd.DataFrame:
    """Dates x symbols: close[t+h] / close[t] - 1 (NaN for the last h dates)."""
    return pd.DataFrame(
        {s: forward_returns(b["close"].to_numpy(dtype="float64"), horizon) for s, b in panel.items()},
        index=next(iter(panel.values())).index,
    )


@dataclass(frozen=True)
class PanelWindows:
    """Every symbol's samples, stacked in date order (symbols in panel order within a date)."""

    windows: WindowSet
    symbols: np.ndarray
    """The symbol of each sample."""
    dates: pd.DatetimeIndex
    """The distinct sample dates, increasing: walk-forward positions index these."""
    position: np.ndarray
    """Each sample's date position in `dates`."""
    columns: tuple[str, ...]
    """The names along the windows' last axis: the features, then symbol=NAME channels with an embedding."""

    def take_dates(self, part: slice) -> np.ndarray:
        """A boolean mask of the samples whose date position lies in `part`."""
        return (self.position >= part.start) & (self.position < part.stop)


def panel_windows(
    panel: Mapping[str, pd.DataFrame],
    features: FeatureSpec,
    labels: LabelSpec,
    window: int,
    cross_sectional: bool = False,
    embedding: bool = False,
) -> PanelWindows:
    """Each symbol's windows (its own features, the label rule's targets), stacked by date; only dates on which
    every symbol has a sample are kept, so every date is a full cross-section. With `embedding`, one-hot symbol
    channels follow the features in every row."""
    targets = cross_sectional_labels(panel, labels.horizon) if cross_sectional else None
    sets = {}
    for symbol, bars in panel.items():
        y = targets[symbol] if targets is not None else make_labels(bars, labels)
        sets[symbol] = make_windows(compute_features(bars, features), y, window, first=features.warmup)
    common = None
    for ws in sets.values():
        common = ws.times if common is None else common.intersection(ws.times)
    if common is None or len(common) == 0:
        raise InvalidInput("panel: no sample date shared by every symbol")
    xs, ys, times, symbols = [], [], [], []
    for i, (symbol, ws) in enumerate(sets.items()):
        keep = ws.times.isin(common)
        x = ws.x[keep]
        if embedding:
            onehot = np.zeros((*x.shape[:2], len(sets)), dtype=x.dtype)
            onehot[:, :, i] = 1.0
            x = np.concatenate([x, onehot], axis=2)
        xs.append(x)
        ys.append(ws.y[keep])
        times.append(ws.times[keep].values)
        symbols.append(np.full(int(keep.sum()), symbol, dtype=object))
    stamps = np.concatenate(times)
    order = np.argsort(stamps, kind="stable")  # date order; the panel's symbol order within a date
    index = pd.DatetimeIndex(stamps[order]).rename("time")
    x, y = np.concatenate(xs)[order], np.concatenate(ys)[order]
    dates, position = np.unique(index.values, return_inverse=True)
    columns = tuple(features.columns) + (tuple(f"symbol={s}" for s in sets) if embedding else ())
    return PanelWindows(
        WindowSet(x, y, index),
        np.concatenate(symbols)[order],
        pd.DatetimeIndex(dates).rename("time"),
        position,
        columns,
    )


def panel_dataset(
    pw: PanelWindows, fold: Fold, *, features: FeatureSpec, labels: LabelSpec, window: int, embargo: int
) -> tuple[Dataset, np.ndarray]:
    """The fold's fit / validation / test samples (date ranges) with a scaler fitted on its fit rows; the test
    samples' symbols."""
    fit = pw.windows.take(pw.take_dates(fold.fit))
    test = pw.take_dates(fold.test)
    dataset = Dataset(
        fit,
        pw.windows.take(pw.take_dates(fold.val)),
        pw.windows.take(test),
        features=features,
        labels=labels,
        window=window,
        embargo=embargo,
        scalers={"features": fit_scaler(fit.x)},
        inputs=(
            bars_input(features, window)
            if pw.columns == tuple(features.columns)
            else TensorInfo("features", (window, len(pw.columns)), columns=pw.columns),
        ),
    )
    return dataset, pw.symbols[test]


def score_column(labels: LabelSpec) -> str:
    """The prediction column a panel ranks on: p_up, or the forecast."""
    return "up" if labels.is_classification else "forecast"


def daily_ic(frame: pd.DataFrame, score: str = "score", target: str = "forward_return") -> pd.DataFrame:
    """Per date (the index) across its rows: Pearson and Spearman correlation of `score` with `target`
    (columns ic, rank_ic; NaN on a date with fewer than two finite pairs or a constant column)."""
    data = frame[[score, target]].dropna()
    data = data.assign(
        _score_rank=data.groupby(level=0)[score].rank(), _target_rank=data.groupby(level=0)[target].rank()
    )

    def corr(a: pd.Series, b: pd.Series) -> float:
        if len(a) < 2 or a.std() == 0 or b.std() == 0:
            return np.nan
        return float(np.corrcoef(a, b)[0, 1])

    rows = {t: (corr(g[score], g[target]), corr(g["_score_rank"], g["_target_rank"])) for t, g in data.groupby(level=0)}
    return pd.DataFrame.from_dict(rows, orient="index", columns=["ic", "rank_ic"]).rename_axis(frame.index.name)


def ic_summary(frame: pd.DataFrame, score: str = "score", target: str = "forward_return") -> dict[str, float]:
    """Mean daily IC and rank IC, and ICIR / rank ICIR (mean / std, ddof 1, of the daily values)."""
    daily = daily_ic(frame, score, target)
    out = {}
    for name, ir in (("ic", "icir"), ("rank_ic", "rank_icir")):
        values = daily[name].dropna()
        out[name] = float(values.mean()) if len(values) else np.nan
        std = float(values.std(ddof=1)) if len(values) > 1 else np.nan
        out[ir] = out[name] / std if std and np.isfinite(std) else np.nan
    return out


def panel_score(frame: pd.DataFrame, y: np.ndarray, labels: LabelSpec) -> dict[str, float]:
    """Skill of stacked test predictions (a prediction_frame with `symbol` and `forward_return` columns)."""
    column = score_column(labels)
    ics = ic_summary(frame.rename(columns={column: "score"}), "score")
    if not labels.is_classification:
        found = regression_metrics(frame["forecast"].to_numpy(), y)
        return {"mae": found["mae"], "rmse": found["rmse"], **ics}
    return {**class_scores(frame, y, labels), **ics}


def trade_panel(
    scores: pd.DataFrame, panel: Mapping[str, pd.DataFrame], trading: Backtest, horizon: int, name: str = "panel"
) -> tuple[dict[str, float], RankingResult]:
    """`run_ranking` over the symbols on `scores` (dates x symbols) during its own period: its `trading_scores`
    (total_return, sharpe, max_drawdown, fills), and the whole result (equity, fills, stats)."""
    start, end = scores.index[0], scores.index[-1]
    sources = {
        symbol: PrecomputedSource(
            scores[[symbol]].rename(columns={symbol: "score"}), horizon=horizon, name=f"{name} {symbol}"
        )
        for symbol in panel
    }
    result = run_ranking(
        sources,
        {symbol: bars.loc[start:end] for symbol, bars in panel.items()},
        top_k=top_k(trading, panel),
        rebalance=trading.rebalance or horizon,
        stake=trading.stake,
        line="score",
        start=start,
        cash=trading.cash,
        commission=trading.commission,
        slippage=trading.slippage,
        periods_per_year=trading.periods_per_year,
    )
    return trading_scores(result.stats, len(result.fills)), result


def top_k(trading: Backtest, panel: Mapping[str, pd.DataFrame]) -> int:
    """The symbols a ranking backtest holds: the section's top_k, else half the universe."""
    return trading.top_k or max(1, len(panel) // 2)


def score_table(frame: pd.DataFrame, labels: LabelSpec) -> pd.DataFrame:
    """Dates x symbols of the ranking score, from stacked predictions with a `symbol` column."""
    return frame.pivot_table(
        index=frame.index, columns="symbol", values=score_column(labels), aggfunc="mean", sort=False
    )


def symbol_scores(
    scorer: Any, panel: Mapping[str, pd.DataFrame], features: FeatureSpec, dates: pd.DatetimeIndex
) -> pd.DataFrame:
    """Dates x symbols: the ranking net's exported scorer on each symbol's factor row of each date (features over
    the symbol's whole series, so a row reads bars <= its date, as the pairs it trained on did)."""
    columns = {}
    for symbol, bars in panel.items():
        rows = compute_features(bars, features).reindex(dates).to_numpy(dtype="float32", copy=True)
        columns[symbol] = np.asarray(predict(scorer, rows)).reshape(len(dates))
    return pd.DataFrame(columns, index=dates).rename_axis(columns="symbol")


# ------------------------------------------------------------------------------------------- layouts


class Symbols(Layout):
    """A layout that reads every file of data.path as a symbol: {symbol: bars} on the dates they share."""

    def load(self, experiment: ExperimentFile) -> tuple[Bars, pd.DataFrame | None]:
        return load_panel(experiment.data), None

    def series(self, context: Context, surrogate: int | None) -> Bars:
        """The real symbols, or surrogate number `surrogate`: each symbol's own surrogate, drawn independently."""
        if surrogate is None:
            return context.bars
        s, n = context.experiment.surrogates, len(context.bars)
        return align(
            {
                symbol: make_surrogate(bars, s.kind, surrogate * n + i, block=s.block, seed=s.seed)
                for i, (symbol, bars) in enumerate(context.bars.items())
            }
        )


@register_layout
class FactorImages(Symbols, Built):
    """inception: each symbol's factor image (`window` days x features, reshaped by `image`), one channel per
    symbol of data.path (one CSV or a list), labelled and traded on the first. Positions count dates."""

    name = samples = IMAGES
    reads = READS[IMAGES]
    several = None
    keys = ("image",)

    def builder(self, experiment: ExperimentFile, bars: Bars, fundamentals: pd.DataFrame | None) -> dict[str, Any]:
        return {"image": None if experiment.image is None else tuple(experiment.image)}

    def trading_bars(self, bars: Bars) -> pd.DataFrame:
        return next(iter(bars.values()))


class Ranked(Symbols):
    """A layout traded by ranking the symbols: scored across them per date (with ICIRs), its report the ranking
    backtest."""

    several = True
    ranking = True
    extra_metrics = ("icir", "rank_icir")

    def check(self, experiment: ExperimentFile) -> None:
        super().check(experiment)
        if experiment.labels.kind == "path":
            raise ValueError(
                "labels.kind: 'path' on a panel, expected one series (a panel ranks the symbols on one "
                "score: binary, three, regression or cross_sectional)"
            )

    def column(self, experiment: ExperimentFile) -> str:
        """The predictions' column the symbols are ranked on: p_up, or the forecast."""
        return score_column(experiment.labels.spec)

    def describe(self, experiment: ExperimentFile, bars: Bars, plan: Plan) -> dict[str, Any]:
        return {
            **super().describe(experiment, bars, plan),
            "symbols": list(bars),
            "dates": plan.positions,
            "symbol_embedding": experiment.symbol_embedding,
        }

    def backtest_rule(self, results: Results) -> str:
        experiment, bars = results.experiment, results.bars
        column = self.column(experiment)
        return (
            f"RankingStrategy over {len(bars)} symbols ({', '.join(bars)}): top {top_k(experiment.backtest, bars)} "
            f"by {'the scorer' if column == 'score' else line_name(column)}, rebalanced every "
            f"{experiment.backtest.rebalance or experiment.labels.horizon} bars"
        )

    def backtest(self, results: Results, rows: pd.DataFrame, name: str, kind: str) -> tuple[Curve, Curve]:
        """`rows` (stitched per-symbol predictions) ranked by RankingStrategy over their dates, and the universe held
        in equal weights over the same bars."""
        experiment, bars = results.experiment, results.bars
        scores = rows.pivot_table(
            index=rows.index, columns="symbol", values=self.column(experiment), aggfunc="mean", sort=True
        )
        scores = scores[[s for s in bars if s in scores.columns]]
        _, ranked = trade_panel(
            scores,
            bars,
            experiment.backtest,
            experiment.labels.horizon,
            name=f"{experiment.model.name} walk-forward {name}",
        )
        held = Curve.of("buy & hold (equal weight)", charts.BENCHMARK, ranked.equity["equal_weight"], ranked.benchmark)
        return Curve.of(name, kind, ranked.equity["strategy"], ranked.stats, ranked.trades, ranked.fills), held

    def ic_over_time(self, results: Results) -> ICOverTime:
        """A date's IC across the symbols (`daily_ic`), as the metrics' IC averages it; drawn as a rolling mean."""
        column, horizon = self.column(results.experiment), results.experiment.labels.horizon
        values, summary, windows = {}, {}, set()
        for seed, rows in results.predictions.groupby("seed", sort=True):
            daily = daily_ic(rows.sort_index(), column)["ic"]
            window = min(IC_SMOOTHING, max(len(daily) // 4, 1))
            windows.add(window)
            values[f"seed {seed}"] = daily.rolling(window, min_periods=window).mean()
            summary[f"seed {seed}"] = ic_statistics(daily.tolist())
        window = "/".join(str(w) for w in sorted(windows))
        definition = (
            f"The IC of a date is the Pearson correlation, across the {len(results.bars)} symbols, of "
            f"{line_name(column)} with each symbol's forward return close[t+{horizon}]/close[t] - 1 (the "
            "metrics' IC is its mean over each fold's test dates). The chart draws each seed's "
            f"{window}-date rolling mean of it; the ICIR is the mean over the std (ddof 1) of the daily "
            "values over each seed's stitched test dates (n: dates)."
        )
        return ICOverTime(pd.DataFrame(values), pd.DataFrame(summary).T, definition)


@register_layout
class Panel(Ranked):
    """Windows of every symbol of a panel, stacked by date: one model reads every symbol (beside one-hot symbol
    channels with `symbol_embedding`)."""

    name = "panel"
    samples = WINDOWS
    reads = "(window, features) windows of every symbol of a panel"
    keys = ("symbol_embedding",)

    def describe(self, experiment: ExperimentFile, bars: Bars, plan: Plan) -> dict[str, Any]:
        found = super().describe(experiment, bars, plan)
        if experiment.cross_sectional:
            found["labels"].update(kind="cross_sectional", rule=cross_sectional_rule(experiment.labels.horizon))
        return found

    def plan(self, experiment: ExperimentFile, bars: Bars, fundamentals: pd.DataFrame | None) -> Plan:
        pw = self._windows(experiment, bars)
        return Plan(len(pw.windows), plan_folds(experiment, len(pw.dates)), len(pw.dates))

    def fold(
        self, experiment: ExperimentFile, bars: Bars, fundamentals: pd.DataFrame | None, number: int
    ) -> tuple[Dataset, Fold]:
        dataset, fold, _ = self._fold(experiment, bars, number)
        return dataset, fold

    def run_task(self, context: Context, task: Task) -> Outcome:
        """A task's rows, and a real model's test predictions (with symbol, label, forward_return columns)."""
        experiment = context.experiment
        labels = experiment.labels.spec
        panel = self.series(context, task.surrogate)
        dataset, fold, symbols = self._fold(experiment, panel, task.fold)
        forward = panel_forward_returns(panel, labels.horizon).stack()
        forward_test = forward.reindex(pd.MultiIndex.from_arrays([dataset.test.times, symbols])).to_numpy()
        ranges = fold_ranges(dataset, fold, task)

        def scored(values: np.ndarray, name: str) -> tuple[dict[str, float], pd.DataFrame]:
            frame = prediction_frame(values, dataset.test.times, labels).assign(
                symbol=symbols, forward_return=forward_test
            )
            found, _ = trade_panel(score_table(frame, labels), panel, experiment.backtest, labels.horizon, name=name)
            return {**panel_score(frame, dataset.test.y, labels), **found}, frame

        if task.kind == "baselines":
            rows, frames = [], []
            for name in experiment.baselines:
                if name == BUY_AND_HOLD:
                    rows.append(_buy_and_hold(panel, dataset, experiment, ranges))
                    continue
                found, frame = scored(baseline_predictions(name, dataset), name)
                rows.append({"model": name, **ranges, **found})
                frames.append(frame.assign(fold=fold.number, baseline=name))
            return rows, pd.concat(frames) if frames else None
        result = self.train(context, task, dataset, extra=_label_record(experiment))
        if len(result.net.heads) != 1:
            raise SettingsError(
                f"model {experiment.model.name} has outputs {list(result.net.output_names)}: "
                "expected one output (a panel run ranks the symbols on one score)"
            )
        found, frame = scored(np.asarray(predict(result.net, dataset.x_of(dataset.test))), task.name)
        row = {**model_row(experiment, task, ranges), **found, "best_epoch": result.best_epoch}
        if task.surrogate is not None:
            return [row], None
        return [row], frame.assign(fold=fold.number, seed=task.seed, label=dataset.test.y)

    def _windows(self, experiment: ExperimentFile, panel: Bars) -> PanelWindows:
        return panel_windows(
            panel,
            experiment.features.spec,
            experiment.labels.spec,
            experiment.window,
            experiment.cross_sectional,
            experiment.symbol_embedding,
        )

    def _fold(self, experiment: ExperimentFile, panel: Bars, number: int) -> tuple[Dataset, Fold, np.ndarray]:
        """Fold `number`'s samples (date ranges of the stacked windows) and the test samples' symbols."""
        pw = self._windows(experiment, panel)
        fold = plan_folds(experiment, len(pw.dates))[number]
        dataset, symbols = panel_dataset(
            pw,
            fold,
            features=experiment.features.spec,
            labels=experiment.labels.spec,
            window=experiment.window,
            embargo=experiment.embargo,
        )
        return dataset, fold, symbols


@register_layout
class Pairs(Ranked, Built):
    """The ranking net's pairs of the panel's symbols, labelled 1 when the first stock's h-bar return beats the
    second's (binary labels only); `pairs_per_date` of them drawn per date (default all)."""

    name = samples = PAIRS
    reads = READS[PAIRS]
    keys = ("pairs_per_date",)

    def check(self, experiment: ExperimentFile) -> None:
        super().check(experiment)
        if experiment.labels.kind != "binary":
            raise ValueError(
                f"labels.kind: {experiment.labels.kind!r}, but model {experiment.model.name} reads "
                f"{self.reads}, labelled 1 when the first stock's h-bar return beats the second's: "
                "expected binary"
            )

    def column(self, experiment: ExperimentFile) -> str:
        return "score"

    def describe(self, experiment: ExperimentFile, bars: Bars, plan: Plan) -> dict[str, Any]:
        found = super().describe(experiment, bars, plan)
        found["labels"].update(kind="pair", rule=LabelSpec("pair", experiment.labels.horizon).rule)
        return found

    def builder(self, experiment: ExperimentFile, bars: Bars, fundamentals: pd.DataFrame | None) -> dict[str, Any]:
        return {"pairs_per_date": experiment.pairs_per_date}

    def run_task(self, context: Context, task: Task) -> Outcome:
        """Trained and scored on the fold's test pairs; its scorer's per-symbol scores on the test dates give the
        IC across symbols and the RankingStrategy backtest (predictions: symbol, score, forward_return)."""
        experiment = context.experiment
        horizon = experiment.labels.horizon
        panel = self.series(context, task.surrogate)
        dataset, fold = self.fold(experiment, panel, None, task.fold)
        pair_labels = next(iter(dataset.targets.values()))
        ranges = fold_ranges(dataset, fold, task)

        def pair_skill(values: np.ndarray) -> dict[str, float]:
            return class_scores(prediction_frame(values, dataset.test.times, pair_labels), dataset.test.y, pair_labels)

        if task.kind == "baselines":
            return [
                _buy_and_hold(panel, dataset, experiment, ranges)
                if name == BUY_AND_HOLD
                else {"model": name, **ranges, **pair_skill(baseline_predictions(name, dataset))}
                for name in experiment.baselines
            ], None
        result = self.train(context, task, dataset)
        dates = pd.DatetimeIndex(pd.unique(dataset.test.times)).rename("time")
        scores = symbol_scores(result.net.for_serving(), panel, experiment.features.spec, dates)
        frame = scores.stack().rename("score").reset_index("symbol")
        forward = panel_forward_returns(panel, horizon).stack()
        frame["forward_return"] = forward.reindex(pd.MultiIndex.from_arrays([frame.index, frame["symbol"]])).to_numpy()
        found, _ = trade_panel(scores, panel, experiment.backtest, horizon, name=task.name)
        skill = pair_skill(np.asarray(predict(result.net, dataset.x_of(dataset.test))))
        row = {
            **model_row(experiment, task, ranges),
            **skill,
            **ic_summary(frame, "score"),
            **found,
            "best_epoch": result.best_epoch,
        }
        return [row], frame.assign(fold=fold.number, seed=task.seed) if task.surrogate is None else None


def _buy_and_hold(
    panel: Mapping[str, pd.DataFrame], dataset: Dataset, experiment: ExperimentFile, ranges: dict[str, Any]
) -> dict[str, Any]:
    """The buy-and-hold baseline of a panel: the whole universe, equally weighted, over the test dates."""
    flat = pd.DataFrame(1.0, index=pd.DatetimeIndex(pd.unique(dataset.test.times)), columns=list(panel))
    holding = experiment.backtest.model_copy(update={"top_k": len(panel)})
    found, _ = trade_panel(flat, panel, holding, experiment.labels.horizon, name=BUY_AND_HOLD)
    return {"model": BUY_AND_HOLD, **ranges, **found}


def _label_record(experiment: ExperimentFile) -> dict[str, Any] | None:
    """The card fields that say a fold model learnt cross-sectional labels: the card's `label` is the binary
    spec of the same classes and horizon (a label spec has no cross-sectional kind), whose rule is not the one."""
    if not experiment.cross_sectional:
        return None
    horizon = experiment.labels.horizon
    return {"label_kind": "cross_sectional", "label_rule": cross_sectional_rule(horizon), "label_horizon": horizon}
