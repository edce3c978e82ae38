"""A portfolio run's rounds: the bars its feeds have for one time reach the strategy together.

Backtrader runs several live feeds in one loop (`Cerebro._runnext`): each pass asks every feed for a bar,
steps the strategy at the earliest time delivered and holds back the later bars for a later pass. A feed
with nothing yet in that pass is simply left out, so a symbol whose bar comes a moment after the others'
would be decided without it, and its bar would then step the strategy again, alone. `Rounds` makes the
passes wait for it, up to a bound: a feed that has a bar holds it (journaled already) until every feed of
the run has one (held, or held back by Backtrader as later than the clock) or has ended, or until `wait`
seconds have passed since the first bar of the round came. The held bars then go in together, in the same
pass, and Backtrader steps the strategy at the earliest of them. Their order is the order of the feeds.

The rule for a late bar: after `wait` seconds the round is decided without the feeds that had nothing. They
are logged, and not waited for again until they deliver, so a suspended symbol costs one wait, not one per
bar. A bar that comes after its time's round was decided still reaches the strategy, as its symbol's bar
(the model's history), but `PortfolioStrategy` does not decide that time again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from .feeds import LiveFeed

log = logging.getLogger(__name__)


class Rounds:
    """Whether the held bars of a run's feeds go in, decided once per pass of Cerebro's loop (see the module).

    Cerebro calls it as it calls a store: `get_notifications` at the start of every pass, before it asks the
    feeds for bars (`cerebro.addstore`). `wait`: seconds a round waits for a late feed.
    """

    def __init__(self, wait: float) -> None:
        self.wait = wait
        self.open = False
        """Whether the held bars go in during this pass."""
        self._feeds: list[_InRound] = []
        self._missed: set[str] = set()  # feeds a round was decided without, not waited for until they deliver
        self._released = 0.0  # when the last round went in (time.monotonic)

    def join(self, feed: LiveFeed) -> None:
        """Take `feed` (built by a class of `in_rounds`) into the rounds, in the order the feeds are given."""
        if not isinstance(feed, _InRound):
            raise TypeError(f"feed {feed._name!r} is a {type(feed).__name__}: expected one built by in_rounds(kind)")
        feed.rounds = self
        self._feeds.append(feed)

    def ready(self) -> bool:
        """Whether a round has bars and waits for no feed any longer: the wait runs from when its first bar came,
        or from the last round's release for a bar held back since before it."""
        came = [feed.came for feed in self._feeds if feed.held is not None or feed.held_back()]
        if not came:
            return False
        return not self._late() or time.monotonic() - max(min(came), self._released) >= self.wait

    def start(self) -> None:
        """Cerebro starts its stores with the run: nothing to start."""

    def stop(self) -> None:
        """Cerebro stops its stores with the run: nothing to stop."""

    def get_notifications(self) -> list[Any]:
        """Open or close this pass (Cerebro's call at the start of every pass); no notifications."""
        self.open = self.ready()
        if self.open:
            self._released = time.monotonic()
            late = self._late()
            if late:
                log.warning(
                    "%s: no bar within %g s of the other feeds' bars: the round is decided without %s (not "
                    "waited for again until %s delivers)",
                    ", ".join(late),
                    self.wait,
                    "it" if len(late) == 1 else "them",
                    "it" if len(late) == 1 else "each",
                )
                self._missed.update(late)
        return []

    def came(self, symbol: str) -> None:
        """A feed holds a bar: it is waited for again in later rounds."""
        self._missed.discard(symbol)

    def _late(self) -> list[str]:
        """The feeds that a round waits for: without a bar, not ended, not missed."""
        return [feed._name for feed in self._feeds if feed.waiting() and feed._name not in self._missed]


class _InRound:
    """What a feed class gains in a portfolio run (`in_rounds`): each bar it takes, and each bar Backtrader holds
    back for it as later than the clock, goes in only when a round opens."""

    rounds: Rounds

    def __init__(self) -> None:
        super().__init__()
        self.held: tuple[datetime, Sequence[float], bool] | None = None
        """The bar taken and not yet delivered: time, values, live."""
        self.came = 0.0
        """When the feed's bar (held, or held back) came (time.monotonic)."""
        self._ended = False
        self._taking = False

    def held_back(self) -> bool:
        """Whether Backtrader holds a bar of this feed back, delivered before the clock reached it."""
        return len(self) < self.buflen()

    def waiting(self) -> bool:
        """Whether this feed has no bar for the round: none held here nor held back by Backtrader, and not ended."""
        return not self._ended and self.held is None and not self.held_back()

    def next(self, datamaster: Any = None, ticks: bool = True) -> bool | None:
        if self.held_back() and not self.rounds.open:
            return None  # Backtrader would deliver it again at once: it waits for its round like a held bar
        return super().next(datamaster=datamaster, ticks=ticks)

    def haslivedata(self) -> bool:
        if self.held is not None:  # Cerebro waits for arrivals (its qcheck) unless some feed has a bar to deliver
            return self.rounds.ready()
        return super().haslivedata()

    def _load(self) -> bool | None:
        if self.held is None and not self._ended:
            self._taking = True
            try:
                arrived = super()._load()  # its bar comes to `_deliver`, which holds it
            finally:
                self._taking = False
            if not arrived:
                self._ended = arrived is False
                return arrived
            self.came = time.monotonic()
            self.rounds.came(self._name)
        if self._ended:
            return False
        if not self.rounds.open:
            return None
        when, values, live = self.held
        self.held = None
        super()._deliver(when, values, live)
        return True

    def _deliver(self, when: datetime, values: Sequence[float], live: bool) -> None:
        if self._taking:
            self.held = (when, tuple(values), live)
        else:
            super()._deliver(when, values, live)


_KINDS: dict[type[LiveFeed], type[LiveFeed]] = {}


def in_rounds(kind: type[LiveFeed]) -> type[LiveFeed]:
    """The feed class `kind` taking part in a run's `Rounds` (give its feeds to `Rounds.join`)."""
    if kind not in _KINDS:
        _KINDS[kind] = type(f"{kind.__name__}InRounds", (_InRound, kind), {})
    return _KINDS[kind]


__all__ = ["Rounds", "in_rounds"]
