"""What a paper run's journal says: its `RunStatus` (state, accounts, orders, counts, gaps, how it stopped)
and its bars, fills, trades and equity as a backtest's frames.

Everything here reads the journal only (read-only, so it works while a run is writing it), and asks
whether the journal's lease is held (`lease.is_held`, which never takes it): a status needs no access to
the running process, and a run that died says where it stood. A run is in one of `STATES`:

- running: its process holds the lease (pid, host, heartbeat and the last bar's age say how it fares);
- stopping: it holds the lease and a stop was asked for (the kill switch, with or without flattening)
  and is not done yet;
- stopped: the lease is free and its last session journaled a stop and closed the journal (the stop
  says why);
- crashed: the lease is free and its last session did not (killed, the machine lost, a second Ctrl-C):
  `paper resume` continues it.

Times are printed in the bars' own UTC offset when their file gave one, else labelled UTC (`shown`).
"""

from __future__ import annotations

import datetime as dt
import time
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

from .events import Bar, Gap, ModelChange, Order, Portfolio, RiskBreach, RunConfig, Signal, Snapshot, Stale, Stop
from .journal import Event, Journal, Session
from .kill_switch import stop_file, stop_request
from .lease import is_held

STATES = ("running", "stopping", "stopped", "crashed")
"""What `RunStatus.state` says of a run (see the module docstring)."""


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
    state: str
    """One of `STATES`."""
    session: Session | None
    """The last session that wrote the journal: its process, heartbeat and end; None in a journal older than
    sessions."""
    read_at: float
    """Unix seconds when the status was read: the ages are counted to it."""
    last_bar_at: dict[str, float]
    """Unix seconds when each symbol's last bar was journaled."""
    stale: list[Event[Stale]]
    """Each time a symbol's stale-signal policy acted."""
    stopping: Stop | None
    """The stop a running run is honouring (journaled in its session, or the kill switch not yet read);
    None unless the state is stopping."""
    portfolio: Portfolio | None = None
    """A --top-k run's one account after its last finished step (`accounts` then hold each symbol's position
    only); None for a run of an account per feed."""

    @property
    def cash(self) -> float:
        return self.portfolio.cash if self.portfolio else sum(a.cash for a in self.accounts.values())

    @property
    def equity(self) -> float:
        return self.portfolio.value if self.portfolio else sum(a.value for a in self.accounts.values())

    @property
    def unrealized_pnl(self) -> float:
        if self.portfolio is not None:  # one account: its positions' value less what they cost
            held = self.portfolio.value - self.portfolio.cash
            return held - sum(size * price for size, price in self.portfolio.positions.values())
        return sum(_unrealized(a) for a in self.accounts.values())

    @property
    def return_since_start(self) -> float:
        """Equity against the starting cash of every account (of the one account of a --top-k run)."""
        accounts = 1 if self.portfolio is not None else len(self.accounts)
        return self.equity / (self.run.cash * accounts) - 1.0 if accounts else 0.0

    @property
    def heartbeat_age(self) -> float | None:
        """Seconds since the last session's heartbeat; None without sessions."""
        return None if self.session is None else self.read_at - self.session.heartbeat

    def describe_state(self) -> str:
        """The state and what explains it: `running (pid 12 on host; heartbeat 0.4 s ago; last bar 2.0 s ago)`."""
        session = self.session
        who = [] if session is None else [f"pid {session.holder.pid} on {session.holder.host}"]
        if self.state == "stopped":
            why = [
                "no stop journaled"
                if self.stopped is None
                else self.stopped.reason + (f": {self.stopped.error}" if self.stopped.error else "")
            ]
        elif self.state == "crashed":
            beat = [] if session is None else [f"last heartbeat {_utc(session.heartbeat)}"]
            why = [*who, *beat, "no stop journaled: `paper resume` continues it"]
        else:
            why = [*who]
            if self.heartbeat_age is not None:
                why.append(f"heartbeat {self.heartbeat_age:.1f} s ago")
            if self.last_bar_at:
                why.append(f"last bar {self.read_at - max(self.last_bar_at.values()):.1f} s ago")
            if self.stopping is not None:
                why.insert(0, self.stopping.reason + (", closing positions first" if self.stopping.flatten else ""))
        return f"{self.state} ({'; '.join(why)})"

    def gap_reasons(self) -> dict[str, int]:
        """The stale-signal gaps counted by reason."""
        return dict(sorted(Counter(e.payload.why for e in self.gaps).items()))

    def as_dict(self) -> dict[str, Any]:
        """The status as JSON values, keys as `paper status --json` writes them."""
        return {
            "run_id": self.run.run_id,
            "model": self.run.model_name,
            "version": self.run.model_version,
            "server": self.run.server,
            "cash": self.cash,
            "equity": self.equity,
            "today": self.today,
            "today_pnl": self.today_pnl,
            "positions": {s: a.position[0] for s, a in self.accounts.items()},
            "accounts": {
                s: {
                    "cash": a.cash,
                    "equity": a.value,
                    "entry_price": a.position[1] if a.position[0] else None,
                    "unrealized_pnl": _unrealized(a),
                    "return_since_start": a.value / self.run.cash - 1.0,
                }
                for s, a in self.accounts.items()
            }
            if self.portfolio is None
            else {
                "portfolio": {
                    "cash": self.cash,
                    "equity": self.equity,
                    "unrealized_pnl": self.unrealized_pnl,
                    "return_since_start": self.return_since_start,
                }
            },
            "open_orders": [
                {
                    "order_id": e.payload.order_id,
                    "symbol": e.symbol,
                    "time": e.time,
                    "side": e.payload.side,
                    "size": e.payload.size,
                }
                for e in self.open_orders
            ],
            **{
                name: self.counts[kind]
                for name, kind in (
                    ("bars", "bar"),
                    ("signals", "signal"),
                    ("orders", "order"),
                    ("fills", "fill"),
                    ("rejected_bars", "rejected"),
                )
            },
            "risk_events": [
                {"symbol": e.symbol, "time": e.time, "limit": e.payload.limit, "action": e.payload.action}
                for e in self.risk_events
            ],
            "stale_gaps": len(self.gaps),
            "gap_reasons": self.gap_reasons(),
            "model_changes": [
                {"symbol": e.symbol, "time": e.time, "from": e.payload.previous, "to": e.payload.version}
                for e in self.model_changes
            ],
            "last_bar": self.last_bar,
            "last_signal": {
                s: {
                    "time": e.time,
                    "p_up": e.payload.outputs.get("up"),
                    "model": e.payload.model,
                    "version": e.payload.version,
                }
                for s, e in self.last_signal.items()
            },
            "stopped": None if self.stopped is None else self.stopped.encode(),
            "stop_requested": self.stop_requested,
            "state": self.state,
            "pid": None if self.session is None else self.session.holder.pid,
            "host": None if self.session is None else self.session.holder.host,
            "heartbeat": None if self.session is None else _utc(self.session.heartbeat),
            "heartbeat_age": self.heartbeat_age,
            "last_bar_age": {s: self.read_at - at for s, at in self.last_bar_at.items()},
            "unrealized_pnl": self.unrealized_pnl,
            "return_since_start": self.return_since_start,
            "stale_actions": [
                {
                    "symbol": e.symbol,
                    "time": e.time,
                    "bars": e.payload.bars,
                    "action": e.payload.action,
                    "position": e.payload.position,
                    "since": e.payload.since,
                }
                for e in self.stale
            ],
            "zones": {s: zone or "UTC" for s, zone in self.run.zones.items()},
        }


def read_status(path: str | Path) -> RunStatus:
    """The run's state from its journal alone (read-only, so it works while a run writes it, and a run
    that died says where it stood): the accounts after each feed's last live bar, today's P&L on the
    bars' own dates, open orders, counts, stale-signal gaps, model changes, risk breaches, how it stopped."""
    path = Path(path)
    held = is_held(path)  # asked first: a run that ends meanwhile has journaled its end by the time it lets go
    with Journal(path, readonly=True) as journal:
        run, counts = journal.config(), journal.counts()
        kind = "snapshot" if run.ranking is None else "portfolio"  # an account per feed, or one (--top-k)
        snapshots = journal.last(kind)
        today = max((e.time[:10] for e in snapshots.values()), default=None)
        day_start = journal.last(kind, before=today) if today else {}  # each account as the day began
        last_bar, last_signal = journal.last("bar"), journal.last("signal")
        events = journal.events(("gap", "model", "risk", "order", "fill", "cancel", "stop", "stale", "resume"))
        sessions = journal.sessions()
    by_kind: dict[str, list[Event[Any]]] = defaultdict(list)
    for event in events:
        by_kind[event.kind].append(event)
    portfolio = None
    if run.ranking is None:
        accounts = {
            s: snapshots[s].payload if s in snapshots else Snapshot(run.cash, run.cash, (0.0, 0.0), {})
            for s in run.symbols
        }  # an account per feed
        start_value = sum(day_start[s].payload.value if s in day_start else run.cash for s in run.symbols)
    else:
        portfolio = snapshots[""].payload if snapshots else Portfolio(run.cash, run.cash, {}, (), 0)
        accounts = {s: Snapshot(0.0, 0.0, portfolio.positions.get(s, (0.0, 0.0)), {}) for s in run.symbols}
        start_value = day_start[""].payload.value if day_start else run.cash
    closed = {e.payload.order_id for e in by_kind["fill"] + by_kind["cancel"]}
    session = sessions[-1] if sessions else None
    state, stopping = _state(held, session, by_kind, stop_request(path))
    return RunStatus(
        run=run,
        accounts=accounts,
        today=today,
        today_pnl=(portfolio.value if portfolio else sum(a.value for a in accounts.values())) - start_value,
        open_orders=[e for e in by_kind["order"] if e.payload.order_id not in closed],
        counts=counts,
        risk_events=by_kind["risk"],
        gaps=by_kind["gap"],
        model_changes=by_kind["model"],
        last_bar={s: last_bar[s].time for s in run.symbols if s in last_bar},
        last_signal={s: last_signal[s] for s in run.symbols if s in last_signal},
        stopped=by_kind["stop"][-1].payload if by_kind["stop"] else None,
        stop_requested=stop_file(path).exists(),
        state=state,
        session=session,
        read_at=time.time(),
        last_bar_at={s: last_bar[s].at for s in run.symbols if s in last_bar},
        stale=by_kind["stale"],
        stopping=stopping,
        portfolio=portfolio,
    )


def _state(
    held: bool, session: Session | None, by_kind: dict[str, list[Event[Any]]], requested: Stop | None
) -> tuple[str, Stop | None]:
    """The run's state (`STATES`) from whether its lease is held, its last session and its stop events, and
    the stop it is honouring when stopping (`requested`: the kill switch's, while its file is there)."""
    stops = by_kind["stop"]
    if held and (session is None or session.ended is None):
        if session is not None and stops and stops[-1].seq > session.after_seq:
            return "stopping", stops[-1].payload
        return ("stopping", requested) if requested is not None else ("running", None)
    if session is not None:  # (a run whose session has ended may hold the lease a moment longer, closing)
        stopped = session.ended is not None and bool(stops) and stops[-1].seq > session.after_seq
        return ("stopped" if stopped else "crashed"), None
    began = max((e.seq for e in by_kind["resume"]), default=0)  # a journal older than sessions
    return ("stopped" if stops and stops[-1].seq > began else "crashed"), None


def _unrealized(account: Snapshot) -> float:
    """The open position's P&L at the last close: its value (equity less cash) less what it cost."""
    size, price = account.position
    return (account.value - account.cash) - size * price if size else 0.0


def _utc(seconds: float) -> str:
    """Unix seconds as an ISO time in UTC, to the millisecond."""
    return dt.datetime.fromtimestamp(seconds, dt.UTC).isoformat(timespec="milliseconds")


def shown(time: str | None, zone: str | None) -> str:
    """A journaled bar time (naive UTC, ISO) as printed: in the bars' own UTC offset `zone` when their file gave
    one (`2020-01-02T16:00:00-04:00`), else labelled UTC (`2020-01-02T20:00:00 UTC`)."""
    if time is None:
        return "none"
    if zone is None:
        return f"{time} UTC"
    sign, hours, minutes = (-1 if zone[0] == "-" else 1), int(zone[1:3]), int(zone[4:6])
    local = dt.datetime.fromisoformat(time) + sign * dt.timedelta(hours=hours, minutes=minutes)
    return local.isoformat() + zone


def format_status(status: RunStatus) -> str:
    """The lines `paper status` prints."""
    run, zones = status.run, status.run.zones
    positions = (
        ", ".join(
            f"{s} {a.position[0]:g}"
            + (f" @ {a.position[1]:,.2f} (unrealized {_unrealized(a):+,.2f})" if a.position[0] else "")
            for s, a in status.accounts.items()
        )
        or "none"
    )
    lines = [
        f"run {run.run_id}  model {run.model_name} v{run.model_version}{f' from {run.server}' if run.server else ''}",
        f"state: {status.describe_state()}",
        f"cash {status.cash:,.2f}  equity {status.equity:,.2f} ({status.return_since_start:+.2%} since start)  "
        f"positions: {positions}",
        (f"P&L on {status.today}: {status.today_pnl:+,.2f}" if status.today else "no live bar finished yet"),
        "  ".join(
            f"{name} {status.counts[kind]}"
            for name, kind in (
                ("bars", "bar"),
                ("signals", "signal"),
                ("orders", "order"),
                ("fills", "fill"),
                ("rejected bars", "rejected"),
                ("stale gaps", "gap"),
            )
        ),
    ]
    if status.risk_events:
        last = status.risk_events[-1]
        lines.append(
            f"risk limits breached {len(status.risk_events)} times; last: {last.symbol} {last.payload.limit} "
            f"on {shown(last.time, zones.get(last.symbol or ''))} ({last.payload.action})"
        )
    if status.gaps:
        lines.append("stale-signal gaps: " + ", ".join(f"{why} {n}" for why, n in status.gap_reasons().items()))
    for event in status.stale:
        lines.append(
            f"{event.symbol}: {event.payload.bars} bars without a fresh signal on "
            f"{shown(event.time, zones.get(event.symbol or ''))}: {event.payload.action} "
            f"(position {event.payload.position:g})"
        )
    for change in status.model_changes:
        lines.append(
            f"{change.symbol}: model v{change.payload.previous} -> v{change.payload.version} from bar "
            f"{shown(change.time, zones.get(change.symbol or ''))}"
        )
    for order in status.open_orders:
        lines.append(
            f"open order {order.payload.order_id}: {order.symbol} {order.payload.side} "
            f"{order.payload.size:g} (decided on {shown(order.time, zones.get(order.symbol or ''))})"
        )
    for symbol, time_ in status.last_bar.items():
        signal = status.last_signal.get(symbol)
        p_up = None if signal is None else signal.payload.outputs.get("up")
        said = (
            f"; last signal {shown(signal.time, zones.get(symbol))} p_up {p_up:.4f} ({signal.payload.model} "
            f"v{signal.payload.version})"
            if signal is not None and p_up is not None
            else ""
        )
        lines.append(f"{symbol}: last bar {shown(time_, zones.get(symbol))}{said}")
    return "\n".join(lines)


def fills_frame(journal: Journal) -> pd.DataFrame:
    """Every journaled fill, in order, with the columns of a backtest's fills (`FILL_COLUMNS`) and `order_id`."""
    rows = [
        {
            "symbol": e.symbol,
            "time": pd.Timestamp(e.time),
            **{k: getattr(e.payload, k) for k in FILL_COLUMNS[2:]},
            "order_id": e.payload.order_id,
        }
        for e in journal.events(("fill",))
    ]
    return pd.DataFrame(rows, columns=[*FILL_COLUMNS, "order_id"])


def equity_frame(journal: Journal) -> pd.DataFrame:
    """Each feed's account value and cash after each of its live bars: one row per (symbol, time); a --top-k run's
    one account after each step of its clock, as symbol "portfolio"."""
    rows = [
        {
            "symbol": e.symbol or "portfolio",
            "time": pd.Timestamp(e.time),
            "value": e.payload.value,
            "cash": e.payload.cash,
        }
        for e in journal.events(("snapshot", "portfolio"))
    ]
    return pd.DataFrame(rows, columns=["symbol", "time", "value", "cash"])


def bar_frames(journal: Journal) -> dict[str, pd.DataFrame]:
    """{symbol: the bars its feed delivered (history and live), as `load_bars` gives them}."""
    rows: dict[str, list[Event[Bar]]] = defaultdict(list)
    for event in journal.events(("bar",)):
        rows[event.symbol or ""].append(event)
    return {
        symbol: pd.DataFrame(
            [e.payload.values for e in events],
            columns=list(COLUMNS),
            dtype=np.float64,
            index=pd.DatetimeIndex([pd.Timestamp(e.time) for e in events], name="datetime"),
        ).sort_index()
        for symbol, events in rows.items()
    }


def trades_frame(journal: Journal) -> pd.DataFrame:
    """Every round trip of the run in a backtest's trades columns (`TRADE_COLUMNS`), in the order they opened:
    each trade Backtrader closed, then the one open at each symbol's last snapshot (no exit nor pnl yet). A
    journal of schema 1 has no trades: Backtrader makes them again from its fills (`_Refill`)."""
    if journal.schema < 2:
        return _refilled(journal)
    rows = [{"symbol": e.symbol, **vars(e.payload)} for e in journal.events(("trade",))]
    still_open = [(symbol, e.payload.trade) for symbol, e in journal.last("snapshot").items() if e.payload.trade]
    still_open += [item for e in journal.last("portfolio").values() for item in e.payload.trades.items()]  # --top-k
    rows += [
        {
            "symbol": symbol,
            "entry_time": t.opened,
            "direction": "long" if t.size > 0 else "short",
            "size": t.peak,
            "entry_price": t.price,
            "commission": t.commission,
        }
        for symbol, t in still_open
    ]
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
