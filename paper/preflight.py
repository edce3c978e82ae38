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

On resume (`check_unchanged`), a file feed's rows up to the last one journaled must still be the rows the
run read: the file reaches that row, and the bars the journal holds are those rows (a sha256 digest of
their row numbers, times and values). A changed or shortened file is refused naming the first row that
differs: the resumed run would otherwise trade other bars than its journal says it saw.
"""

from __future__ import annotations

import bisect
import csv
import datetime as dt
import hashlib
import logging
from collections.abc import Sequence

import pandas as pd

from signalstack.core.bars import BarLayout, BarsError, RawBar, read_rows
from signalstack.core.errors import InvalidInput

from .broker_state import SymbolState
from .feeds import BarGate, FeedSpec, JournaledBar
from .status import shown

log = logging.getLogger(__name__)


def cold_start(
    symbol: str, found: int, required: int, start: pd.Timestamp, begins: str | None, zone: str | None
) -> str:
    """The line that says a feed's history is short: `found` bars before `start`, `required` per prediction;
    `begins`: the bar the first signal would come on, when known; times shown in the bars' `zone`."""
    when = (
        f"trading would begin on bar {shown(begins, zone)}"
        if begins
        else "trading would begin once that many bars came"
    )
    return (
        f"{symbol}: {found} bars before start {shown(start.isoformat(), zone)}, the model needs {required - 1} "
        f"({required} per prediction, the start bar's included): {when}"
    )


def check_feeds(specs: Sequence[FeedSpec], required: int, allow_cold_start: bool, *, ranked: bool = False) -> None:
    """Refuse, in one line, a run whose file feeds cannot trade as asked (see the module docstring).

    A `--top-k` run (`ranked`) ranks a symbol once it has history enough, as its backtest does, so a symbol short
    of it (listed after the start, say) is only logged; that run is refused when every symbol is short.

    Raises InvalidInput (BarsError for a file that names no bars)."""
    short = []
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
            raise InvalidInput(
                f"feed {spec.symbol}: {spec.path} holds no bar (expected a header, then one bar per line)"
            )
        if spec.start is None or (spec.kind == "tail" and (not times or times[-1] < spec.start)):
            continue  # every bar is traded, or history may still come: the strategy checks its first live bar
        if times[-1] < spec.start:
            raise InvalidInput(
                f"feed {spec.symbol}: start {spec.start.isoformat()} is after the last bar "
                f"{times[-1].isoformat()} of {spec.path} (expected a start at or before it: no bar "
                "would be traded)"
            )
        found = bisect.bisect_left(times, spec.start)
        if found < required - 1 and not allow_cold_start:
            begins = times[required - 1].isoformat() if len(times) >= required else None
            short.append(cold_start(spec.symbol, found, required, spec.start, begins, feed_zone(spec)))
    if short and (not ranked or len(short) == len(specs)):
        raise InvalidInput(
            "; ".join(short) + " (give more history, or --allow-cold-start to trade without signals until then)"
        )
    for line in short:
        log.warning("%s: it is ranked from then on", line)


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


def check_unchanged(spec: FeedSpec, state: SymbolState) -> None:
    """Refuse to resume on a file feed whose rows up to the last journaled one are not those the run read
    (see the module docstring). Raises InvalidInput naming the file, the rows and the first difference."""
    if spec.path is None or state.after_row == 0:
        return
    if not spec.path.is_file():
        raise InvalidInput(
            f"feed {spec.symbol}: {spec.path} is gone; the run read its rows up to {state.after_row} "
            "(expected the file it read, to resume after them)"
        )
    rows = {raw.row: raw for raw in read_rows(spec.path) if raw.row <= state.after_row}
    last = max(rows, default=1)  # a data row's number is its line: the header is line 1
    if last < state.after_row:
        raise InvalidInput(
            f"feed {spec.symbol}: {spec.path} now ends at row {last}, the run read its rows up to "
            f"{state.after_row} (expected the file it read, rows only ever added after them)"
        )
    journaled = [_row_text(bar.row, bar.time.isoformat(), bar.values) for bar in state.bars]
    now = [_file_row(rows.get(bar.row), bar) for bar in state.bars]
    if _digest(journaled) != _digest(now):
        first = next(i for i, (was, is_) in enumerate(zip(journaled, now)) if was != is_)
        raise InvalidInput(
            f"feed {spec.symbol}: {spec.path} changed since the run read it: rows 1-{state.after_row} "
            f"digest {_digest(now)[:12]}, journaled {_digest(journaled)[:12]}; first difference row "
            f"{state.bars[first].row}: now {now[first]}, journaled {journaled[first]} (expected the "
            "file it read: give a new --journal to trade the new file)"
        )


def _file_row(raw: RawBar | None, bar: JournaledBar) -> str:
    """A journaled bar's row as the file holds it now (`_row_text`), or that it holds none."""
    if raw is None or raw.time is None:
        return f"row {bar.row}: no bar"
    return _row_text(raw.row, raw.time.isoformat(), raw.values)


def _row_text(row: int, time: str, values: Sequence[float]) -> str:
    return f"row {row}: {time} " + " ".join(repr(float(v)) for v in values)


def _digest(rows: Sequence[str]) -> str:
    return hashlib.sha256("\n".join(rows).encode()).hexdigest()


__all__ = ["check_feeds", "check_unchanged", "cold_start", "feed_zone"]
