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


def indicator_lines(source: SignalSource, bars: pd.DataFrame, *, runonce: bool = True,
                    preload: bool = True) -> np.ndarray:
    """(bars, 3) array of p_down, p_flat, p_up after a Cerebro run in the given mode."""
    cerebro = bt.Cerebro(stdstats=False, runonce=runonce, preload=preload)
    cerebro.adddata(bars_feed(bars))
    cerebro.addstrategy(_Watch, source=source)
    signal = cerebro.run()[0].signal
    return np.column_stack([np.asarray(signal.lines[k].array) for k in range(3)])


def hand_bars(n: int, start: str = "2021-03-01") -> pd.DataFrame:
    """`n` business-day bars with distinct opens, each close away from its open."""
    i = np.arange(n, dtype=np.float64)
    open_ = 100.0 + 1.7 * i + 0.5 * (-1.0) ** i
    close = open_ + 0.8 * np.cos(i)
    return pd.DataFrame({"open": open_, "high": np.maximum(open_, close) + 0.6,
                         "low": np.minimum(open_, close) - 0.6, "close": close, "volume": 1000.0 + i},
                        index=pd.bdate_range(start, periods=n, name="time"))
