"""Risk limits of a paper run: per-symbol position, gross exposure across accounts, a daily loss halt.

`RiskLimits` says what a run may hold; `RiskBook` is the run's view of its accounts that checks each
entry against them, shared by the feeds' threads (one `Controller` holds it). Limits left unset are
never checked, so a run without limits trades exactly as `run_backtest` does.

- max_position: a symbol's position may be at most this fraction of its own account's equity
  (|units| x the deciding bar's close / the account's value then), the way `--stake` sizes it.
- max_gross: the run's gross exposure, sum over accounts of |position value| / sum of their equity,
  may be at most this (1.0: no leverage across the run).
- daily_loss_limit: once the run's equity (the sum of its accounts) has fallen this fraction below
  its value at the close of the previous day, no entry is made for the rest of that day (the bars'
  own date); exits, stops and the kill switch's flattening still trade.

An entry that would breach a limit is cut down to the largest whole number of units within every
limit (`action` "cut"), or not placed when no new unit fits (`action` "blocked"); the closing part
of a reversal always goes through, and an order that only reduces a position is never checked.
Each breach is journaled as a `risk` event before the order is cut or dropped.

The checks across accounts read every other account as of its last finished bar *before* the
deciding bar's time: an entry waits until the other feeds have reached that time (or ended). That
makes each decision a function of the bars alone, not of how the threads happened to run, so a
resumed run re-derives the same decisions and the journal takes each event once.
"""

from __future__ import annotations

import bisect
import math
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from signalstack.core.settings import parse
from signalstack.core.times import bar_time, date_number

from .config import RiskLimits
from .events import RiskBreach, RunConfig, Snapshot
from .journal import Event, Journal

_WAIT_SECONDS = 0.1
"""How often an entry waiting on the other feeds looks whether its own run is stopping."""


class RiskWaitCancelled(RuntimeError):
    """The run was told to stop while an entry waited on the other feeds; the bar is left unfinished."""


@dataclass(frozen=True)
class Breach:
    """One limit an entry would break."""

    limit: str
    """max_position, max_gross or daily_loss_limit."""
    value: float
    """What the entry would make the limited figure (position or gross fraction), or the day's loss so far."""
    threshold: float
    """The limit's setting."""
    units: float
    """Units the position may reach on the entry's side under this limit."""


@dataclass(frozen=True)
class Verdict:
    """What becomes of an order: the size to place (unsigned; 0 places nothing) and the limits it broke."""

    size: float
    breaches: tuple[Breach, ...] = ()
    action: str | None = None
    """None (within the limits), "cut" (fewer units) or "blocked" (no new units)."""

    def journal(self, journal: Journal, symbol: str, time: str, number: int, side: str, wanted: float) -> None:
        """Journal each breach as a `risk` event, keyed by symbol, bar time, order number and limit."""
        for breach in self.breaches:
            journal.append(
                RiskBreach(
                    breach.limit, breach.value, breach.threshold, self.action, side, wanted, self.size, breach.units
                ),
                f"risk:{symbol}:{time}:{number}:{breach.limit}",
                symbol=symbol,
                time_=time,
            )


@dataclass(frozen=True)
class _Record:
    """An account after a bar: its equity and the value of its position (|equity - cash| for stocks)."""

    when: float
    """The bar's Backtrader date number."""
    equity: float
    exposure: float


class RiskBook:
    """The accounts of one run as the risk checks see them, shared by the threads of its feeds.

    Each feed tells the book where it is (`progress`, at the start of each bar), how its account
    stands after each live bar (`record`) and when it has ended (`finish`); `check` vets an order.
    """

    def __init__(
        self,
        limits: RiskLimits,
        symbols: Sequence[str],
        cash: float,
        records: Iterable[tuple[str, float, float, float]] = (),
    ) -> None:
        """`records`: (symbol, date number, equity, cash) of accounts after bars of earlier sessions."""
        self.limits = limits
        self.cash = float(cash)
        self._records: dict[str, list[_Record]] = {symbol: [] for symbol in symbols}
        self._times: dict[str, list[float]] = {symbol: [] for symbol in symbols}  # the records' times, to bisect
        self._progress: dict[str, float] = {}
        self._finished: set[str] = set()
        self._changed = threading.Condition()
        for symbol, when, equity, cash_now in records:
            self.record(symbol, when, equity, cash_now)

    def progress(self, symbol: str, when: float) -> None:
        """`symbol`'s feed is at the bar stamped `when`: every bar of it before `when` is finished."""
        with self._changed:
            if when > self._progress.get(symbol, -math.inf):
                self._progress[symbol] = when
                self._changed.notify_all()

    def record(self, symbol: str, when: float, equity: float, cash: float) -> None:
        """`symbol`'s account after its bar at `when` (a bar redone after a crash is recorded once)."""
        with self._changed:
            records, times = self._records.setdefault(symbol, []), self._times.setdefault(symbol, [])
            if not times or when > times[-1]:
                records.append(_Record(when, float(equity), abs(float(equity) - float(cash))))
                times.append(when)

    def finish(self, symbol: str) -> None:
        """`symbol`'s feed has ended: the checks of the others wait for it no more."""
        with self._changed:
            self._finished.add(symbol)
            self._changed.notify_all()

    def check(
        self,
        symbol: str,
        when: float,
        position: float,
        size: float,
        close: float,
        equity: float,
        cancelled: Callable[[], bool],
    ) -> Verdict:
        """The verdict on an order of signed `size` units for `symbol` decided on the bar at `when` (its
        `close`), holding `position` units in an account worth `equity`. Waits for the other feeds when a
        limit across accounts is set; raises RiskWaitCancelled when `cancelled()` turns true meanwhile."""
        new = position + size
        side = (new > 0) - (new < 0)
        held = position if (position > 0) - (position < 0) == side else 0.0
        if side == 0 or abs(new) <= abs(held):
            return Verdict(abs(size))  # only reduces or closes: exits always trade
        limits, wanted = self.limits, abs(new)
        breaches = []
        if limits.max_position is not None:
            units = max(math.floor(limits.max_position * equity / close), abs(held))
            if wanted > units:
                breaches.append(Breach("max_position", wanted * close / equity, limits.max_position, units))
        if limits.max_gross is not None or limits.daily_loss_limit is not None:
            others = self._others_before(symbol, when, cancelled)
            if limits.max_gross is not None:
                exposure = sum(r.exposure for r in others.values())
                total = sum(r.equity for r in others.values()) + equity
                units = max(math.floor(max(limits.max_gross * total - exposure, 0.0) / close), abs(held))
                if wanted > units:
                    breaches.append(Breach("max_gross", (exposure + wanted * close) / total, limits.max_gross, units))
            if limits.daily_loss_limit is not None:
                loss = self._day_loss(symbol, when, equity, others)
                if loss >= limits.daily_loss_limit:
                    breaches.append(Breach("daily_loss_limit", loss, limits.daily_loss_limit, abs(held)))
        if not breaches:
            return Verdict(abs(size))
        units = min(b.units for b in breaches)
        placed = abs(side * units - position)
        return Verdict(placed, tuple(breaches), "cut" if units > abs(held) else "blocked")

    def _others_before(self, symbol: str, when: float, cancelled: Callable[[], bool]) -> dict[str, _Record]:
        """The other accounts after their last bar before `when`, once every other feed has reached `when`."""
        with self._changed:
            while any(
                s != symbol and s not in self._finished and self._progress.get(s, -math.inf) < when
                for s in self._records
            ):
                if cancelled():
                    raise RiskWaitCancelled(
                        f"{symbol}: stopped while waiting for the other feeds to reach {bar_time(when)}"
                    )
                self._changed.wait(_WAIT_SECONDS)
            return {s: self._before(s, when) for s in self._records if s != symbol}

    def _before(self, symbol: str, when: float) -> _Record:
        """`symbol`'s account after its last bar before `when`; its starting cash before its first."""
        i = bisect.bisect_left(self._times[symbol], when)
        return self._records[symbol][i - 1] if i else _Record(-math.inf, self.cash, 0.0)

    def _day_loss(self, symbol: str, when: float, equity: float, others: Mapping[str, _Record]) -> float:
        """The largest fall of the run's equity below the day's start, over the day's bars up to `when`."""
        day = float(math.floor(when))  # a date number's integer part is its day
        with self._changed:
            start = sum(self._before(s, day).equity for s in self._records)
            times = sorted(
                {
                    t
                    for symbol_times in self._times.values()
                    for t in symbol_times[bisect.bisect_left(symbol_times, day) :]
                    if t < when
                }
            )
            worst = sum(r.equity for r in others.values()) + equity  # the run now, this account at its close
            for moment in times:
                worst = min(worst, sum(self._before(s, math.nextafter(moment, math.inf)).equity for s in self._records))
        return max(0.0, 1.0 - worst / start)


def open_book(config: RunConfig, journal: Journal) -> RiskBook | None:
    """The risk book of the run configured by `config`, primed with the accounts its journal recorded so
    far; None when the run sets no limit."""
    limits = parse(RiskLimits, config.risk, source="the journaled risk limits")
    if not limits.active():
        return None
    return RiskBook(limits, config.symbols, config.cash, (_snapshot_record(e) for e in journal.events(("snapshot",))))


def _snapshot_record(event: Event[Snapshot]) -> tuple[str, float, float, float]:
    return event.symbol or "", date_number(event.time), event.payload.value, event.payload.cash


__all__ = ["Breach", "RiskBook", "RiskLimits", "RiskWaitCancelled", "Verdict", "open_book"]
