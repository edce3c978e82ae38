"""What a paper run says while it trades, at the default log level: `Progress`, a journal listener.

A desk leaving a run alone still wants to see it work. Every event the run journals passes here
(`Journal.listen`), and becomes a log line when it is one a person acts on:

- one line per order, fill and cancellation, per risk-limit breach and stale-signal policy action;
- one per stale-signal gap, at most `GAP_LINES` a `GAP_WINDOW`; the rest are counted, and the count is
  logged when the window ends (or the run stops): an outage of a minute-bar server must not flood the log;
- each symbol's first signal of the session (after a cold start: when trading really begins);
- a status line every `STATUS_BARS` live bars or `STATUS_SECONDS` seconds, whichever comes first: equity
  against the starting cash, positions, and the last signal's age.

Bar times are printed in their feed's zone (`status.shown`). It runs in the thread that journaled the
event (a feed's), so it keeps to a lock and a few comparisons per event.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from typing import Any

from .events import Cancel, Fill, Gap, Order, RiskBreach, RunConfig, Signal, Snapshot, Stale
from .journal import Event
from .status import shown

log = logging.getLogger(__name__)

STATUS_BARS = 100
"""Live bars (of all symbols) between two status lines."""
STATUS_SECONDS = 60.0
"""Seconds between two status lines, when fewer bars came."""
GAP_LINES = 5
"""Stale-signal gaps logged one by one in a `GAP_WINDOW`; later ones in it are counted."""
GAP_WINDOW = 60.0


class Progress:
    """Logs what the run journaled that a person would want to see (see the module docstring)."""

    def __init__(self, run: RunConfig) -> None:
        self._run = run
        self._zones = run.zones
        self._lock = threading.Lock()
        self._accounts: dict[str, Snapshot] = {}
        self._signal: dict[str, tuple[str, float]] = {}  # symbol -> (bar time, when journaled) of its last signal
        self._bars = 0  # live bars since the last status line
        self._said_at = time.monotonic()
        self._gaps_logged = 0
        self._gaps_held: Counter[str] = Counter()  # gaps not logged in the window, by reason
        self._window_ends = 0.0
        self._handlers = {
            "order": self._order,
            "fill": self._fill,
            "cancel": self._cancel,
            "risk": self._risk,
            "gap": self._gap,
            "stale": self._stale,
            "signal": self._new_signal,
            "snapshot": self._snapshot,
            "stop": self._stop,
        }

    def __call__(self, event: Event[Any]) -> None:
        handler = self._handlers.get(event.kind)
        if handler is not None:
            with self._lock:
                handler(event)

    def _at(self, event: Event[Any]) -> str:
        return shown(event.time, self._zones.get(event.symbol or ""))

    def _order(self, event: Event[Order]) -> None:
        o = event.payload
        log.info(
            "%s: order %s %s %g (%s), decided on bar %s at close %g",
            event.symbol,
            o.order_id,
            o.side,
            o.size,
            o.reason,
            self._at(event),
            o.close,
        )

    def _fill(self, event: Event[Fill]) -> None:
        f = event.payload
        log.info(
            "%s: filled %s %s %g at %g, commission %g, on bar %s",
            event.symbol,
            f.order_id,
            f.side,
            abs(f.size),
            f.price,
            f.commission,
            self._at(event),
        )

    def _cancel(self, event: Event[Cancel]) -> None:
        log.warning(
            "%s: order %s ended unfilled (%s) on bar %s",
            event.symbol,
            event.payload.order_id,
            event.payload.status,
            self._at(event),
        )

    def _risk(self, event: Event[RiskBreach]) -> None:
        r = event.payload
        log.warning(
            "%s: risk limit %s (%g, limit %g) on bar %s: %s %g -> %g",
            event.symbol,
            r.limit,
            r.value,
            r.threshold,
            self._at(event),
            r.action,
            r.size,
            r.placed,
        )

    def _stale(self, event: Event[Stale]) -> None:
        s = event.payload
        log.warning(
            "%s: %d bars without a fresh signal (last %s) on bar %s: %s the position of %g",
            event.symbol,
            s.bars,
            shown(s.since, self._zones.get(event.symbol or "")) if s.since else "none",
            self._at(event),
            "flattening" if s.action == "flatten" else "holding",
            s.position,
        )

    def _gap(self, event: Event[Gap]) -> None:
        now = time.monotonic()
        if now >= self._window_ends:
            self._say_held_gaps()
            self._window_ends, self._gaps_logged = now + GAP_WINDOW, 0
        if self._gaps_logged < GAP_LINES:
            self._gaps_logged += 1
            log.warning(
                "%s: no signal for bar %s (%s): no entry on it%s",
                event.symbol,
                self._at(event),
                event.payload.why,
                "; later gaps in the next minute are counted" if self._gaps_logged == GAP_LINES else "",
            )
        else:
            self._gaps_held[event.payload.why] += 1

    def _say_held_gaps(self) -> None:
        if self._gaps_held:
            log.warning(
                "%d more stale-signal gaps (%s)",
                sum(self._gaps_held.values()),
                ", ".join(f"{why} {n}" for why, n in sorted(self._gaps_held.items())),
            )
            self._gaps_held.clear()

    def _new_signal(self, event: Event[Signal]) -> None:
        symbol = event.symbol or ""
        if symbol not in self._signal:
            log.info(
                "%s: first signal of the session, on bar %s (p_up %s, %s v%d)",
                symbol,
                self._at(event),
                _number(event.payload.outputs.get("up")),
                event.payload.model,
                event.payload.version,
            )
        self._signal[symbol] = (event.time or "", event.at)

    def _snapshot(self, event: Event[Snapshot]) -> None:
        self._accounts[event.symbol or ""] = event.payload
        self._bars += 1
        now = time.monotonic()
        if self._bars >= STATUS_BARS or now - self._said_at >= STATUS_SECONDS:
            self._say_status(event)
            self._bars, self._said_at = 0, now

    def _say_status(self, event: Event[Snapshot]) -> None:
        cash = self._run.cash
        equity = sum(self._accounts.get(s, Snapshot(cash, cash, (0.0, 0.0), {})).value for s in self._run.symbols)
        held = ", ".join(f"{s} {a.position[0]:g}" for s, a in self._accounts.items() if a.position[0]) or "none"
        signals = (
            ", ".join(
                f"{s} {shown(bar, self._zones.get(s))} ({event.at - at:.1f} s ago)"
                for s, (bar, at) in self._signal.items()
            )
            or "none yet"
        )
        log.info(
            "bar %s: equity %s (%+.2f%% since start), positions: %s; last signal: %s",
            self._at(event),
            f"{equity:,.2f}",
            (equity / (cash * len(self._run.symbols)) - 1) * 100,
            held,
            signals,
        )

    def _stop(self, event: Event[Any]) -> None:
        self._say_held_gaps()


def _number(value: float | None) -> str:
    return "none" if value is None else f"{value:.4f}"


__all__ = ["GAP_LINES", "GAP_WINDOW", "STATUS_BARS", "STATUS_SECONDS", "Progress"]
