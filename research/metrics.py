"""Out-of-sample scores of one fold's predictions, and their summaries over folds, seeds and surrogates.

A fold's model, each baseline and each surrogate run are scored by the same functions on the same
test samples, so their numbers can stand side by side. The definitions reused from elsewhere stay
there: accuracy, ROC AUC and log loss are `models.metrics`', MAE and RMSE too; IC and rank IC are
`plugin.stats.signal_quality`'s (Pearson and Spearman correlation of p_up, or the forecast, with
the forward return close[t+h] / close[t] - 1); the trading numbers are `run_backtest`'s over the
fold's test bars, annualised on the bars' own clock. A net with several heads (multitask: class
probabilities and a forecast) is scored on each: the first head's metrics keep their names, the
others' are prefixed with the head's name (`forecast.mae`, `forecast.ic`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from signalstack.core.labels import LabelSpec
from signalstack.models.metrics import classification_metrics, regression_metrics
from signalstack.plugin.backtest import run_backtest
from signalstack.plugin.settings import TradingSettings
from signalstack.plugin.sources import PrecomputedSource
from signalstack.plugin.stats import buy_and_hold, performance, signal_quality

CLASSIFICATION_METRICS = ("accuracy", "balanced_accuracy", "roc_auc", "log_loss", "brier", "ic", "rank_ic")
REGRESSION_METRICS = ("mae", "rmse", "ic", "rank_ic")
TRADING_METRICS = ("total_return", "sharpe", "max_drawdown")
LOWER_IS_BETTER = frozenset({"log_loss", "brier", "mae", "rmse", "max_drawdown"})
"""Every other metric is better higher."""

SIGNIFICANCE = 0.05
"""A real result is called distinguishable from chance when its surrogate p-value is at most this."""


def metric_names(labels: LabelSpec) -> tuple[str, ...]:
    """The metrics a run with these labels reports, skill first, trading last."""
    return (CLASSIFICATION_METRICS if labels.is_classification else REGRESSION_METRICS) + TRADING_METRICS


def prediction_frame(values: np.ndarray, times: pd.DatetimeIndex, labels: LabelSpec) -> pd.DataFrame:
    """Model outputs as a frame of `labels.columns` (class probabilities, or forecast) indexed by sample time.

    A sigmoid head's single P(up) column becomes down and up, as the served model's columns read.
    """
    values = np.asarray(values, dtype="float64").reshape(len(times), -1)
    if labels.is_classification and values.shape[1] == 1 and len(labels.classes) == 2:
        values = np.column_stack([1.0 - values[:, 0], values[:, 0]])
    if values.shape[1] != len(labels.columns):
        raise ValueError(
            f"predictions with {values.shape[1]} columns: expected {len(labels.columns)} "
            f"({', '.join(labels.columns)}) for {labels.kind} labels"
        )
    return pd.DataFrame(values, index=times, columns=labels.columns)


def score(frame: pd.DataFrame, y: np.ndarray, labels: LabelSpec, bars: pd.DataFrame) -> dict[str, float]:
    """Skill of predictions (a `prediction_frame`) against their labels `y` and the forward returns of `bars`."""
    close = bars["close"]
    if not labels.is_classification:
        # A path's IC reads its last step, the return over the horizon (the step a backtest trades).
        forecast = frame[labels.columns[-1]]
        found = regression_metrics(frame[labels.columns].to_numpy(), y)
        quality = signal_quality(forecast, close, labels.horizon, threshold=0.0, probability=False)
        return {
            "mae": found["mae"],
            "rmse": found["rmse"],
            "ic": float(quality["ic_pearson"]),
            "rank_ic": float(quality["ic_spearman"]),
        }
    quality = signal_quality(frame["up"], close, labels.horizon)
    return {
        **class_scores(frame, y, labels),
        "ic": float(quality["ic_pearson"]),
        "rank_ic": float(quality["ic_spearman"]),
    }


def class_scores(frame: pd.DataFrame, y: np.ndarray, labels: LabelSpec) -> dict[str, float]:
    """accuracy, balanced accuracy, ROC AUC (up vs the rest), log loss and Brier score (of up) of class
    probabilities (a `prediction_frame`) against their labels `y`."""
    probs = frame[labels.classes].to_numpy()
    found = classification_metrics(probs, y, labels.classes)
    up = labels.classes.index("up")
    return {
        "accuracy": found["accuracy"],
        "balanced_accuracy": balanced_accuracy(probs.argmax(axis=1), y),
        "roc_auc": found["roc_auc"],
        "log_loss": found["log_loss"],
        "brier": float(np.mean((probs[:, up] - (y == up)) ** 2)),
    }


def score_outputs(
    outputs: Mapping[str, np.ndarray],
    targets: Mapping[str, LabelSpec],
    ys: Mapping[str, np.ndarray],
    times: pd.DatetimeIndex,
    bars: pd.DataFrame,
) -> tuple[pd.DataFrame, dict[str, float]]:
    """Every head of a net scored on its own target: the first head's metrics under their plain names (it
    is the head that trades), each further head's prefixed by its name (`forecast.mae`); and the heads'
    predictions as one frame (the first head's `labels.columns`, then each further head's columns,
    prefixed by its name unless it has one column, which is named after the head)."""
    names = list(targets)
    frame = prediction_frame(outputs[names[0]], times, targets[names[0]])
    found = score(frame, ys[names[0]], targets[names[0]], bars)
    for name in names[1:]:
        head = prediction_frame(outputs[name], times, targets[name])
        found.update({f"{name}.{k}": v for k, v in score(head, ys[name], targets[name], bars).items()})
        head.columns = [name] if head.shape[1] == 1 else [f"{name}.{c}" for c in head.columns]
        frame = frame.join(head)
    return frame, found


def head_metric_names(row: Mapping[str, Any]) -> tuple[str, ...]:
    """The further heads' metrics (`forecast.mae`, ...) in a fold's row, in its order."""
    return tuple(k for k in row if "." in k)


def balanced_accuracy(predicted: np.ndarray, y: np.ndarray) -> float:
    """The mean recall over the classes present in `y`: 1 / classes for any constant guess, whatever the base rate."""
    y = y.astype(int)
    return float(np.mean([np.mean(predicted[y == c] == c) for c in np.unique(y)]))


def trade(
    frame: pd.DataFrame, bars: pd.DataFrame, labels: LabelSpec, options: Mapping[str, Any], name: str = "predictions"
) -> dict[str, float]:
    """`trading_scores` of SignalStrategy on `frame` over its own period of `bars`.

    Only the period's bars are fed: the first decision is on its first bar's close.
    """
    period = bars.loc[frame.index[0] : frame.index[-1]]
    result = run_backtest(PrecomputedSource(frame, horizon=labels.horizon, name=name), period, **options)
    return trading_scores(result.stats, len(result.fills))


def trading_scores(stats: pd.Series, fills: int) -> dict[str, float]:
    """A backtest's total_return, sharpe and max_drawdown, and its `fills` (orders filled).

    A backtest that never traded stayed in cash: its equity curve is flat, its return 0 and its Sharpe 0
    (a mean return of 0), not undefined, so that a fold where the model stayed out counts in the mean
    like any other instead of leaving it to the folds that happened to trade.
    """
    found = {key: float(stats[key]) for key in TRADING_METRICS}
    if fills == 0:
        found["sharpe"] = 0.0
    return {**found, "fills": int(fills)}


def buy_and_hold_scores(bars: pd.DataFrame, trading: TradingSettings) -> dict[str, float]:
    """The trading metrics of buying at the open after the first bar of `bars` and holding: run_backtest's benchmark."""
    equity = buy_and_hold(bars, bars.index[0], trading.cash, trading.commission)
    return trading_scores(performance(equity, None, trading.periods_per_year), fills=1)


def aggregate(values: Sequence[float | None]) -> dict[str, float | int]:
    """{"mean", "std", "n", "undefined"}: n counts every value, `undefined` those that are None or NaN (an IC of
    constant predictions, a ROC AUC on one class), and the mean and std (ddof 1; NaN below two values) are
    over the others. An undefined value is counted, never silently left out of n."""
    finite = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype="float64")
    defined = len(finite)
    return {
        "mean": float(finite.mean()) if defined else math.nan,
        "std": float(finite.std(ddof=1)) if defined > 1 else math.nan,
        "n": len(values),
        "undefined": len(values) - defined,
    }


def no_trade(rows: Sequence[Mapping[str, Any]]) -> int:
    """The rows whose backtest filled no order (a flat equity curve: return 0, Sharpe 0)."""
    return sum(1 for row in rows if row.get("fills") == 0)


def summarise(rows: Sequence[Mapping[str, Any]], names: Sequence[str]) -> dict[str, dict[str, float | int]]:
    """{METRIC: aggregate} over the rows (folds x seeds) of one predictor, for the metrics in `names` its rows have;
    the trading metrics' also say how many of the rows did not trade (`no_trade`)."""
    found: dict[str, dict[str, float | int]] = {}
    for name in names:
        if rows and name in rows[0]:
            found[name] = aggregate([row[name] for row in rows])
            if name in TRADING_METRICS:
                found[name]["no_trade"] = no_trade(rows)
    return found


def versus_surrogates(real: float, values: Sequence[float | None], metric: str) -> dict[str, Any]:
    """The surrogate distribution of `metric` (one value per surrogate run) and where `real` falls in it.

    n counts every surrogate run and `undefined` those without a value, which cannot be compared; the
    others are the distribution:
    - percentile: the share of them the real one beats (ties half), in percent; "beats" means higher,
      or lower for `LOWER_IS_BETTER` metrics.
    - p_value: (1 + those at least as good) / (compared + 1), the Monte-Carlo p-value: it cannot go
      below 1 / (compared + 1), so 19 compared surrogates are needed to reach `SIGNIFICANCE`.
    - significant: p_value <= SIGNIFICANCE.
    """
    summary: dict[str, Any] = aggregate(values)
    finite = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype="float64")
    n = len(finite)
    if n == 0 or real is None or not math.isfinite(real):
        return {**summary, "percentile": math.nan, "p_value": math.nan, "significant": False}
    sign = -1.0 if metric in LOWER_IS_BETTER else 1.0
    beaten = int(np.sum(sign * finite < sign * real))
    ties = int(np.sum(finite == real))
    p_value = (1 + n - beaten) / (n + 1)
    return {
        **summary,
        "percentile": 100.0 * (beaten + 0.5 * ties) / n,
        "p_value": p_value,
        "significant": bool(p_value <= SIGNIFICANCE),
    }
