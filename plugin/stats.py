"""Performance statistics: the one place that computes them, for the strategy and its benchmark."""

from __future__ import annotations

import math
from datetime import date, datetime

import numpy as np
import pandas as pd

def performance(equity: pd.Series, trades: pd.DataFrame | None, periods_per_year: int = 252) -> pd.Series:
    """Return, risk and trade statistics of an equity curve (one value per bar), as fractions.

    - total_return: last / first - 1.
    - cagr: growth per year, a year being `periods_per_year` bars.
    - sharpe: mean / sample std (ddof 1) of per-bar returns times sqrt(periods_per_year); risk-free 0.
    - max_drawdown: the largest fall from a running peak, as a positive fraction.
    - trades: closed round trips; win_rate: share of them with positive pnl after commission.
    - exposure: share of bars with a position on (entry bar up to, not including, the exit bar).

    Without `trades` (a benchmark) the trade statistics are NaN.
    """
    values = equity.to_numpy(dtype=np.float64)
    if len(values) == 0 or not np.all(np.isfinite(values)) or values.min() <= 0:
        raise ValueError(f"equity of {len(values)} bars: expected at least one bar, all finite and > 0")
    returns = values[1:] / values[:-1] - 1.0
    growth = values[-1] / values[0]
    deviation = returns.std(ddof=1) if len(returns) > 1 else math.nan
    stats = {
        "total_return": growth - 1.0,
        "cagr": growth ** (periods_per_year / len(returns)) - 1.0 if len(returns) else math.nan,
        "sharpe": returns.mean() / deviation * math.sqrt(periods_per_year) if deviation > 0 else math.nan,
        "max_drawdown": float((1.0 - values / np.maximum.accumulate(values)).max()),
        "trades": math.nan,
        "win_rate": math.nan,
        "exposure": math.nan,
    }
    if trades is not None:
        closed = trades.loc[trades["exit_time"].notna()]
        stats["trades"] = float(len(closed))
        stats["win_rate"] = float((closed["pnl_net"] > 0).mean()) if len(closed) else math.nan
        stats["exposure"] = _exposure(equity.index, trades)
    return pd.Series(stats, dtype=np.float64)


def _exposure(index: pd.Index, trades: pd.DataFrame) -> float:
    held = np.zeros(len(index), dtype=bool)
    for entry, exit_ in zip(trades["entry_time"], trades["exit_time"]):
        held |= (index >= entry) & ((index < exit_) if pd.notna(exit_) else True)
    return float(held.mean())


def buy_and_hold(bars: pd.DataFrame, start: str | date | datetime | pd.Timestamp, cash: float,
                 commission: float) -> pd.Series:
    """Equity of putting all `cash` in at the open after the first bar at/after `start`, then holding.

    The entry matches the strategy's earliest possible fill: it decides on the first bar's close
    and fills at the next open. Shares may be fractional; commission is a fraction of the value
    bought; the position is valued at each close, with no exit cost.
    """
    period = bars.loc[bars.index >= pd.Timestamp(start)]
    if len(period) == 0:
        raise ValueError(f"buy-and-hold from {start}: no bars at or after it (last bar {bars.index[-1]})")
    equity = pd.Series(float(cash), index=period.index, name="buy_and_hold")
    if len(period) > 1:
        shares = cash / (period["open"].iloc[1] * (1.0 + commission))
        equity.iloc[1:] = shares * period["close"].iloc[1:].to_numpy()
    return equity


def signal_hit_rate(probs: pd.DataFrame, bars: pd.DataFrame, horizon: int) -> float:
    """Share of scored bars in `probs` with a known outcome where (p_up >= 0.5) == (close[t+h] > close[t]).

    `probs` has an 'up' column indexed by bar times of `bars`; pass only the backtest period.
    """
    close = bars["close"]
    future = close.shift(-horizon).reindex(probs.index)
    known = probs["up"].notna() & future.notna()
    if not known.any():
        return math.nan
    called_up = probs.loc[known, "up"] >= 0.5
    went_up = future[known] > close.reindex(probs.index)[known]
    return float((called_up == went_up).mean())
