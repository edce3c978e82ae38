"""What a paper run's journal says: its `RunStatus` (accounts, orders, counts, gaps, how it stopped) and
its bars, fills, trades and equity as a backtest's frames.

Everything here reads the journal only (read-only, so it works while a run is writing it): a
status needs no access to the running process, and a run that died says where it stood.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import backtrader as bt
import numpy as np
import pandas as pd

from signalstack.core.bars import COLUMNS
from signalstack.plugin.analyzers import Performance
from signalstack.plugin.backtest import configure_broker
from signalstack.plugin.feeds import bars_feed
from signalstack.plugin.ledger import FILL_COLUMNS, TRADE_COLUMNS

from .events import Bar, Gap, ModelChange, Order, RiskBreach, RunConfig, Signal, Snapshot, Stop
from .journal import Event, Journal
from .kill_switch import stop_file


@dataclass(frozen=True)
class RunStatus:
    """Where a paper run stands according to its journal: what `paper status` prints (`format_status`) and
    `--json` writes (`as_dict`)."""

    run: RunConfig
    accounts: dict[str, Snapshot]
    """Each feed's account after its last finished bar (its starting cash before the first)."""
    today: str | None
    """The date of the last finished bar, on the bars' own clock; None before the first."""
    today_pnl: float
    """Equity against the accounts' values at the last bar of the previous date."""
    open_orders: list[Event[Order]]
    """Orders neither filled nor cancelled."""
    counts: dict[str, int]
    """Events by kind."""
    risk_events: list[Event[RiskBreach]]
    gaps: list[Event[Gap]]
    """Live bars whose signal was not there when the strategy decided."""
    model_changes: list[Event[ModelChange]]
    last_bar: dict[str, str]
    """Each symbol's last bar time."""
    last_signal: dict[str, Event[Signal]]
    stopped: Stop | None
    """How the run last stopped; None while it runs (or when it crashed)."""
    stop_requested: bool
    """Whether the kill switch is set and not yet honoured."""

    @property
    def cash(self) -> float:
        return sum(a.cash for a in self.accounts.values())

    @property
    def equity(self) -> float:
        return sum(a.value for a in self.accounts.values())

    def gap_reasons(self) -> dict[str, int]:
        """The stale-signal gaps counted by reason."""
        return dict(sorted(Counter(e.payload.why for e in self.gaps).items()))

    def as_dict(self) -> dict[str, Any]:
        """The status as JSON values, keys as `paper status --json` writes them."""
        return {
            "run_id": self.run.run_id, "model": self.run.model_name, "version": self.run.model_version,
            "server": self.run.server, "cash": self.cash, "equity": self.equity, "today": self.today,
            "today_pnl": self.today_pnl, "positions": {s: a.position[0] for s, a in self.accounts.items()},
            "accounts": {s: {"cash": a.cash, "equity": a.value} for s, a in self.accounts.items()},
            "open_orders": [{"order_id": e.payload.order_id, "symbol": e.symbol, "time": e.time,
                             "side": e.payload.side, "size": e.payload.size} for e in self.open_orders],
            **{name: self.counts[kind] for name, kind in (("bars", "bar"), ("signals", "signal"), ("orders", "order"),
                                                          ("fills", "fill"), ("rejected_bars", "rejected"))},
            "risk_events": [{"symbol": e.symbol, "time": e.time, "limit": e.payload.limit, "action": e.payload.action}
                            for e in self.risk_events],
            "stale_gaps": len(self.gaps), "gap_reasons": self.gap_reasons(),
            "model_changes": [{"symbol": e.symbol, "time": e.time, "from": e.payload.previous, "to": e.payload.version}
                              for e in self.model_changes],
            "last_bar": self.last_bar,
            "last_signal": {s: {"time": e.time, "p_up": e.payload.outputs.get("up"), "model": e.payload.model,
                                "version": e.payload.version} for s, e in self.last_signal.items()},
            "stopped": None if self.stopped is None else self.stopped.encode(),
            "stop_requested": self.stop_requested,
        }


def read_status(path: str | Path) -> RunStatus:
    """The run's state from its journal alone (read-only, so it works while a run writes it, and a run
    that died says where it stood): the accounts after each feed's last live bar, today's P&L on the
    bars' own dates, open orders, counts, stale-signal gaps, model changes, risk breaches, how it stopped."""
    path = Path(path)
    with Journal(path, readonly=True) as journal:
        run, counts, snapshots = journal.config(), journal.counts(), journal.last("snapshot")
        today = max((e.time[:10] for e in snapshots.values()), default=None)
        day_start = journal.last("snapshot", before=today) if today else {}  # each account as the day began
        last_bar, last_signal = journal.last("bar"), journal.last("signal")
        events = journal.events(("gap", "model", "risk", "order", "fill", "cancel", "stop"))
    by_kind: dict[str, list[Event[Any]]] = defaultdict(list)
    for event in events:
        by_kind[event.kind].append(event)
    accounts = {s: snapshots[s].payload if s in snapshots else Snapshot(run.cash, run.cash, (0.0, 0.0), {})
                for s in run.symbols}  # an account per feed
    closed = {e.payload.order_id for e in by_kind["fill"] + by_kind["cancel"]}
    return RunStatus(
        run=run, accounts=accounts, today=today,
        today_pnl=sum(a.value for a in accounts.values())
        - sum(day_start[s].payload.value if s in day_start else run.cash for s in run.symbols),
        open_orders=[e for e in by_kind["order"] if e.payload.order_id not in closed], counts=counts,
        risk_events=by_kind["risk"], gaps=by_kind["gap"], model_changes=by_kind["model"],
        last_bar={s: last_bar[s].time for s in run.symbols if s in last_bar},
        last_signal={s: last_signal[s] for s in run.symbols if s in last_signal},
        stopped=by_kind["stop"][-1].payload if by_kind["stop"] else None, stop_requested=stop_file(path).exists())


def format_status(status: RunStatus) -> str:
    """The lines `paper status` prints."""
    run = status.run
    positions = ", ".join(f"{s} {a.position[0]:g}" for s, a in status.accounts.items()) or "none"
    lines = [
        f"run {run.run_id}  model {run.model_name} v{run.model_version}{f' from {run.server}' if run.server else ''}",
        f"cash {status.cash:,.2f}  equity {status.equity:,.2f}  positions: {positions}",
        (f"P&L on {status.today}: {status.today_pnl:+,.2f}" if status.today else "no live bar finished yet"),
        "  ".join(f"{name} {status.counts[kind]}" for name, kind in (("bars", "bar"), ("signals", "signal"),
                  ("orders", "order"), ("fills", "fill"), ("rejected bars", "rejected"), ("stale gaps", "gap"))),
    ]
    if status.risk_events:
        last = status.risk_events[-1]
        lines.append(f"risk limits breached {len(status.risk_events)} times; last: {last.symbol} {last.payload.limit} "
                     f"on {last.time} ({last.payload.action})")
    if status.gaps:
        lines.append("stale-signal gaps: " + ", ".join(f"{why} {n}" for why, n in status.gap_reasons().items()))
    for change in status.model_changes:
        lines.append(f"{change.symbol}: model v{change.payload.previous} -> v{change.payload.version} from bar "
                     f"{change.time}")
    for order in status.open_orders:
        lines.append(f"open order {order.payload.order_id}: {order.symbol} {order.payload.side} "
                     f"{order.payload.size:g} (decided on {order.time})")
    for symbol, time in status.last_bar.items():
        signal = status.last_signal.get(symbol)
        p_up = None if signal is None else signal.payload.outputs.get("up")
        said = (f"; last signal {signal.time} p_up {p_up:.4f} ({signal.payload.model} v{signal.payload.version})"
                if signal is not None and p_up is not None else "")
        lines.append(f"{symbol}: last bar {time}{said}")
    if status.stopped:
        lines.append(f"stopped: {status.stopped.reason}")
    if status.stop_requested:
        lines.append("stop requested: the run stops at its next bar")
    return "\n".join(lines)


def fills_frame(journal: Journal) -> pd.DataFrame:
    """Every journaled fill, in order, with the columns of a backtest's fills (`FILL_COLUMNS`) and `order_id`."""
    rows = [{"symbol": e.symbol, "time": pd.Timestamp(e.time), **{k: getattr(e.payload, k) for k in FILL_COLUMNS[2:]},
             "order_id": e.payload.order_id} for e in journal.events(("fill",))]
    return pd.DataFrame(rows, columns=[*FILL_COLUMNS, "order_id"])


def equity_frame(journal: Journal) -> pd.DataFrame:
    """Each feed's account value and cash after each of its live bars: one row per (symbol, time)."""
    rows = [{"symbol": e.symbol, "time": pd.Timestamp(e.time), "value": e.payload.value, "cash": e.payload.cash}
            for e in journal.events(("snapshot",))]
    return pd.DataFrame(rows, columns=["symbol", "time", "value", "cash"])


def bar_frames(journal: Journal) -> dict[str, pd.DataFrame]:
    """{symbol: the bars its feed delivered (history and live), as `load_bars` gives them}."""
    rows: dict[str, list[Event[Bar]]] = defaultdict(list)
    for event in journal.events(("bar",)):
        rows[event.symbol or ""].append(event)
    return {symbol: pd.DataFrame([e.payload.values for e in events], columns=list(COLUMNS), dtype=np.float64,
                                 index=pd.DatetimeIndex([pd.Timestamp(e.time) for e in events], name="datetime"))
            .sort_index() for symbol, events in rows.items()}


def trades_frame(journal: Journal) -> pd.DataFrame:
    """Every round trip of the run in a backtest's trades columns (`TRADE_COLUMNS`), in the order they opened:
    each trade Backtrader closed, then the one open at each symbol's last snapshot (no exit nor pnl yet). A
    journal of schema 1 has no trades: Backtrader makes them again from its fills (`_Refill`)."""
    if journal.schema < 2:
        return _refilled(journal)
    rows = [{"symbol": e.symbol, **vars(e.payload)} for e in journal.events(("trade",))]
    still_open = [(symbol, e.payload.trade) for symbol, e in journal.last("snapshot").items() if e.payload.trade]
    rows += [{"symbol": symbol, "entry_time": t.opened, "direction": "long" if t.size > 0 else "short", "size": t.peak,
              "entry_price": t.price, "commission": t.commission} for symbol, t in still_open]
    frame = pd.DataFrame(rows, columns=list(TRADE_COLUMNS))
    for column in ("entry_time", "exit_time"):
        frame[column] = pd.to_datetime(frame[column])
    return frame.sort_values("entry_time", kind="stable").reset_index(drop=True)


class _Refill(bt.Strategy):
    """Places a run's fills again, each as a market order on the bar before it (`sizes`: {date number: sizes}),
    so that the run's broker fills them as it did and Backtrader's notifications make the trades."""

    params = (("sizes", None),)

    def next(self) -> None:
        for size in self.p.sizes.get(self.data.datetime[0], ()):
            (self.buy if size > 0 else self.sell)(size=abs(size))


def _refilled(journal: Journal) -> pd.DataFrame:
    """The trades of a journal of schema 1: `_Refill` over each symbol's journaled bars."""
    run, fills = journal.config(), fills_frame(journal)
    frames = []
    for symbol, bars in bar_frames(journal).items():
        sizes: dict[float, list[float]] = defaultdict(list)
        filled = fills.loc[fills["symbol"] == symbol]
        for placed, size in zip(bars.index[bars.index.get_indexer(filled["time"]) - 1], filled["size"]):
            sizes[bt.date2num(placed.to_pydatetime())].append(size)
        cerebro = bt.Cerebro(stdstats=False)
        cerebro.adddata(bars_feed(bars, symbol))
        configure_broker(cerebro.broker, run.cash, run.commission, run.slippage)
        cerebro.addstrategy(_Refill, sizes=sizes)
        cerebro.addanalyzer(Performance, _name="performance")  # its ledger records the trades
        frames.append(cerebro.run()[0].analyzers.performance.trades)
    if not frames:
        return pd.DataFrame(columns=list(TRADE_COLUMNS))
    return pd.concat(frames, ignore_index=True).sort_values("entry_time", kind="stable").reset_index(drop=True)
