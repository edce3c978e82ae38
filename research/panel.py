"""Panel data: several symbols train one model, scored across symbols on each date and traded by ranking.

An experiment whose `data.path` is a list of CSV files is a panel (the symbol is each file's stem).
The symbols' bars are aligned on the dates they all have; each symbol's windows are built with the
same feature spec, as a single series' are, and stacked, ordered by date then by symbol. Walk-forward
positions count *dates*, not samples: a fold's fit, validation and test parts are date ranges, so one
date never lands in two parts, and the embargo drops whole dates (>= the label horizon h, so no
training label reads a test date's bars). The scaler is fitted on the fit rows of every symbol.

Labels: any single-series rule applied to each symbol, or `cross_sectional`: 1 when a symbol's h-bar
forward return close[t+h] / close[t] - 1 beats the universe's median return over the same bars on
date t, else 0 (so it reads bars t+1 .. t+h of every symbol, none after).

Scores (`panel_score`): accuracy, balanced accuracy, ROC AUC, log loss and Brier of the pooled test
samples; IC and rank IC per date across symbols (Pearson and Spearman correlation of p_up, or the
forecast, with the forward returns), averaged over the test dates, as Qlib does, with ICIR and rank
ICIR (mean / std of the daily values). Trading (`trade_panel`): `run_ranking` over the symbols,
one PrecomputedSource per symbol whose `score` column is p_up (or the forecast), holding the top_k
(default half the universe) equally weighted, rebalanced every `rebalance` bars (default h).

`symbol_embedding: true` appends one-hot symbol channels to every window row, so the net's first layer
learns a vector per symbol (the zoo's nets take one window input, so the symbol travels in it rather
than through a separate embedding layer); without it one model reads every symbol alike.

The ranking net (`rank`, a pair of inputs) trains on pairs of the panel's symbols (models/pairs.py,
built per fold with the fold's split: walkforward.built_fold); its positions count dates too. It is
scored on the test pairs (accuracy ... Brier of P(first beats second)), and its exported scorer
scores every symbol's newest factor row on each test date: IC, rank IC and their ICIR across the
symbols, and the RankingStrategy backtest, read those scores (`score` in predictions.csv).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from signalstack.core.bars import BarsError, load_bars
from signalstack.core.card import TensorInfo
from signalstack.core.features import FeatureSpec, compute_features
from signalstack.core.labels import LabelSpec, forward_returns, make_labels
from signalstack.models.metrics import regression_metrics
from signalstack.models.train import predict
from signalstack.models.windows import Dataset, WindowSet, fit_scaler, make_windows
from signalstack.plugin import defaults as plugin_defaults
from signalstack.plugin.ranking import RankingResult, run_ranking
from signalstack.plugin.sources import PrecomputedSource

from .baselines import BUY_AND_HOLD, baseline_predictions
from .experiment import Data, Experiment
from .metrics import TRADING_METRICS, aggregate, class_scores, prediction_frame, versus_surrogates
from .summary import write_folds
from .surrogates import make_surrogate
from .walkforward import Fold, bars_input, built_fold, export_folder, plan_built, train_fold, walk_forward

Panel = dict[str, pd.DataFrame]
"""{symbol: bars}, every frame on the same dates."""

PANEL_EXTRA = ("icir", "rank_icir")
"""The metrics a panel reports beside metric_names(labels)."""


# ---------------------------------------------------------------------------------------------- data

def symbol_of(path: str) -> str:
    """A panel member's symbol: the file's stem (sample:NAME gives NAME)."""
    return path.split(":", 1)[1] if path.startswith("sample:") else Path(path).stem


def align(panel: Mapping[str, pd.DataFrame]) -> Panel:
    """The symbols' bars on the dates they all have, in the given symbol order."""
    common = None
    for bars in panel.values():
        common = bars.index if common is None else common.intersection(bars.index)
    if common is None or len(common) == 0:
        raise BarsError(f"panel {', '.join(panel)}: no date that every symbol has")
    return {symbol: bars.loc[common] for symbol, bars in panel.items()}


def load_panel(data: Data) -> Panel:
    """Every member's bars, cut to [start, end] and aligned on their common dates."""
    panel: Panel = {}
    for path in data.path:
        symbol = symbol_of(path)
        if symbol in panel:
            raise BarsError(f"panel: two files named {symbol!r} (the symbol is the file's stem: expected distinct "
                            "names)")
        panel[symbol] = load_bars(path).loc[data.start:data.end]
    return align(panel)


def cross_sectional_rule(horizon: int) -> str:
    """The cross-sectional label rule in words, as metrics.json and the fold models' cards record it."""
    return f"up if close[t+{horizon}]/close[t] - 1 beats the universe's median on date t, else down"


def cross_sectional_labels(panel: Mapping[str, pd.DataFrame], horizon: int) -> pd.DataFrame:
    """Dates x symbols: 1.0 when the symbol's forward return close[t+h] / close[t] - 1 beats the universe's median
    on date t, else 0.0; NaN for the last h dates (their future is unknown). Reads bars t+1 .. t+h only."""
    forward = pd.DataFrame({s: forward_returns(b["close"].to_numpy(dtype="float64"), horizon)
                            for s, b in panel.items()}, index=next(iter(panel.values())).index)
    median = forward.median(axis=1, skipna=False)
    labels = forward.gt(median, axis=0).astype("float64")
    return labels.where(forward.notna().all(axis=1), np.nan)


def panel_forward_returns(panel: Mapping[str, pd.DataFrame], horizon: int) -> pd.DataFrame:
    """Dates x symbols: close[t+h] / close[t] - 1 (NaN for the last h dates)."""
    return pd.DataFrame({s: forward_returns(b["close"].to_numpy(dtype="float64"), horizon)
                         for s, b in panel.items()}, index=next(iter(panel.values())).index)


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


def panel_windows(panel: Mapping[str, pd.DataFrame], features: FeatureSpec, labels: LabelSpec, window: int,
                  cross_sectional: bool = False, embedding: bool = False) -> PanelWindows:
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
        raise ValueError("panel: no sample date shared by every symbol")
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
    return PanelWindows(WindowSet(x, y, index), np.concatenate(symbols)[order],
                        pd.DatetimeIndex(dates).rename("time"), position, columns)


def panel_dataset(pw: PanelWindows, fold: Fold, *, features: FeatureSpec, labels: LabelSpec, window: int,
                  embargo: int) -> tuple[Dataset, np.ndarray]:
    """The fold's fit / validation / test samples (date ranges) with a scaler fitted on its fit rows; the test
    samples' symbols."""
    fit = pw.windows.take(pw.take_dates(fold.fit))
    test = pw.take_dates(fold.test)
    dataset = Dataset(fit, pw.windows.take(pw.take_dates(fold.val)), pw.windows.take(test), features=features,
                      labels=labels, window=window, embargo=embargo, scalers={"features": fit_scaler(fit.x)},
                      inputs=(bars_input(features, window) if pw.columns == tuple(features.columns) else
                              TensorInfo("features", (window, len(pw.columns)), columns=pw.columns),))
    return dataset, pw.symbols[test]


# ------------------------------------------------------------------------------------------- scores

def score_column(labels: LabelSpec) -> str:
    """The prediction column a panel ranks on: p_up, or the forecast."""
    return "up" if labels.is_classification else "forecast"


def daily_ic(frame: pd.DataFrame, score: str = "score", target: str = "forward_return") -> pd.DataFrame:
    """Per date (the index) across its rows: Pearson and Spearman correlation of `score` with `target`
    (columns ic, rank_ic; NaN on a date with fewer than two finite pairs or a constant column)."""
    data = frame[[score, target]].dropna()
    data = data.assign(_score_rank=data.groupby(level=0)[score].rank(),
                       _target_rank=data.groupby(level=0)[target].rank())

    def corr(a: pd.Series, b: pd.Series) -> float:
        if len(a) < 2 or a.std() == 0 or b.std() == 0:
            return np.nan
        return float(np.corrcoef(a, b)[0, 1])

    rows = {t: (corr(g[score], g[target]), corr(g["_score_rank"], g["_target_rank"]))
            for t, g in data.groupby(level=0)}
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


def trade_panel(scores: pd.DataFrame, panel: Mapping[str, pd.DataFrame], options: Mapping[str, Any], horizon: int,
                name: str = "panel") -> tuple[dict[str, float], RankingResult]:
    """`run_ranking` over the symbols on `scores` (dates x symbols) during its own period: total_return, sharpe,
    max_drawdown, and the whole result (equity, fills, stats)."""
    options = dict(options)
    top_k = int(options.pop("top_k", max(1, len(panel) // 2)))
    rebalance = int(options.pop("rebalance", horizon))
    cash = float(options.pop("cash", plugin_defaults.CASH))
    commission = float(options.pop("commission", plugin_defaults.COMMISSION))
    slippage = float(options.pop("slippage", plugin_defaults.SLIPPAGE))
    stake = float(options.pop("stake", plugin_defaults.STAKE))
    periods_per_year = options.pop("periods_per_year", None)
    if options:
        raise ValueError(f"panel backtest keywords {sorted(options)}: expected among top_k, rebalance, cash, "
                         "commission, slippage, stake, periods_per_year")
    start, end = scores.index[0], scores.index[-1]
    sources = {symbol: PrecomputedSource(scores[[symbol]].rename(columns={symbol: "score"}), horizon=horizon,
                                         name=f"{name} {symbol}") for symbol in panel}
    result = run_ranking(sources, {symbol: bars.loc[start:end] for symbol, bars in panel.items()}, top_k=top_k,
                         rebalance=rebalance, stake=stake, line="score", start=start, cash=cash,
                         commission=commission, slippage=slippage, periods_per_year=periods_per_year)
    return {key: float(result.stats[key]) for key in TRADING_METRICS}, result


def score_table(frame: pd.DataFrame, labels: LabelSpec) -> pd.DataFrame:
    """Dates x symbols of the ranking score, from stacked predictions with a `symbol` column."""
    return frame.pivot_table(index=frame.index, columns="symbol", values=score_column(labels), aggfunc="mean",
                             sort=False)


# --------------------------------------------------------------------------------------------- tasks

def panel_series(context: Any, surrogate: int | None) -> Panel:
    """The real panel, or surrogate number `surrogate`: each symbol's own surrogate, drawn independently."""
    panel = context.bars
    if surrogate is None:
        return panel
    s = context.experiment.surrogates
    n = len(panel)
    return align({symbol: make_surrogate(bars, s.kind, surrogate * n + i, block=s.block, seed=s.seed)
                  for i, (symbol, bars) in enumerate(panel.items())})


def plan_panel(experiment: Experiment, panel: Mapping[str, pd.DataFrame]) -> tuple[PanelWindows, list[Fold]]:
    """The panel's stacked windows and its walk-forward folds over dates (tasks.plan_folds' layout)."""
    pw = panel_windows(panel, experiment.features, experiment.labels, experiment.window, experiment.cross_sectional,
                       experiment.symbol_embedding)
    wf = experiment.walk_forward
    return pw, walk_forward(len(pw.dates), train=wf.train, test=wf.test, step=wf.step, embargo=experiment.embargo,
                            expanding=wf.expanding, val=wf.val)


def run_panel_task(context: Any, task: Any) -> tuple[list[dict[str, Any]], pd.DataFrame | None]:
    """A panel task's rows, and a real model's test predictions (with symbol, label, forward_return columns)."""
    experiment = context.experiment
    if experiment.layout == "pairs":
        return _run_pairs_task(context, task)
    labels = experiment.labels
    panel = panel_series(context, task.surrogate)
    pw, folds = plan_panel(experiment, panel)
    fold = folds[task.fold]
    dataset, symbols = panel_dataset(pw, fold, features=experiment.features, labels=labels,
                                     window=experiment.window, embargo=experiment.embargo)
    forward = panel_forward_returns(panel, labels.horizon).stack()
    forward_test = forward.reindex(pd.MultiIndex.from_arrays([dataset.test.times, symbols])).to_numpy()
    ranges = _ranges(dataset, fold, task)
    trading = experiment.backtest

    def scored(values: np.ndarray, name: str) -> tuple[dict[str, float], pd.DataFrame]:
        frame = prediction_frame(values, dataset.test.times, labels).assign(symbol=symbols,
                                                                             forward_return=forward_test)
        found, _ = trade_panel(score_table(frame, labels), panel, trading, labels.horizon, name=name)
        return {**panel_score(frame, dataset.test.y, labels), **found}, frame

    if task.kind == "baselines":
        rows = [_buy_and_hold(panel, dataset, trading, labels.horizon, ranges) if name == BUY_AND_HOLD else
                {"model": name, **ranges, **scored(baseline_predictions(name, dataset), name)[0]}
                for name in experiment.baselines]
        return rows, None
    result = train_fold(experiment, dataset, fold=task.fold, seed=task.seed,
                        models=export_folder(experiment, context.models, task.surrogate),
                        data_source=", ".join(experiment.data.path), extra=_label_record(experiment))
    if len(result.net.heads) != 1:
        raise ValueError(f"model {experiment.model.name} has outputs {list(result.net.output_names)}: "
                         "expected one output (a panel run ranks the symbols on one score)")
    values = np.asarray(predict(result.net, dataset.x_of(dataset.test)))
    found, frame = scored(values, task.name)
    row = {"model": experiment.model.name if task.surrogate is None else "surrogate", "surrogate": task.surrogate,
           **ranges, **found, "best_epoch": result.best_epoch}
    predictions = None
    if task.surrogate is None:
        predictions = frame.assign(fold=fold.number, seed=task.seed, label=dataset.test.y)
    return [row], predictions


def _run_pairs_task(context: Any, task: Any) -> tuple[list[dict[str, Any]], pd.DataFrame | None]:
    """A ranking net's task: trained and scored on the fold's test pairs; its scorer's per-symbol scores on the
    test dates give the IC across symbols and the RankingStrategy backtest (predictions: symbol, score,
    forward_return)."""
    experiment = context.experiment
    horizon = experiment.labels.horizon
    panel = panel_series(context, task.surrogate)
    dataset, fold = built_fold(experiment, panel, None, task.fold)
    pair_labels = next(iter(dataset.targets.values()))
    ranges = _ranges(dataset, fold, task)
    trading = experiment.backtest

    def pair_skill(values: np.ndarray) -> dict[str, float]:
        return class_scores(prediction_frame(values, dataset.test.times, pair_labels), dataset.test.y, pair_labels)

    if task.kind == "baselines":
        rows = [_buy_and_hold(panel, dataset, trading, horizon, ranges) if name == BUY_AND_HOLD else
                {"model": name, **ranges, **pair_skill(baseline_predictions(name, dataset))}
                for name in experiment.baselines]
        return rows, None
    result = train_fold(experiment, dataset, fold=task.fold, seed=task.seed,
                        models=export_folder(experiment, context.models, task.surrogate),
                        data_source=", ".join(experiment.data.path))
    dates = pd.DatetimeIndex(pd.unique(dataset.test.times)).rename("time")
    scores = symbol_scores(result.net.for_serving(), panel, experiment.features, dates)
    frame = scores.stack().rename("score").reset_index("symbol")
    forward = panel_forward_returns(panel, horizon).stack()
    frame["forward_return"] = forward.reindex(pd.MultiIndex.from_arrays([frame.index, frame["symbol"]])).to_numpy()
    found, _ = trade_panel(scores, panel, trading, horizon, name=task.name)
    row = {"model": experiment.model.name if task.surrogate is None else "surrogate", "surrogate": task.surrogate,
           **ranges, **pair_skill(np.asarray(predict(result.net, dataset.x_of(dataset.test)))),
           **ic_summary(frame, "score"), **found, "best_epoch": result.best_epoch}
    predictions = frame.assign(fold=fold.number, seed=task.seed) if task.surrogate is None else None
    return [row], predictions


def symbol_scores(scorer: Any, panel: Mapping[str, pd.DataFrame], features: FeatureSpec,
                  dates: pd.DatetimeIndex) -> pd.DataFrame:
    """Dates x symbols: the ranking net's exported scorer on each symbol's factor row of each date (features over
    the symbol's whole series, so a row reads bars <= its date, as the pairs it trained on did)."""
    columns = {}
    for symbol, bars in panel.items():
        rows = compute_features(bars, features).reindex(dates).to_numpy(dtype="float32", copy=True)
        columns[symbol] = np.asarray(predict(scorer, rows)).reshape(len(dates))
    return pd.DataFrame(columns, index=dates).rename_axis(columns="symbol")


def _label_record(experiment: Experiment) -> dict[str, Any] | None:
    """The card fields that say a fold model learnt cross-sectional labels: the card's `label` is the binary
    spec of the same classes and horizon (a label spec has no cross-sectional kind), whose rule is not the one."""
    if not experiment.cross_sectional:
        return None
    horizon = experiment.labels.horizon
    return {"label_kind": "cross_sectional", "label_rule": cross_sectional_rule(horizon), "label_horizon": horizon}


def _ranges(dataset: Dataset, fold: Fold, task: Any) -> dict[str, Any]:
    return {"fold": fold.number, "seed": task.seed, "train": list(dataset.train.time_range),
            "val": list(dataset.val.time_range), "test": list(dataset.test.time_range)}


def _buy_and_hold(panel: Mapping[str, pd.DataFrame], dataset: Dataset, trading: Mapping[str, Any], horizon: int,
                  ranges: dict[str, Any]) -> dict[str, Any]:
    """The buy-and-hold baseline of a panel: the whole universe, equally weighted, over the test dates."""
    flat = pd.DataFrame(1.0, index=pd.DatetimeIndex(pd.unique(dataset.test.times)), columns=list(panel))
    found, _ = trade_panel(flat, panel, {**trading, "top_k": len(panel)}, horizon, name=BUY_AND_HOLD)
    return {"model": BUY_AND_HOLD, **ranges, **found}


def plan_ranked(experiment: Experiment, panel: Mapping[str, pd.DataFrame]) -> tuple[int, int, list[Fold]]:
    """(samples, dates, folds) of a panel run: stacked windows, or a ranking net's pairs (positions: dates)."""
    if experiment.layout == "pairs":  # positions count dates, each holding its pairs
        dates, folds = plan_built(experiment, panel, None)
        return dates, dates, folds
    pw, folds = plan_panel(experiment, panel)
    return len(pw.windows), len(pw.dates), folds


# ----------------------------------------------------------------------------------------------- run

def run_info(experiment: Experiment, panel: Mapping[str, pd.DataFrame], samples: int, dates: int) -> dict[str, Any]:
    """metrics.json's "run" fields that differ for a panel (a ranking net's samples count its pair dates)."""
    first = next(iter(panel.values())).index
    labels = experiment.labels.to_dict()
    if experiment.cross_sectional:
        labels.update(kind="cross_sectional", rule=cross_sectional_rule(experiment.labels.horizon))
    if experiment.layout == "pairs":
        labels.update(kind="pair", rule=LabelSpec("pair", experiment.labels.horizon).rule)
    return {"data": ", ".join(experiment.data.path), "symbols": list(panel),
            "bars": [first[0].isoformat(), first[-1].isoformat()], "samples": samples, "dates": dates,
            "labels": labels, "symbol_embedding": experiment.symbol_embedding}


def add_panel_metrics(metrics: dict[str, Any], experiment: Experiment, results: Sequence[Any]) -> dict[str, Any]:
    """run.collect's sections (`metrics`) with ICIR and rank ICIR summarised as the other metrics are."""
    real = [r.rows[0] for r in results if r.task.kind == "model" and r.task.surrogate is None]
    for m in PANEL_EXTRA:
        metrics["model"][m] = aggregate([row[m] for row in real])
    baseline_rows = metrics["baseline_folds"]
    for name in experiment.baselines:
        rows = [row for row in baseline_rows if row["model"] == name]
        metrics["baselines"][name].update({m: aggregate([row[m] for row in rows]) for m in PANEL_EXTRA
                                           if m in rows[0]})
    for run in metrics["surrogate_runs"]:
        rows = [r.rows[0] for r in results if r.task.surrogate == run["surrogate"]]
        run.update({m: aggregate([row[m] for row in rows])["mean"] for m in PANEL_EXTRA})
    if metrics["surrogate_runs"]:
        for m in PANEL_EXTRA:
            metrics["surrogates"][m] = versus_surrogates(metrics["model"][m]["mean"],
                                                         [run[m] for run in metrics["surrogate_runs"]], m)
    return metrics


def write_panel_report(experiment: Experiment, panel: Mapping[str, pd.DataFrame], predictions: pd.DataFrame,
                       metrics: dict[str, Any], folder: Path) -> str:
    """The RankingStrategy backtest of the seed-mean stitched scores (equity.csv, fills.csv, stats.json) and
    folds.csv in `folder`; returns the backtest in a line of text."""
    folder.mkdir(parents=True, exist_ok=True)
    labels = experiment.labels
    column = "score" if experiment.layout == "pairs" else score_column(labels)
    stitched = predictions.groupby([predictions.index, "symbol"], sort=True)[column].mean().unstack("symbol")
    stitched = stitched[[s for s in panel if s in stitched.columns]]
    found, ranked = trade_panel(stitched, panel, experiment.backtest, labels.horizon,
                                 name=f"{experiment.model.name} walk-forward")
    ranked.equity["strategy"].rename_axis("time").to_csv(folder / "equity.csv")
    ranked.fills.to_csv(folder / "fills.csv", index=False)
    stats = {k: float(v) if isinstance(v, int | float | np.number) else str(v) for k, v in ranked.stats.items()}
    (folder / "stats.json").write_text(json.dumps(stats, indent=2) + "\n")
    write_folds(metrics, folder / "folds.csv")
    top_k = experiment.backtest.get("top_k", max(1, len(panel) // 2))
    rebalance = experiment.backtest.get("rebalance", labels.horizon)
    return (f"RankingStrategy over {len(panel)} symbols ({', '.join(panel)}): top {top_k} by "
            f"{ {'up': 'p_up', 'score': 'the scorer'}.get(column, column)}, rebalanced every {rebalance} bars, "
            f"{stitched.index[0].date()} .. {stitched.index[-1].date()}: total return {found['total_return']:.4f}, "
            f"sharpe {found['sharpe']:.4f}, max drawdown {found['max_drawdown']:.4f}")
