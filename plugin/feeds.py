"""Our normalised bars as a Backtrader feed, and a feed's bars back as pandas (times: `core.times`)."""

from __future__ import annotations

from typing import Any

import backtrader as bt
import numpy as np
import pandas as pd

from signalstack.core.bars import COLUMNS, validate_bars
from signalstack.core.errors import InvalidInput
from signalstack.core.times import bar_times, date_number


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
        times = [date_number(t) for t in pd.DatetimeIndex(bars.index)]
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


def fundamentals_feed(
    frame: pd.DataFrame, bars: pd.DataFrame | None = None, name: str = "fundamentals"
) -> bt.feeds.PandasData:
    """A Backtrader feed of fundamental factors (a DataFrame keyed by the date each row became
    known), one line per column, for a two-input model's `SignalIndicator`.

    With `bars`, the feed ticks on the bars' times with the latest row dated at or before each
    (the as-of rule the model was trained with), so a strategy fed both datas steps once per bar.
    """
    from signalstack.core.fundamentals import fundamentals_at

    bad = [c for c in frame.columns if not str(c).isidentifier() or str(c) in _RESERVED_LINES]
    if bad:
        raise InvalidInput(
            f"fundamentals columns {bad}: expected Python identifiers other than "
            f"{', '.join(sorted(_RESERVED_LINES))} (they become line names)"
        )
    columns = [str(c) for c in frame.columns]
    if bars is not None:
        frame = pd.DataFrame(fundamentals_at(frame, bars.index), index=bars.index, columns=columns)
    kind = type(
        "FundamentalsData",
        (bt.feeds.PandasData,),
        {
            "lines": tuple(columns),
            "params": (
                ("datetime", None),
                *((c, None) for c in ("open", "high", "low", "close", "volume")),
                ("openinterest", None),
                *((c, c) for c in columns),
            ),
        },
    )
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
    return {
        "timeframe": bt.TimeFrame.Minutes if whole_minutes else bt.TimeFrame.Seconds,
        "compression": int(seconds // 60 if whole_minutes else seconds),
        "sessionend": max(index.time),
    }


def data_bars(data: bt.AbstractDataBase, last: int | None = None) -> pd.DataFrame:
    """A Backtrader data's bars as a frame like `load_bars` gives: all its buffer holds (every bar
    when preloaded), or the `last` bars up to the current one."""

    def values(line: bt.LineBuffer) -> np.ndarray:
        return np.asarray(line.array if last is None else line.get(size=last), dtype=np.float64)

    table = np.column_stack([values(getattr(data, c)) for c in COLUMNS])
    return pd.DataFrame(table, columns=list(COLUMNS), index=bar_times(values(data.datetime)))
