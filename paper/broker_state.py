"""Where each symbol of a paper run stands according to its journal alone: what a resumed run starts from.

Each feed of a run trades its own account, as each `--data` of a backtest does. After each live
bar the strategy journals a `snapshot` of that account (cash, position, the strategy's own state).
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

from signalstack.core.bars import COLUMNS

from .feeds import JournaledBar
from .journal import Event, Journal


@dataclass(frozen=True)
class PendingOrder:
    """An order submitted before the checkpoint and neither filled nor cancelled by then."""

    order_id: str
    side: str
    """buy or sell."""
    size: float
    """Units, unsigned."""


@dataclass(frozen=True)
class SymbolState:
    """One symbol's account and strategy at its last finished bar, and the bars it had seen."""

    bars: list[JournaledBar]
    """Every bar journaled for the symbol, in delivery order: history up to `through`, then the bars a
    crash interrupted, delivered again."""
    after_row: int
    """The last row of the feed file journaled (as a bar or a rejection): reading resumes after it."""
    through: pd.Timestamp | None = None
    """The last finished live bar (its snapshot is journaled); None: none yet, start afresh."""
    cash: float | None = None
    """The account's cash then; None: the run's starting cash."""
    size: float = 0.0
    price: float = 0.0
    strategy: dict[str, int] = field(default_factory=dict)
    """The strategy's state then (`entry_bar`, `stopped_side`)."""
    pending: list[PendingOrder] = field(default_factory=list)


def checkpoint(journal: Journal) -> dict[str, SymbolState]:
    """{symbol: the state a resumed run starts it from}, read from `journal` (see the module docstring)."""
    by_symbol: dict[str, list[Event]] = defaultdict(list)
    for event in journal.events(("bar", "rejected", "snapshot", "order", "fill", "cancel")):
        by_symbol[event.symbol].append(event)
    return {symbol: _symbol_state(symbol, events) for symbol, events in by_symbol.items()}


def _symbol_state(symbol: str, events: list[Event]) -> SymbolState:
    bars = [JournaledBar(pd.Timestamp(e.time), tuple(e.payload[c] for c in COLUMNS), e.payload["row"])
            for e in events if e.kind == "bar"]
    after_row = max((e.payload["row"] for e in events if e.kind in ("bar", "rejected")), default=0)
    snapshots = [e for e in events if e.kind == "snapshot"]
    if not snapshots:
        return SymbolState(bars=bars, after_row=after_row)
    last = snapshots[-1]
    done = {e.payload["order_id"] for e in events if e.kind in ("fill", "cancel") and e.seq <= last.seq}
    pending = [PendingOrder(e.payload["order_id"], e.payload["side"], e.payload["size"]) for e in events if e.kind == "order" and e.seq <= last.seq and e.payload["order_id"] not in done]
    size, price = last.payload["position"]
    return SymbolState(bars=bars, after_row=after_row, through=pd.Timestamp(last.time), cash=last.payload["cash"],
                       size=size, price=price, strategy=last.payload["strategy"], pending=pending)
