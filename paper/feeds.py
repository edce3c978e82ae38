"""Live feeds of a paper run: `replay:FILE.csv[?pace=SECONDS][&start=DATE]`, one bar at a time.

A replay feed is a Backtrader *live* feed (`islive()`), so Cerebro runs bar by bar as it would on
a market: bars before `start` are history for the model's warm-up, delivered at once with the
DELAYED status (no trading); from `start` on bars are LIVE and the file's rows arrive one every
`pace` seconds (0: as fast as the run goes; a row that is then rejected takes its turn, as a bad
tick of a live source would). `_load` returns None while the next row is not due yet and False
once the file is exhausted.

Every row is checked as it arrives, the way a live source must be: a row whose time or values
cannot be a bar (NaN, price <= 0, high/low outside the open/close envelope, a time out of order or
repeated with other values) is logged, journaled as rejected and never reaches the strategy; the
same bar delivered twice is taken once. Each accepted bar is journaled before it is delivered.
"""

from __future__ import annotations

import csv
import logging
import math
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs

import backtrader as bt
import numpy as np
import pandas as pd

from signalstack.core.bars import COLUMNS, BarsError, check_values

log = logging.getLogger(__name__)

FEED_FORMS = "replay:FILE.csv[?pace=SECONDS][&start=DATE], optionally prefixed SYMBOL="
"""The feed specs `paper run --feed` accepts."""

_SYMBOL_PREFIX = re.compile(r"^([A-Za-z0-9_.^\-]+)=(?=[a-z]+:)")
_OPTIONS = ("pace", "start")


@dataclass(frozen=True)
class FeedSpec:
    """A parsed `--feed`: where the bars come from, the symbol they trade as, pace and start."""

    text: str
    """The spec as given."""
    path: Path
    symbol: str
    pace: float
    """Seconds between live bars; 0 delivers them as fast as the run takes them."""
    start: pd.Timestamp | None
    """Bars before it are history (DELAYED, no trading); None: every bar is live."""

    def canonical(self) -> str:
        """The spec with its symbol and the file's absolute path: what a journal keeps for `paper resume`."""
        options = [f"pace={self.pace!r}"] + ([f"start={self.start.isoformat()}"] if self.start is not None else [])
        return f"{self.symbol}=replay:{self.path}?{'&'.join(options)}"


def parse_feed(text: str) -> FeedSpec:
    """A `FeedSpec` from `replay:FILE.csv[?pace=SECONDS][&start=DATE]`, optionally `SYMBOL=...`.

    The symbol defaults to the file's stem. Raises ValueError naming the bad part.
    """
    symbol = None
    named = _SYMBOL_PREFIX.match(text)
    if named:
        symbol, rest = named.group(1), text[named.end():]
    else:
        rest = text
    scheme, sep, body = rest.partition(":")
    if not sep or scheme != "replay":
        raise ValueError(f"feed {text!r}: expected {FEED_FORMS} (tail: and grpc: feeds are not built yet)")
    location, _, query = body.partition("?")
    if not location:
        raise ValueError(f"feed {text!r}: no file after replay: (expected {FEED_FORMS})")
    options = {key: values[-1] for key, values in parse_qs(query, keep_blank_values=True).items()}
    unknown = sorted(set(options) - set(_OPTIONS))
    if unknown:
        raise ValueError(f"feed {text!r}: unknown option(s) {', '.join(unknown)} (expected {' and '.join(_OPTIONS)})")
    try:
        pace = float(options.get("pace", "0"))
    except ValueError:
        pace = math.nan
    if not (math.isfinite(pace) and pace >= 0):
        raise ValueError(f"feed {text!r}: pace {options['pace']!r}, expected seconds >= 0")
    start = None
    if options.get("start"):
        try:
            start = pd.Timestamp(options["start"])
        except (TypeError, ValueError):
            raise ValueError(f"feed {text!r}: start {options['start']!r}, expected a date or datetime") from None
    path = Path(location).expanduser().resolve()
    if not path.is_file():
        raise ValueError(f"feed {text!r}: {path} is not a file (expected a CSV of OHLCV bars)")
    return FeedSpec(text=text, path=path, symbol=symbol or path.stem, pace=pace, start=start)


@dataclass(frozen=True)
class RawBar:
    """One data row of a feed file as it arrived: its line number, time and values, or why it is no bar."""

    row: int
    time: pd.Timestamp | None
    values: tuple[float, float, float, float, float]
    """open, high, low, close, volume (NaN where a value is missing or not a number)."""
    problem: str | None = None
    """Why the row cannot be a bar, found while reading it (an unreadable time or number)."""


_ROLE_KEYS = {"datetime": "time", "timestamp": "time", "date": "date", "time": "clock", "open": "open",
              "high": "high", "low": "low", "close": "close", "volume": "volume", "vol": "volume",
              "adjclose": "adj_close", "adjustedclose": "adj_close"}


def read_rows(path: Path) -> list[RawBar]:
    """The data rows of a CSV of bars, each read on its own so that one bad row spoils only itself.

    The header names a time (Datetime/Timestamp, Date, or Date and Time) and open, high, low, close,
    volume in any letter case, comma, tab or semicolon separated. An adjusted close rescales the
    row's prices as `load_bars` does, so a replay trades the same prices as a backtest of the file.
    """
    with path.open(encoding="utf-8-sig", newline="") as fh:
        header_line = fh.readline()
        sep = "\t" if "\t" in header_line else ";" if header_line.count(";") > header_line.count(",") else ","
        header = next(csv.reader([header_line], delimiter=sep), [])
        roles = {}
        for i, name in enumerate(header):
            role = _ROLE_KEYS.get(re.sub(r"[^0-9a-z]", "", name.strip().strip("<>").lower()))
            if role and role not in roles:
                roles[role] = i
        when = [roles[r] for r in ("time",)] if "time" in roles else [roles[r] for r in ("date", "clock") if r in roles]
        missing = [c for c in COLUMNS if c not in roles]
        if not when or missing:
            raise BarsError(f"{path}: header {', '.join(header)}: expected a Date/Datetime column and "
                            f"{', '.join(COLUMNS)} (missing {', '.join(missing) or 'the time'})")
        reader = csv.reader(fh, delimiter=sep)
        return [_raw_bar(fields, reader.line_num + 1, roles, when) for fields in reader if any(f.strip() for f in fields)]


def _raw_bar(fields: list[str], row: int, roles: dict[str, int], when: list[int]) -> RawBar:
    def field(i: int) -> str:
        return fields[i].strip() if i < len(fields) else ""

    problems = []
    stamp_text = " ".join(field(i) for i in when)
    try:
        stamp = pd.Timestamp(stamp_text)
        if stamp is pd.NaT:
            raise ValueError(stamp_text)
        if stamp.tzinfo is not None:
            stamp = stamp.tz_convert("UTC").tz_localize(None)
    except (TypeError, ValueError):
        stamp = None
        problems.append(f"time {stamp_text!r}, expected a date or datetime")
    numbers = {}
    for column in (*COLUMNS, "adj_close"):
        if column not in roles:
            continue
        text = field(roles[column])
        try:
            numbers[column] = float(text) if text else math.nan
        except ValueError:
            numbers[column] = math.nan
            problems.append(f"{column} {text!r}, expected a number")
    if "adj_close" in numbers:
        ratio = numbers["adj_close"] / numbers["close"]
        for column in ("open", "high", "low", "close"):
            numbers[column] *= ratio
    values = tuple(numbers[c] for c in COLUMNS)
    return RawBar(row=row, time=stamp, values=values, problem="; ".join(problems) or None)  # type: ignore[arg-type]


DUPLICATE = "duplicate"
"""`BarGate.check`'s verdict for the bar it accepted last, delivered again: taken once, not rejected."""


class BarGate:
    """Decides, row by row, whether a feed's row is the next bar: values clean, time after the last.

    `last` is the last bar accepted before (a resumed run's last journaled bar), as (time, values).
    """

    def __init__(self, name: str, last: tuple[pd.Timestamp, tuple[float, ...]] | None = None) -> None:
        self.name = name
        self.last = last

    def check(self, raw: RawBar) -> str | None:
        """None for a bar to deliver (and remembers it), `DUPLICATE` for the last bar again, else why not."""
        if raw.problem:
            return raw.problem
        try:
            check_values({c: np.array([v]) for c, v in zip(COLUMNS, raw.values)}, self.name)
        except BarsError as exc:
            return str(exc).partition(": ")[2]  # "high 5, expected high >= max(open, close)"
        if self.last is not None:
            last_time, last_values = self.last
            if raw.time == last_time:
                if raw.values == last_values:
                    return DUPLICATE
                return f"duplicate time {raw.time} with other values than the bar delivered for it"
            if raw.time < last_time:
                return f"out-of-order time {raw.time} after {last_time}"
        self.last = (raw.time, raw.values)
        return None


@dataclass(frozen=True)
class JournaledBar:
    """A bar a run journaled before: replayed as warm-up (or redelivered) when the run resumes."""

    time: pd.Timestamp
    values: tuple[float, ...]
    row: int


class ReplayFeed(bt.feed.DataBase):
    """A CSV file of bars replayed as a live Backtrader feed; see the module's docstring.

    Params: `spec` (FeedSpec), `journal` (Journal the bars and rejections go to), `journaled`
    (bars journaled before, replayed first: a resumed run's history), `through` (the last bar time
    a resumed run had finished: journaled bars up to it are DELAYED history), `after_row` (file rows
    up to it were journaled, as bars or rejections, and are not read again), `qcheck` (seconds to
    wait for a due bar before handing control back to Cerebro).
    """

    params = (("spec", None), ("journal", None), ("journaled", ()), ("through", None), ("after_row", 0),
              ("qcheck", 0.5))

    def islive(self) -> bool:
        return True

    def haslivedata(self) -> bool:
        return self._backlog_left() or (self._next < len(self._rows) and self._due <= time.monotonic())

    def start(self) -> None:
        super().start()
        spec: FeedSpec = self.p.spec
        journaled: Sequence[JournaledBar] = self.p.journaled
        self._symbol = spec.symbol
        self._replayed = 0
        self._rows = read_rows(spec.path)
        self._next = next((i for i, raw in enumerate(self._rows) if raw.row > self.p.after_row), len(self._rows))
        last = journaled[-1] if journaled else None
        self._gate = BarGate(f"{spec.symbol} ({spec.path.name})", (last.time, last.values) if last else None)
        self._due = time.monotonic()
        self._through = self.p.through

    def _backlog_left(self) -> bool:
        return self._replayed < len(self.p.journaled)

    def _load(self) -> bool | None:
        if self._backlog_left():
            bar = self.p.journaled[self._replayed]
            self._replayed += 1
            self._deliver(bar.time, bar.values, self._is_live(bar.time))
            return True
        spec: FeedSpec = self.p.spec
        while self._next < len(self._rows):
            raw = self._rows[self._next]
            live = self._is_live(raw.time)
            if live and spec.pace > 0:
                wait = self._due - time.monotonic()
                if wait > 0:
                    time.sleep(min(wait, self._qcheck))
                    if self._due > time.monotonic():
                        return None  # not due yet: Cerebro goes round and asks again
            self._next += 1
            verdict = self._gate.check(raw)
            if verdict == DUPLICATE:
                log.debug("%s row %d: bar %s delivered again, taken once", self._symbol, raw.row, raw.time)
                continue
            if verdict is not None:
                log.warning("%s row %d: rejected bar %s: %s", self._symbol, raw.row, raw.time, verdict)
                self.p.journal.append("rejected", f"rejected:{self._symbol}:{raw.row}",
                                      {"row": raw.row, "reason": verdict, "values": list(raw.values)},
                                      symbol=self._symbol, time_=None if raw.time is None else raw.time.isoformat())
                continue
            self.p.journal.append("bar", f"bar:{self._symbol}:{raw.time.isoformat()}",
                                  {"row": raw.row, "live": live, **dict(zip(COLUMNS, raw.values))},
                                  symbol=self._symbol, time_=raw.time.isoformat())
            self._deliver(raw.time, raw.values, live)
            if live:
                self._due = time.monotonic() + spec.pace
            return True
        return False

    def _is_live(self, when: pd.Timestamp | None) -> bool:
        """Whether a bar at `when` is traded (LIVE) rather than history for the warm-up (DELAYED)."""
        if when is None:
            return True
        start, through = self.p.spec.start, self._through
        return (start is None or when >= start) and (through is None or when > through)

    def _deliver(self, when: pd.Timestamp, values: Sequence[float], live: bool) -> None:
        self.put_notification(self.LIVE if live else self.DELAYED)
        lines = self.lines
        lines.open[0], lines.high[0], lines.low[0], lines.close[0], lines.volume[0] = values
        lines.datetime[0] = bt.date2num(when.to_pydatetime())
