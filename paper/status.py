"""What a paper run's journal says: account, positions, orders, counts, signal gaps; as a dict and as text.

Everything here reads the journal only (read-only, so it works while a run is writing it): a
status needs no access to the running process, and a run that died says where it stood.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pandas as pd

from signalstack.plugin.ledger import FILL_COLUMNS

from .journal import Event, Journal
from .kill_switch import stop_file


def read_status(path: str | Path) -> dict[str, Any]:
    """The run's state from its journal: cash and equity (summed over the feeds' accounts, and per
    account), positions, open orders, counts, last bar and signal per symbol (with the model version
    that made it), stale-signal gaps (live bars whose signal was not there when the strategy decided, from
    the journal's gap events) by reason, model version changes, risk limits' breaches, today's P&L (equity
    against the accounts' values at the last bar of the previous date, on the bars' own dates), how it stopped. Keys as `paper status --json`."""
    path = Path(path)
    with Journal(path, readonly=True) as journal:
        config = journal.config()
        counts = journal.counts()
        events = journal.events(("bar", "signal", "gap", "model", "risk", "order", "fill", "cancel", "snapshot",
                                 "stop"))
    by_kind: dict[str, list[Event]] = defaultdict(list)
    for event in events:
        by_kind[event.kind].append(event)
    accounts = {feed["symbol"]: {"cash": config["cash"], "equity": config["cash"], "position": 0.0}
                for feed in config["feeds"]}  # each feed trades an account of its own
    today = max((e.time[:10] for e in by_kind["snapshot"]), default=None)  # the bars' own date
    day_start = {symbol: a["equity"] for symbol, a in accounts.items()}  # each account at the day's start
    for event in by_kind["snapshot"]:
        accounts[event.symbol] = {"cash": event.payload["cash"], "equity": event.payload["value"],
                                  "position": event.payload["position"][0]}
        if event.time[:10] < today:
            day_start[event.symbol] = event.payload["value"]
    closed = {e.payload["order_id"] for e in by_kind["fill"] + by_kind["cancel"]}
    open_orders = [{"order_id": e.payload["order_id"], "symbol": e.symbol, "time": e.time, "side": e.payload["side"],
                    "size": e.payload["size"]} for e in by_kind["order"] if e.payload["order_id"] not in closed]
    last_bar: dict[str, str] = {}
    for event in by_kind["bar"]:
        last_bar[event.symbol] = max(last_bar.get(event.symbol, event.time), event.time)
    last_signal = {e.symbol: {"time": e.time, "p_up": e.payload.get("up"), "model": e.payload["model"],
                              "version": e.payload["version"]} for e in by_kind["signal"]}
    return {
        "run_id": config["run_id"],
        "model": config["model_name"],
        "version": config["model_version"],
        "server": config.get("server"),
        "cash": sum(a["cash"] for a in accounts.values()),
        "equity": sum(a["equity"] for a in accounts.values()),
        "today": today,
        "today_pnl": sum(a["equity"] for a in accounts.values()) - sum(day_start.values()),
        "positions": {symbol: a["position"] for symbol, a in accounts.items()},
        "accounts": {symbol: {"cash": a["cash"], "equity": a["equity"]} for symbol, a in accounts.items()},
        "open_orders": open_orders,
        "bars": counts["bar"],
        "signals": counts["signal"],
        "orders": counts["order"],
        "fills": counts["fill"],
        "rejected_bars": counts["rejected"],
        "risk_events": [{"symbol": e.symbol, "time": e.time, "limit": e.payload["limit"], "action": e.payload["action"]}
                        for e in by_kind["risk"]],
        "stale_gaps": len(by_kind["gap"]),
        "gap_reasons": dict(sorted(Counter(e.payload["why"] for e in by_kind["gap"]).items())),
        "model_changes": [{"symbol": e.symbol, "time": e.time, "from": e.payload["from"], "to": e.payload["to"]}
                          for e in by_kind["model"]],
        "last_bar": last_bar,
        "last_signal": last_signal,
        "stopped": by_kind["stop"][-1].payload if by_kind["stop"] else None,
        "stop_requested": stop_file(path).exists(),
    }


def format_status(status: dict[str, Any]) -> str:
    """`read_status`'s dict as the lines `paper status` prints."""
    positions = ", ".join(f"{s} {size:g}" for s, size in status["positions"].items()) or "none"
    served = f" from {status['server']}" if status["server"] else ""
    lines = [
        f"run {status['run_id']}  model {status['model']} v{status['version']}{served}",
        f"cash {status['cash']:,.2f}  equity {status['equity']:,.2f}  positions: {positions}",
        (f"P&L on {status['today']}: {status['today_pnl']:+,.2f}" if status["today"] else "no live bar finished yet"),
        (f"bars {status['bars']}  signals {status['signals']}  orders {status['orders']}  fills {status['fills']}  "
         f"rejected bars {status['rejected_bars']}  stale gaps {status['stale_gaps']}"),
    ]
    if status["risk_events"]:
        last = status["risk_events"][-1]
        lines.append(f"risk limits breached {len(status['risk_events'])} times; last: {last['symbol']} {last['limit']} "
                     f"on {last['time']} ({last['action']})")
    if status["gap_reasons"]:
        lines.append("stale-signal gaps: " + ", ".join(f"{why} {n}" for why, n in status["gap_reasons"].items()))
    for change in status["model_changes"]:
        lines.append(f"{change['symbol']}: model v{change['from']} -> v{change['to']} from bar {change['time']}")
    for order in status["open_orders"]:
        lines.append(f"open order {order['order_id']}: {order['symbol']} {order['side']} {order['size']:g} "
                     f"(decided on {order['time']})")
    for symbol, time in status["last_bar"].items():
        signal = status["last_signal"].get(symbol)
        said = (f"; last signal {signal['time']} p_up {signal['p_up']:.4f} ({signal['model']} v{signal['version']})"
                if signal and signal["p_up"] is not None else "")
        lines.append(f"{symbol}: last bar {time}{said}")
    if status["stopped"]:
        lines.append(f"stopped: {status['stopped']['reason']}")
    if status["stop_requested"]:
        lines.append("stop requested: the run stops at its next bar")
    return "\n".join(lines)


def fills_frame(journal: Journal) -> pd.DataFrame:
    """Every journaled fill, in order, with the columns of a backtest's fills (`FILL_COLUMNS`) and `order_id`."""
    rows = [{"symbol": e.symbol, "time": pd.Timestamp(e.time), **{k: e.payload[k] for k in FILL_COLUMNS[2:]},
             "order_id": e.payload["order_id"]} for e in journal.events(("fill",))]
    return pd.DataFrame(rows, columns=[*FILL_COLUMNS, "order_id"])


def equity_frame(journal: Journal) -> pd.DataFrame:
    """Each feed's account value and cash after each of its live bars: one row per (symbol, time)."""
    rows = [{"symbol": e.symbol, "time": pd.Timestamp(e.time), "value": e.payload["value"], "cash": e.payload["cash"]}
            for e in journal.events(("snapshot",))]
    return pd.DataFrame(rows, columns=["symbol", "time", "value", "cash"])
