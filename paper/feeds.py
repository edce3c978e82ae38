"""Live feeds of a paper run: what a `--feed` says (`FeedSpec`), how a row becomes a bar (`BarGate`), and
`LiveFeed`, the base of the three kinds of feed; the replay feed itself.

Every feed is a Backtrader *live* feed (`islive()`), so Cerebro runs bar by bar as it would on a market:

- `replay:FILE.csv[?pace=SECONDS][&start=DATE]` (`ReplayFeed`): a finished file (CSV or Parquet), one
  row every `pace` seconds (0: as fast as the run goes; a row that is then rejected takes its turn, as
  a bad tick of a live source would); the feed ends with the file.
- `tail:FILE.csv[?idle=SECONDS][&start=DATE]` (`signalstack.paper.tail`): a file another process
  appends rows to, followed as `tail -f` does.
- `SYMBOL=grpc:HOST:PORT[?idle=SECONDS][&start=DATE][&token_file=FILE][&tls_cert=PEM&tls_key=PEM]`
  (`signalstack.paper.push`): bars pushed by any process through the `signalstack.v1.BarFeed` gRPC
  service; with `token_file`, only by senders with one of its bearer tokens, and with the TLS
  certificate and key, over TLS (`signalstack serve`'s --token-file, --tls-cert and --tls-key).

What they share (`LiveFeed`): bars before `start` are history for the model's warm-up, delivered with
the DELAYED status (no trading), later bars are LIVE. `_load` returns None while nothing new has come
and False once the feed has ended. Every arrival is checked the way a live source must be: one whose
time or values cannot be a bar (a row with more fields than its header, NaN, price <= 0, high/low
outside the open/close envelope, a time out of order or repeated with other values) is logged, journaled
as rejected with the reason and never reaches the strategy; a bar delivered again (same time, same
values) is taken once; a row with no values at all (Yahoo's holidays) is skipped. Each accepted bar is
journaled before it is delivered. While nothing comes, a feed ends when the run is asked to stop (the
kill switch without --flatten, SIGTERM; with --flatten it waits for the bars that close the position)
or after `idle` seconds of silence (never by default). A resumed run delivers the bars the journal
holds first (history up to its checkpoint, the bars after it again), then goes on with the first bar
it had not journaled.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs

import backtrader as bt
import pandas as pd

from signalstack.core.bars import RawBar, bar_problem, read_rows
from signalstack.core.errors import SettingsError
from signalstack.core.times import as_time, date_number

from .events import Bar, Rejected, Stop

log = logging.getLogger(__name__)

FEED_FORMS = (
    "replay:FILE.csv[?pace=SECONDS][&start=DATE], tail:FILE.csv[?idle=SECONDS][&start=DATE] or "
    "grpc:HOST:PORT[?idle=SECONDS][&start=DATE][&token_file=FILE][&tls_cert=PEM&tls_key=PEM], prefixed "
    "SYMBOL= (optional for files, required for grpc:)"
)
"""The feed specs `paper run --feed` accepts."""

_SYMBOL_PREFIX = re.compile(r"^([A-Za-z0-9_.^\-]+)=(?=[a-z]+:)")
_OPTIONS = {
    "replay": ("pace", "start"),
    "tail": ("idle", "start"),
    "grpc": ("idle", "start", "token_file", "tls_cert", "tls_key"),
}
"""Each kind of feed and the options its spec takes."""


@dataclass(frozen=True)
class FeedSpec:
    """A parsed `--feed`: the kind of feed, where its bars come from, the symbol they trade as, its options."""

    text: str
    """The spec as given."""
    path: Path | None
    """The CSV file of a replay or tail feed; None for grpc."""
    symbol: str
    pace: float = 0.0
    """Seconds between live bars of a replay; 0 delivers them as fast as the run takes them (and for the
    other kinds, whose bars come when they come)."""
    start: pd.Timestamp | None = None
    """Bars before it are history (DELAYED, no trading); None: every bar is live."""
    kind: str = "replay"
    """replay, tail or grpc."""
    address: str | None = None
    """HOST:PORT a grpc feed listens at; None for the file kinds."""
    idle: float | None = None
    """Seconds without a new row or bar after which a tail or grpc feed ends; None: it waits for a stop."""
    token_file: Path | None = None
    """A grpc feed's bearer tokens, one per line (`transport.guard.read_tokens`): a sender must present one;
    None: anyone who reaches the address may push bars."""
    tls_cert: Path | None = None
    """The certificate (PEM) a grpc feed's endpoint serves TLS with, beside `tls_key`; None: plain text."""
    tls_key: Path | None = None

    def canonical(self) -> str:
        """The spec with its symbol, the file's absolute path and every option: what a journal keeps for
        `paper resume` (`parse_feed` of it gives this spec back, bar `text`)."""
        options = [f"pace={self.pace!r}"] if self.kind == "replay" else []
        options += [f"start={self.start.isoformat()}"] if self.start is not None else []
        options += [f"idle={self.idle!r}"] if self.idle is not None else []
        options += [f"{name}={path}" for name, path in self.security().items() if path is not None]
        where = self.address if self.kind == "grpc" else self.path
        return f"{self.symbol}={self.kind}:{where}" + (f"?{'&'.join(options)}" if options else "")

    def describe(self) -> str:
        """Where the feed's bars come from, for messages: the file's name or the address."""
        return f"grpc:{self.address}" if self.path is None else self.path.name

    def security(self) -> dict[str, Path | None]:
        """The files that guard a grpc feed's endpoint, by option name (None where not given)."""
        return {"token_file": self.token_file, "tls_cert": self.tls_cert, "tls_key": self.tls_key}


def parse_feed(text: str) -> FeedSpec:
    """A `FeedSpec` from one of `FEED_FORMS`.

    A file feed's symbol defaults to the file's stem; a grpc feed must name its symbol, which the pushed
    bars name. Raises SettingsError naming the bad part.
    """
    symbol = None
    named = _SYMBOL_PREFIX.match(text)
    if named:
        symbol, rest = named.group(1), text[named.end() :]
    else:
        rest = text
    kind, sep, body = rest.partition(":")
    if not sep or kind not in _OPTIONS:
        raise SettingsError(f"feed {text!r}: kind {kind if sep else rest!r}, expected {FEED_FORMS}")
    location, _, query = body.partition("?")
    if not location:
        raise SettingsError(f"feed {text!r}: nothing after {kind}: (expected {FEED_FORMS})")
    options = {key: values[-1] for key, values in parse_qs(query, keep_blank_values=True).items()}
    unknown = sorted(set(options) - set(_OPTIONS[kind]))
    if unknown:
        raise SettingsError(
            f"feed {text!r}: unknown option(s) {', '.join(unknown)} "
            f"(a {kind} feed takes {' and '.join(_OPTIONS[kind])})"
        )
    pace = _seconds(text, options, "pace", at_least_zero=True) or 0.0
    idle = _seconds(text, options, "idle", at_least_zero=False)
    start = None
    if options.get("start"):
        try:
            start = as_time(options["start"])
        except ValueError:
            raise SettingsError(f"feed {text!r}: start {options['start']!r}, expected a date or datetime") from None
    if kind == "grpc":
        if symbol is None:
            raise SettingsError(
                f"feed {text!r}: no symbol, expected SYMBOL=grpc:HOST:PORT (the symbol the pushed bars name)"
            )
        files = {name: _file(text, options, name) for name in ("token_file", "tls_cert", "tls_key")}
        if (files["tls_cert"] is None) != (files["tls_key"] is None):
            raise SettingsError(
                f"feed {text!r}: tls_cert {files['tls_cert']} and tls_key {files['tls_key']}: expected both or neither"
            )
        return FeedSpec(
            text=text,
            path=None,
            symbol=symbol,
            start=start,
            kind=kind,
            address=_address(text, location),
            idle=idle,
            **files,
        )
    path = Path(location).expanduser().resolve()
    if kind == "replay" and not path.is_file():
        raise SettingsError(f"feed {text!r}: {path} is not a file (expected a CSV or Parquet file of OHLCV bars)")
    if kind == "tail" and (path.is_dir() or not path.parent.is_dir()):
        raise SettingsError(
            f"feed {text!r}: {path} is {'a folder' if path.is_dir() else 'in no existing folder'} "
            "(expected a CSV file of OHLCV bars, or its future path in an existing folder)"
        )
    return FeedSpec(text=text, path=path, symbol=symbol or path.stem, pace=pace, start=start, kind=kind, idle=idle)


def _file(text: str, options: dict[str, str], name: str) -> Path | None:
    """Option `name` as the absolute path of an existing file (None when absent)."""
    if name not in options:
        return None
    path = Path(options[name]).expanduser().resolve()
    if not path.is_file():
        raise SettingsError(
            f"feed {text!r}: {name} {path} is not a file (expected "
            f"{'a file of bearer tokens, one per line' if name == 'token_file' else 'a PEM file'})"
        )
    return path


def _seconds(text: str, options: dict[str, str], name: str, at_least_zero: bool) -> float | None:
    """Option `name` as seconds (None when absent): >= 0 with `at_least_zero`, else > 0."""
    if name not in options:
        return None
    try:
        value = float(options[name])
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and (value >= 0 if at_least_zero else value > 0)):
        bound = ">= 0" if at_least_zero else "> 0"
        raise SettingsError(f"feed {text!r}: {name} {options[name]!r}, expected seconds {bound}")
    return value


def _address(text: str, location: str) -> str:
    """HOST:PORT of a grpc feed, checked (an IPv6 host in brackets: [::1]:50061)."""
    host, sep, port = location.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise SettingsError(f"feed {text!r}: address {location!r}, expected HOST:PORT with a port from 1 to 65535")
    return f"{host}:{int(port)}"


DUPLICATE = "duplicate"
"""`BarGate.check`'s verdict for a bar accepted before, delivered again: taken once, not rejected."""


class BarGate:
    """Decides, arrival by arrival, whether it is the next bar: values clean, time after the last bar's.

    `seen` are the bars accepted before (a resumed run's journaled bars) as (time, values), in order.
    """

    def __init__(self, name: str, seen: Iterable[tuple[dt.datetime, tuple[float, ...]]] = ()) -> None:
        self.name = name
        self._seen = dict(seen)  # every bar accepted, so that a resent bar is known however old it is
        self.last: dt.datetime | None = max(self._seen, default=None)

    def check(self, raw: RawBar) -> str | None:
        """None for a bar to deliver (and remembers it), `DUPLICATE` for a bar accepted before, else why not."""
        problem = raw.problem or bar_problem(*raw.values)  # "high 5, expected high >= max(open, close)"
        if problem is not None:
            return problem
        before = self._seen.get(raw.time)
        if before is not None:
            if before == raw.values:
                return DUPLICATE
            return f"duplicate time {raw.time} with other values than the bar delivered for it"
        if self.last is not None and raw.time < self.last:
            return f"out-of-order time {raw.time} after {self.last}"
        self._seen[raw.time] = raw.values
        self.last = raw.time
        return None


@dataclass(frozen=True)
class JournaledBar:
    """A bar a run journaled before: replayed as warm-up (or redelivered) when the run resumes."""

    time: pd.Timestamp
    values: tuple[float, ...]
    row: int


class LiveFeed(bt.feed.DataBase):
    """What every feed of a paper run does (see the module's docstring); a kind supplies `_arrive`.

    Params: `spec` (FeedSpec), `journal` (Journal the bars and rejections go to), `journaled` (bars
    journaled before, delivered first: a resumed run's history), `through` (the last bar time a resumed
    run had finished: journaled bars up to it are DELAYED history), `after_row` (the last row journaled,
    as a bar or a rejection: arrivals up to it are not taken again), `stopping` (a callable giving the
    run's stop request, an `events.Stop`, or None), `qcheck` (seconds to wait for an arrival before
    handing control back to Cerebro).
    """

    params = (
        ("spec", None),
        ("journal", None),
        ("journaled", ()),
        ("through", None),
        ("after_row", 0),
        ("stopping", None),
        ("qcheck", 0.5),
    )

    def __init__(self) -> None:
        spec: FeedSpec = self.p.spec
        journaled: Sequence[JournaledBar] = self.p.journaled
        self._symbol = spec.symbol
        self._replayed = 0
        self._gate = BarGate(f"{spec.symbol} ({spec.describe()})", ((bar.time, bar.values) for bar in journaled))
        self._heard = time.monotonic()

    def islive(self) -> bool:
        return True

    def haslivedata(self) -> bool:
        return self._backlog_left() or self._waiting()

    def start(self) -> None:
        super().start()
        self._heard = time.monotonic()

    def _waiting(self) -> bool:
        """Whether an arrival is at hand (so Cerebro should not wait)."""
        return False

    def _arrive(self) -> bool | None:
        """Deliver the next new bar: True when one was delivered, None when none has come yet, False when
        the source has ended."""
        raise NotImplementedError

    def _backlog_left(self) -> bool:
        return self._replayed < len(self.p.journaled)

    def _load(self) -> bool | None:
        if self._backlog_left():
            bar = self.p.journaled[self._replayed]
            self._replayed += 1
            self._deliver(bar.time, bar.values, self._is_live(bar.time))
            return True
        arrived = self._arrive()
        if arrived is None:
            self.p.journal.flush()  # nothing to deliver now: what the last bars journaled goes to disk meanwhile
            if self._should_end():
                return False
        return arrived

    def _should_end(self) -> bool:
        """While nothing comes: whether the feed ends now, the run being asked to stop (without flattening,
        which needs more bars) or `idle` seconds having passed since the last arrival."""
        stopping: Callable[[], Stop | None] | None = self.p.stopping
        request = stopping() if stopping is not None else None
        if request is not None and not request.flatten:
            log.info("%s: feed ends, the run is stopping (%s)", self._symbol, request.reason)
            return True
        idle = self.p.spec.idle
        if idle is not None and time.monotonic() - self._heard >= idle:
            log.info("%s: feed ends, nothing came for %g s", self._symbol, idle)
            return True
        return False

    def _admit(self, raw: RawBar) -> str | None:
        """Check an arrival and journal it, as a bar or as rejected: None for a new bar (journaled, to be
        delivered), else `DUPLICATE` or why it was rejected."""
        self._heard = time.monotonic()
        verdict = self._gate.check(raw)
        if verdict == DUPLICATE:
            log.debug("%s row %d: bar %s delivered again, taken once", self._symbol, raw.row, raw.time)
            return verdict
        if verdict is not None:
            log.warning("%s row %d: rejected bar %s: %s", self._gate.name, raw.row, raw.time, verdict)
            self.p.journal.append(
                Rejected(raw.row, verdict, tuple(raw.values)),
                f"rejected:{self._symbol}:{raw.row}",
                symbol=self._symbol,
                time_=None if raw.time is None else raw.time.isoformat(),
            )
            return verdict
        stamp = raw.time.isoformat()
        self.p.journal.append(
            Bar(raw.row, self._is_live(raw.time), *raw.values),
            f"bar:{self._symbol}:{stamp}",
            symbol=self._symbol,
            time_=stamp,
        )
        return None

    def _is_live(self, when: dt.datetime | None) -> bool:
        """Whether a bar at `when` is traded (LIVE) rather than history for the warm-up (DELAYED)."""
        if when is None:
            return True
        start, through = self.p.spec.start, self.p.through
        return (start is None or when >= start) and (through is None or when > through)

    def _deliver(self, when: dt.datetime, values: Sequence[float], live: bool) -> None:
        self.put_notification(self.LIVE if live else self.DELAYED)
        lines = self.lines
        lines.open[0], lines.high[0], lines.low[0], lines.close[0], lines.volume[0] = values
        lines.datetime[0] = date_number(when)


class ReplayFeed(LiveFeed):
    """A finished CSV or Parquet file of bars (`core.bars.read_rows`) replayed as a live Backtrader feed, one
    row every `pace` seconds; see the module's docstring and `LiveFeed` for its params."""

    def _waiting(self) -> bool:
        return self._next < len(self._rows) and self._due <= time.monotonic()

    def start(self) -> None:
        super().start()
        spec: FeedSpec = self.p.spec
        self._rows = read_rows(spec.path)
        self._next = next((i for i, raw in enumerate(self._rows) if raw.row > self.p.after_row), len(self._rows))
        self._due = time.monotonic()

    def _arrive(self) -> bool | None:
        spec: FeedSpec = self.p.spec
        while self._next < len(self._rows):
            raw = self._rows[self._next]
            live = self._is_live(raw.time)
            if live and spec.pace > 0:
                wait = self._due - time.monotonic()
                if wait > 0:
                    self.p.journal.flush()  # the last bar's events go to disk while the next one is not due
                    time.sleep(min(wait, self._qcheck))
                    if self._due > time.monotonic():
                        return None  # not due yet: Cerebro goes round and asks again
            self._next += 1
            if self._admit(raw) is None:
                self._deliver(raw.time, raw.values, live)
                if live:
                    self._due = time.monotonic() + spec.pace
                return True
        return False
