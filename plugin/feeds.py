"""Our normalised bars as a Backtrader feed, and Backtrader's date numbers back as timestamps."""

from __future__ import annotations

import backtrader as bt
import numpy as np
import pandas as pd

from signalstack.models.data import validate_bars

_UNIX_EPOCH = 719163.0
"""Backtrader's date number (days since 0001-01-01, counted from 1) of 1970-01-01 00:00."""


def bars_feed(bars: pd.DataFrame, name: str | None = None) -> bt.feeds.PandasData:
    """A preloadable Backtrader feed of `bars` (the frame `load_bars` returns), checked first.

    Our bars carry no open interest, so that line is left out rather than guessed from a column name.
    """
    validate_bars(bars, name or "bars")
    return bt.feeds.PandasData(dataname=bars, name=name or "", datetime=None, open="open", high="high",
                               low="low", close="close", volume="volume", openinterest=None)


def bar_times(numbers: np.ndarray | list[float]) -> pd.DatetimeIndex:
    """Timestamps of Backtrader date numbers (tz-naive, as the feed got them).

    A float64 date number resolves about 10 microseconds, so times are rounded to the millisecond:
    daily and intraday bars come back exactly as they went in.
    """
    millis = np.rint((np.asarray(numbers, dtype=np.float64) - _UNIX_EPOCH) * 86_400_000.0).astype(np.int64)
    return pd.DatetimeIndex(pd.to_datetime(millis, unit="ms"), name="time")


def bar_time(number: float) -> pd.Timestamp:
    """The timestamp of one Backtrader date number (see `bar_times`)."""
    return bar_times([number])[0]
