"""Our normalised bars as a Backtrader feed, and a feed's bars and date numbers back as pandas."""

from __future__ import annotations

from typing import Any

import backtrader as bt
import numpy as np
import pandas as pd

from signalstack.core.bars import COLUMNS, validate_bars

_UNIX_EPOCH = 719163.0
"""Backtrader's date number (days since 0001-01-01, counted from 1) of 1970-01-01 00:00."""

_UNIT = pd.DatetimeIndex(["1970-01-01"]).unit
"""pandas' default time resolution (us from pandas 3, ns before), so our indexes match parsed ones."""


class BarsData(bt.feed.DataBase):
    """A Backtrader feed over a bars frame's values, read once into plain lists.

    Backtrader's PandasData looks every value up with `.iloc`, which costs more per bar than a
    whole strategy step; this feed hands out rows of Python floats and keeps every other
    DataBase behaviour (preload, live-style loading, resampling and replay filters).
    """

    params = (("bars", None),)

    def start(self) -> None:
        super().start()
        bars: pd.DataFrame = self.p.bars
        times = [bt.date2num(t) for t in pd.DatetimeIndex(bars.index).to_pydatetime()]
        self._rows = zip(*(bars[c].to_numpy(dtype=np.float64).tolist() for c in COLUMNS), times)

    def _load(self) -> bool:
        row = next(self._rows, None)
        if row is None:
            return False
        lines = self.lines
        lines.open[0], lines.high[0], lines.low[0], lines.close[0], lines.volume[0], lines.datetime[0] = row
        return True


def bars_feed(bars: pd.DataFrame, name: str | None = None) -> BarsData:
    """A preloadable Backtrader feed of `bars` (the frame `load_bars` returns), checked first.

    The feed's timeframe and compression follow the bars' typical spacing, so that
    `cerebro.resampledata` knows what it is compressing (Backtrader assumes daily bars otherwise).
    Our bars carry no open interest, so that line is left NaN rather than guessed from a column.
    """
    validate_bars(bars, name or "bars")
    return BarsData(bars=bars, name=name or "", **_bar_size(pd.DatetimeIndex(bars.index)))


def fundamentals_feed(frame: pd.DataFrame, bars: pd.DataFrame | None = None,
                      name: str = "fundamentals") -> bt.feeds.PandasData:
    """A Backtrader feed of fundamental factors (a DataFrame keyed by the date each row became
    known), one line per column, for a two-input model's `SignalIndicator`.

    With `bars`, the feed ticks on the bars' times with the latest row dated at or before each
    (the as-of rule the model was trained with), so a strategy fed both datas steps once per bar.
    """
    from signalstack.core.fundamentals import fundamentals_at

    bad = [c for c in frame.columns if not str(c).isidentifier() or str(c) in _RESERVED_LINES]
    if bad:
        raise ValueError(f"fundamentals columns {bad}: expected Python identifiers other than "
                         f"{', '.join(sorted(_RESERVED_LINES))} (they become line names)")
    columns = [str(c) for c in frame.columns]
    if bars is not None:
        frame = pd.DataFrame(fundamentals_at(frame, bars.index), index=bars.index, columns=columns)
    kind = type("FundamentalsData", (bt.feeds.PandasData,), {
        "lines": tuple(columns),
        "params": (("datetime", None), *((c, None) for c in ("open", "high", "low", "close", "volume")),
                   ("openinterest", None), *((c, c) for c in columns))})
    return kind(dataname=frame.set_axis(columns, axis=1), name=name)


_RESERVED_LINES = {"datetime", "open", "high", "low", "close", "volume", "openinterest"}


def _bar_size(index: pd.DatetimeIndex) -> dict[str, Any]:
    """Timeframe and compression of the median bar spacing. Intraday bars also get the latest time of
    day as the session end, so bars resampled to days are stamped at the session's close (not at
    Backtrader's default 23:59:59.999989)."""
    if len(index) < 2:
        return {}
    seconds = float(np.median(np.diff(index.asi8))) / 1e9
    if seconds >= 86_400:
        return {"timeframe": bt.TimeFrame.Days, "compression": 1}
    whole_minutes = seconds % 60 == 0
    return {"timeframe": bt.TimeFrame.Minutes if whole_minutes else bt.TimeFrame.Seconds,
            "compression": int(seconds // 60 if whole_minutes else seconds), "sessionend": max(index.time)}


def bar_times(numbers: np.ndarray | list[float]) -> pd.DatetimeIndex:
    """Timestamps of Backtrader date numbers (tz-naive, as the feed got them).

    A float64 date number resolves about 10 microseconds, so times are rounded to the millisecond:
    daily and intraday bars come back exactly as they went in. NaN (no time) becomes NaT.
    """
    values = np.asarray(numbers, dtype=np.float64)
    known = np.isfinite(values)
    millis = np.full(len(values), np.iinfo(np.int64).min, dtype=np.int64)  # int64 min is NaT
    millis[known] = np.rint((values[known] - _UNIX_EPOCH) * 86_400_000.0).astype(np.int64)
    return pd.DatetimeIndex(millis.view("datetime64[ms]").astype(f"datetime64[{_UNIT}]"), name="time")


def bar_time(number: float) -> pd.Timestamp:
    """One date number's `bar_times` entry, without an array: the live path converts one bar at a time."""
    return pd.Timestamp(round((number - _UNIX_EPOCH) * 86_400_000.0), unit="ms")


def data_bars(data: bt.AbstractDataBase, last: int | None = None) -> pd.DataFrame:
    """A Backtrader data's bars as a frame like `load_bars` gives: all its buffer holds (every bar
    when preloaded), or the `last` bars up to the current one."""
    def values(line: bt.LineBuffer) -> np.ndarray:
        return np.asarray(line.array if last is None else line.get(size=last), dtype=np.float64)

    table = np.column_stack([values(getattr(data, c)) for c in COLUMNS])
    return pd.DataFrame(table, columns=list(COLUMNS), index=bar_times(values(data.datetime)))
