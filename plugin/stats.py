"""Performance statistics: the one place that computes them, for the strategy and its benchmark."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import date, datetime

import numpy as np
import pandas as pd

from signalstack.core.errors import InvalidInput, SettingsError

DAYS_PER_YEAR = 365.25
"""A calendar year in days (leap years averaged in): the unit of CAGR, turnover and bars per year."""


def performance(
    equity: pd.Series,
    trades: pd.DataFrame | None = None,
    periods_per_year: float | None = None,
    traded_value: float | None = None,
) -> pd.Series:
    """Return, risk and trade statistics of an equity curve (one value per bar, indexed by bar time), as fractions.

    Annual figures run on the bars' own clock, never on an assumed 252 bars a year, so hourly, minute
    and weekly bars read as daily ones do. A year is `DAYS_PER_YEAR` calendar days; `years` is the
    time from the first bar to the last.
    - total_return: last / first - 1; cagr: (last / first) ** (1 / years) - 1.
    - sharpe: mean / sample std (ddof 1) of per-bar returns times sqrt(periods_per_year); risk-free 0.
    - sortino: mean per-bar return / downside deviation sqrt(mean(min(r, 0)^2)) times sqrt(periods_per_year).
    - periods_per_year: the factor Sharpe and Sortino used: as given, or when None `bars_per_year` of
      the curve's bar times.
    - max_drawdown: the largest fall from a running peak, as a positive fraction (see `drawdown`).
    - exposure: share of bars with a position on (entry bar up to, not including, the exit bar).
    - turnover: `traded_value` (buys and sells) per year, as a multiple of the mean equity.
    - trades: closed round trips; win_rate: share of them with positive pnl after commission.

    Without `trades` (a benchmark) the trade statistics are NaN; without `traded_value`, turnover is.
    A single bar spans no time: its annual figures are NaN.
    """
    values = equity.to_numpy(dtype=np.float64)
    if len(values) == 0 or not np.all(np.isfinite(values)) or values.min() <= 0:
        raise ValueError(f"equity of {len(values)} bars: expected at least one bar, all finite and > 0")
    if periods_per_year is not None and not (math.isfinite(periods_per_year) and periods_per_year > 0):
        raise SettingsError(
            f"periods_per_year {periods_per_year}: expected bars per year > 0, or None to infer it from the bar times"
        )
    times = _bar_times(equity.index)
    years = _years(times)
    periods = bars_per_year(times) if periods_per_year is None else float(periods_per_year)
    returns = values[1:] / values[:-1] - 1.0
    growth = values[-1] / values[0]
    scale = math.sqrt(periods)
    deviation = returns.std(ddof=1) if len(returns) > 1 else math.nan
    downside = math.sqrt(np.mean(np.minimum(returns, 0.0) ** 2)) if len(returns) else math.nan
    stats = {
        "total_return": growth - 1.0,
        "cagr": growth ** (1.0 / years) - 1.0 if years > 0 else math.nan,
        "sharpe": returns.mean() / deviation * scale if deviation > 0 else math.nan,
        "sortino": returns.mean() / downside * scale if downside > 0 else math.nan,
        "max_drawdown": float(drawdown(equity).max()),
        "exposure": math.nan,
        "turnover": traded_value / values.mean() / years if traded_value is not None and years > 0 else math.nan,
        "trades": math.nan,
        "win_rate": math.nan,
        "periods_per_year": periods,
    }
    if trades is not None:
        closed = trades.loc[trades["exit_time"].notna()]
        stats["trades"] = float(len(closed))
        stats["win_rate"] = float((closed["pnl_net"] > 0).mean()) if len(closed) else math.nan
        stats["exposure"] = _exposure(equity.index, trades)
    return pd.Series(stats, dtype=np.float64)


def bars_per_year(times: pd.DatetimeIndex) -> float:
    """Bars per calendar year over `times`: (bars - 1) / years from the first bar to the last; NaN without a span.

    The mean bar rate of the sample, so the clock counts what actually traded: weekends, holidays and
    closed nights drop out by themselves (NYSE daily bars give 251.6 over 1999-2018, round-the-clock
    weekday hourly FX 120 a week or about 6,260, 5-minute bars of 6.5-hour sessions about 78 * 252 =
    19,656, weekly bars 52.2), with no table of bar sizes to keep. It also makes compounding per bar
    and per calendar year agree: growth ** (periods_per_year / number of returns) is the CAGR. Over a
    few weeks the weekends at the sample's edges move it by a few percent, and gaps in the data lower
    it; pass `periods_per_year` where that matters.
    """
    return per_year(len(times) - 1, _years(times) * DAYS_PER_YEAR)


def per_year(intervals: int, days: float) -> float:
    """`intervals` bar-to-bar steps spanning `days` calendar days, as steps per year; NaN when `days` is not > 0.

    Shared by `bars_per_year` and strategies that annualise on the bars seen so far (Backtrader date
    numbers count days).
    """
    return intervals * DAYS_PER_YEAR / days if days > 0 else math.nan


def _bar_times(index: pd.Index) -> pd.DatetimeIndex:
    """The index as bar times; annual figures need the data's clock, so a plain range index is refused."""
    if not isinstance(index, pd.DatetimeIndex):
        raise ValueError(
            f"equity indexed by {type(index).__name__}: expected a DatetimeIndex of bar times "
            "(annual figures are measured on the bars' clock)"
        )
    return index


def _years(times: pd.DatetimeIndex) -> float:
    """Calendar years from the first time to the last (0 for fewer than two)."""
    return (times[-1] - times[0]) / pd.Timedelta(days=DAYS_PER_YEAR) if len(times) > 1 else 0.0


def drawdown(equity: pd.Series) -> pd.Series:
    """Fall from the running peak at each bar, as a positive fraction (0 at a new high)."""
    values = equity.to_numpy(dtype=np.float64)
    return pd.Series(1.0 - values / np.maximum.accumulate(values), index=equity.index, name="drawdown")


def _exposure(index: pd.Index, trades: pd.DataFrame) -> float:
    held = np.zeros(len(index), dtype=bool)
    for entry, exit_ in zip(trades["entry_time"], trades["exit_time"]):
        held |= (index >= entry) & ((index < exit_) if pd.notna(exit_) else True)
    return float(held.mean())


def buy_and_hold(
    bars: pd.DataFrame, start: str | date | datetime | pd.Timestamp, cash: float, commission: float
) -> pd.Series:
    """Equity of putting all `cash` in at the open after the first bar at/after `start`, then holding.

    The entry matches the strategy's earliest possible fill: it decides on the first bar's close
    and fills at the next open. Shares may be fractional; commission is a fraction of the value
    bought; the position is valued at each close, with no exit cost.
    """
    period = bars.loc[bars.index >= pd.Timestamp(start)]
    if len(period) == 0:
        raise InvalidInput(f"buy-and-hold from {start}: no bars at or after it (last bar {bars.index[-1]})")
    equity = pd.Series(float(cash), index=period.index, name="buy_and_hold")
    if len(period) > 1:
        shares = cash / (period["open"].iloc[1] * (1.0 + commission))
        equity.iloc[1:] = shares * period["close"].iloc[1:].to_numpy()
    return equity


def equal_weight(curves: Mapping[str, pd.Series], cash: float) -> pd.Series:
    """Equity of splitting `cash` equally across independent equity curves (one per symbol).

    Each sleeve grows as its curve does, from that curve's first value; before its first bar a
    sleeve is idle cash, after its last it keeps its final value.
    """
    if not curves:
        raise ValueError("equal weight of no curves: expected at least one equity curve")
    sleeve = cash / len(curves)
    grown = pd.concat({name: curve / curve.iloc[0] for name, curve in curves.items()}, axis=1, sort=True)
    return (grown.ffill().fillna(1.0) * sleeve).sum(axis=1).rename("portfolio")


def monthly_returns(equity: pd.Series) -> pd.DataFrame:
    """Calendar-month returns: a row per year, columns 1..12 and `year` (the year's compounded return).

    The first month and year are measured from the curve's first value; months without bars are NaN.
    """
    index = pd.DatetimeIndex(equity.index)
    ends = {}
    for freq in ("M", "Y"):
        last = equity.groupby(index.to_period(freq)).last()
        ends[freq] = last / last.shift(1).fillna(equity.iloc[0]) - 1.0
    months = ends["M"]
    table = pd.DataFrame({"year": months.index.year, "month": months.index.month, "return": months.to_numpy()})
    table = table.pivot(index="year", columns="month", values="return").reindex(columns=range(1, 13))
    table["year"] = ends["Y"].to_numpy()
    table.columns.name = None
    return table


def signal_quality(
    score: pd.Series, close: pd.Series, horizon: int, threshold: float = 0.5, probability: bool = True
) -> pd.Series:
    """How well a signal called the close `horizon` bars later, over bars with a score and a known outcome.

    `score` (p_up, or a forecast/ranking score with `probability=False`) is indexed by bar times of
    `close`; an "up call" is score >= `threshold`, an up outcome close[t+h] > close[t].
    - hit_rate: share of calls that matched the outcome; precision / recall: of up calls, of up outcomes.
    - brier: mean (p_up - outcome)^2, probabilities only.
    - ic_pearson, ic_spearman: correlation of the score with the forward return close[t+h]/close[t] - 1.
    - n: bars counted.
    """
    known = _outcomes(score, close, horizon)
    called, went_up = known["score"] >= threshold, known["forward"] > 0
    stats = {
        "n": float(len(known)),
        "hit_rate": _share(called == went_up),
        "precision": _share(went_up[called]),
        "recall": _share(called[went_up]),
        "brier": _share((known["score"] - went_up) ** 2) if probability else math.nan,
        "ic_pearson": _correlation(known["score"], known["forward"]),
        "ic_spearman": _correlation(known["score"].rank(), known["forward"].rank()),
    }
    return pd.Series(stats, dtype=np.float64)


def calibration(p_up: pd.Series, close: pd.Series, horizon: int, buckets: int = 10) -> pd.DataFrame:
    """Predicted against observed frequency of up outcomes, in `buckets` equal bins of p_up over [0, 1].

    Columns: low, high (bin edges), count, predicted (mean p_up), observed (share that went up);
    empty bins have count 0 and NaN means.
    """
    known = _outcomes(p_up, close, horizon)
    return reliability(known["score"], known["forward"] > 0, buckets)


def reliability(p_up: pd.Series, up: pd.Series, buckets: int = 10) -> pd.DataFrame:
    """Predicted against observed frequency of `up` (True / False per sample of `p_up`), in `buckets` equal bins
    of p_up over [0, 1]: the columns of `calibration`, whatever the outcome is (a price move, a label)."""
    if buckets < 1:
        raise ValueError(f"calibration buckets {buckets}: expected at least 1")
    bucket = np.clip((p_up.to_numpy() * buckets).astype(int), 0, buckets - 1)
    grouped = pd.DataFrame({"p": p_up.to_numpy(), "up": up.to_numpy(float), "bucket": bucket}).groupby("bucket")
    edges = np.linspace(0.0, 1.0, buckets + 1)
    table = pd.DataFrame({"low": edges[:-1], "high": edges[1:]})
    table["count"] = grouped.size().reindex(range(buckets), fill_value=0).to_numpy()
    table["predicted"] = grouped["p"].mean().reindex(range(buckets)).to_numpy()
    table["observed"] = grouped["up"].mean().reindex(range(buckets)).to_numpy()
    return table


def signal_hit_rate(probs: pd.DataFrame, bars: pd.DataFrame, horizon: int) -> float:
    """Share of scored bars in `probs` with a known outcome where (p_up >= 0.5) == (close[t+h] > close[t]).

    `probs` has an 'up' column indexed by bar times of `bars`; pass only the backtest period.
    """
    return float(signal_quality(probs["up"], bars["close"], horizon)["hit_rate"])


def _outcomes(score: pd.Series, close: pd.Series, horizon: int) -> pd.DataFrame:
    """Score and forward return per bar of `score` that has both; computed after the fact."""
    if horizon < 1:
        raise SettingsError(f"horizon {horizon}: expected an integer >= 1 bar")
    forward = (close.shift(-horizon) / close - 1.0).reindex(score.index)
    return pd.DataFrame({"score": score, "forward": forward}).dropna()


def _share(flags: pd.Series) -> float:
    return float(flags.mean()) if len(flags) else math.nan


def _correlation(a: pd.Series, b: pd.Series) -> float:
    if len(a) < 3 or a.nunique() < 2 or b.nunique() < 2:
        return math.nan
    return float(np.corrcoef(a.to_numpy(np.float64), b.to_numpy(np.float64))[0, 1])
