"""What a paper run checks of its feeds before it trades, so that a run that cannot trade as asked says so at
once, in one line, rather than ending quietly with nothing done.

At the start of a run (`check_feeds`), for each file feed whose history is all there (`replay:`; `tail:`
once its file reaches `start`):

- the file holds bars: an empty or header-only replay file is refused;
- `start` is not after a replay file's last bar (nothing would be traded);
- the bars before `start` are enough for the model's first prediction on the start bar: `bars_required`
  bars in all (the window, of bars or of day x intraday blocks, plus the longest feature's warm-up), so
  `bars_required - 1` before it. Too few is refused naming the symbol, the bars found and needed and the
  bar trading would begin on, unless the run allows a cold start. A feed whose history may still come
  (`grpc:`, `tail:` short of `start`) is checked the same way by its strategy on its first live bar
  (`cold_start`). A feed without `start` trades every bar: its first bars warm the model up.

`feed_zone` reads the UTC offset a file's times are written with, which the journal keeps so that times
are printed in the bars' own zone.
"""

from __future__ import annotations

import bisect
import csv
import datetime as dt
import logging
from collections.abc import Sequence

import pandas as pd

from signalstack.core.bars import BarLayout, BarsError, read_rows
from signalstack.core.errors import InvalidInput

from .feeds import BarGate, FeedSpec
from .status import shown

log = logging.getLogger(__name__)


def cold_start(symbol: str, found: int, required: int, start: pd.Timestamp, begins: str | None,
               zone: str | None) -> str:
    """The line that says a feed's history is short: `found` bars before `start`, `required` per prediction;
    `begins`: the bar the first signal would come on, when known; times shown in the bars' `zone`."""
    when = f"trading would begin on bar {shown(begins, zone)}" if begins else \
        "trading would begin once that many bars came"
    return (f"{symbol}: {found} bars before start {shown(start.isoformat(), zone)}, the model needs {required - 1} "
            f"({required} per prediction, the start bar's included): {when}")


def check_feeds(specs: Sequence[FeedSpec], required: int, allow_cold_start: bool) -> None:
    """Refuse, in one line, a run whose file feeds cannot trade as asked (see the module docstring).

    Raises InvalidInput (BarsError for a file that names no bars)."""
    for spec in specs:
        if spec.path is None or (spec.kind == "tail" and not spec.path.is_file()):
            continue
        try:
            times = _accepted_times(spec)
        except BarsError:
            if spec.kind == "tail":
                continue  # a file being written: its tail feed waits for its header
            raise
        if spec.kind == "replay" and not times:
            raise InvalidInput(f"feed {spec.symbol}: {spec.path} holds no bar (expected a header, then one bar "
                               "per line)")
        if spec.start is None or (spec.kind == "tail" and (not times or times[-1] < spec.start)):
            continue  # every bar is traded, or history may still come: the strategy checks its first live bar
        if times[-1] < spec.start:
            raise InvalidInput(f"feed {spec.symbol}: start {spec.start.isoformat()} is after the last bar "
                               f"{times[-1].isoformat()} of {spec.path} (expected a start at or before it: no bar "
                               "would be traded)")
        found = bisect.bisect_left(times, spec.start)
        if found < required - 1 and not allow_cold_start:
            begins = times[required - 1].isoformat() if len(times) >= required else None
            raise InvalidInput(cold_start(spec.symbol, found, required, spec.start, begins, feed_zone(spec))
                               + " (give more history, or --allow-cold-start to trade without signals until then)")


def _accepted_times(spec: FeedSpec) -> list[dt.datetime]:
    """The times of the bars the feed would deliver from its file, in order: each row as its `BarGate` takes it."""
    assert spec.path is not None
    gate = BarGate(spec.symbol)
    return [raw.time for raw in read_rows(spec.path) if gate.check(raw) is None]


def feed_zone(spec: FeedSpec) -> str | None:
    """The UTC offset (`-04:00`) of the times in a CSV feed file's first data row; None for UTC, a time without
    an offset, a Parquet file, a grpc feed, or a file not there yet."""
    if spec.path is None or spec.path.suffix.lower() != ".csv" or not spec.path.is_file():
        return None
    try:
        with spec.path.open(encoding="utf-8-sig", newline="") as fh:
            layout = BarLayout.from_header(fh.readline(), str(spec.path))
            line = next((line for line in fh if line.strip()), "")
    except (BarsError, UnicodeDecodeError, OSError):
        return None
    fields = next(csv.reader([line], delimiter=layout.sep), [])
    if len(fields) <= max(layout.when):
        return None
    text = " ".join(fields[i].strip() for i in layout.when)
    try:
        offset = dt.datetime.fromisoformat(text).utcoffset()
    except ValueError:
        try:
            offset = pd.Timestamp(text).utcoffset()
        except (ValueError, OverflowError):
            return None
    if not isinstance(offset, dt.timedelta) or not offset:
        return None
    minutes = int(offset.total_seconds()) // 60
    return f"{'-' if minutes < 0 else '+'}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


__all__ = ["check_feeds", "cold_start", "feed_zone"]
