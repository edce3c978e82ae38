"""Where each symbol of a paper run stands according to its journal alone: what a resumed run starts from.

Each feed of a run trades its own account, as each `--data` of a backtest does. After each live
bar the strategy journals a `snapshot` of that account (cash, position, the strategy's own state,
Backtrader's open trade).
A crash can strike in the middle of a bar's step, after some of its events are journaled and
before the rest are, so a resumed run restarts each symbol from its last snapshot: the bars up to
it are history (the model's warm-up), the bars journaled after it are delivered again and their
events re-derived (the journal takes each once, see `Journal.append`), and the orders submitted by
then but neither filled nor cancelled are pending again.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import pandas as pd

from .events import Order, Snapshot
from .feeds import JournaledBar
from .journal import Event, Journal


@dataclass(frozen=True)
class SymbolState:
    """One symbol's account and strategy at its last finished bar, and the bars it had seen."""

    bars: list[JournaledBar]
    """Every bar journaled for the symbol, in delivery order: history up to `through`, then the bars a
    crash interrupted, delivered again."""
    after_row: int
    """The last row of the feed file journaled (as a bar or a rejection): reading resumes after it."""
    through: pd.Timestamp | None = None
    """The last finished live bar; None: none yet, start afresh."""
    snapshot: Snapshot | None = None
    """The account and strategy after it."""
    pending: list[Order] = field(default_factory=list)
    """The orders submitted by then and neither filled nor cancelled."""
    stale: int = 0
    """Its live bars in a row up to `through` with a stale-signal gap (no fresh signal)."""
    last_signal: str | None = None
    """The bar time of its last signal up to `through`."""


def checkpoint(journal: Journal) -> dict[str, SymbolState]:
    """{symbol: the state a resumed run starts it from}, read from `journal` (see the module docstring)."""
    by_symbol: dict[str, list[Event]] = defaultdict(list)
    for event in journal.events(("bar", "rejected", "snapshot", "order", "fill", "cancel", "signal", "gap")):
        by_symbol[event.symbol].append(event)
    return {symbol: _symbol_state(symbol, events) for symbol, events in by_symbol.items()}


def _symbol_state(symbol: str, events: list[Event]) -> SymbolState:
    bars = [JournaledBar(pd.Timestamp(e.time), e.payload.values, e.payload.row) for e in events if e.kind == "bar"]
    after_row = max((e.payload.row for e in events if e.kind in ("bar", "rejected")), default=0)
    snapshots: list[Event[Snapshot]] = [e for e in events if e.kind == "snapshot"]
    if not snapshots:
        return SymbolState(bars=bars, after_row=after_row)
    last = snapshots[-1]
    done = {e.payload.order_id for e in events if e.kind in ("fill", "cancel") and e.seq <= last.seq}
    pending = [e.payload for e in events if e.kind == "order" and e.seq <= last.seq and e.payload.order_id not in done]
    scored = sorted((e.time, e.kind) for e in events if e.kind in ("signal", "gap") and e.time <= last.time)
    signalled = [time for time, kind in scored if kind == "signal"]
    stale = sum(1 for time, kind in scored if kind == "gap" and (not signalled or time > signalled[-1]))
    return SymbolState(
        bars, after_row, pd.Timestamp(last.time), last.payload, pending, stale, signalled[-1] if signalled else None
    )
