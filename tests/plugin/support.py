"""Helpers for plugin tests: indicator lines from a real Cerebro run, and hand-made bars."""

from __future__ import annotations

import backtrader as bt
import numpy as np
import pandas as pd

from signalstack.plugin import SignalIndicator, SignalSource, bars_feed


class _Watch(bt.Strategy):
    """Trades nothing; holds a SignalIndicator so Cerebro computes it."""

    params = (("source", None),)

    def __init__(self) -> None:
        self.signal = SignalIndicator(self.data, source=self.p.source)


def indicator_lines(
    source: SignalSource, bars: pd.DataFrame, *, runonce: bool = True, preload: bool = True
) -> np.ndarray:
    """(bars, 5) array of p_down, p_flat, p_up, forecast, score after a Cerebro run in the given mode."""
    cerebro = bt.Cerebro(stdstats=False, runonce=runonce, preload=preload)
    cerebro.adddata(bars_feed(bars))
    cerebro.addstrategy(_Watch, source=source)
    signal = cerebro.run()[0].signal
    return np.column_stack([np.asarray(line.array) for line in signal.lines])


def hand_bars(n: int, start: str = "2021-03-01") -> pd.DataFrame:
    """`n` business-day bars with distinct opens, each close away from its open."""
    i = np.arange(n, dtype=np.float64)
    open_ = 100.0 + 1.7 * i + 0.5 * (-1.0) ** i
    close = open_ + 0.8 * np.cos(i)
    return pd.DataFrame(
        {
            "open": open_,
            "high": np.maximum(open_, close) + 0.6,
            "low": np.minimum(open_, close) - 0.6,
            "close": close,
            "volume": 1000.0 + i,
        },
        index=pd.bdate_range(start, periods=n, name="time"),
    )


def bars_from(opens: list[float], closes: list[float], start: str = "2021-03-01") -> pd.DataFrame:
    """Business-day bars with the given opens and closes, the high and low just outside both."""
    open_, close = np.asarray(opens, dtype=np.float64), np.asarray(closes, dtype=np.float64)
    return pd.DataFrame(
        {
            "open": open_,
            "high": np.maximum(open_, close) + 0.5,
            "low": np.minimum(open_, close) - 0.5,
            "close": close,
            "volume": 1000.0,
        },
        index=pd.bdate_range(start, periods=len(open_), name="time"),
    )


def up_probabilities(p_up: list[float] | np.ndarray, index: pd.Index) -> pd.DataFrame:
    """A binary model's table: p_down = 1 - p_up; NaN is no signal."""
    p = np.asarray(p_up, dtype=np.float64)
    return pd.DataFrame({"down": 1.0 - p, "up": p}, index=index)
