"""What a paper run's journal says: account, positions, orders, counts, freshness; as a dict and as text.

Everything here reads the journal only (read-only, so it works while a run is writing it): a
status needs no access to the running process, and a run that died says where it stood.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import pandas as pd

from signalstack.plugin.ledger import FILL_COLUMNS

from .journal import Event, Journal
from .kill_switch import stop_file

STALE_FACTOR = 3.0
"""A live bar arriving more than this many paces after the previous one ends a stale gap."""

STALE_MIN_SECONDS = 1.0
"""... and more than this many seconds after it: at pace 0, bars a second apart are not stale."""


def read_status(path: str | Path) -> dict[str, Any]:
    """The run's state from its journal: cash and equity (summed over the feeds' accounts, and per
    account), positions, open orders, counts, last bar and signal per symbol, stale gaps (see
    `STALE_FACTOR`), how it stopped. Keys as `paper status --json`."""
    path = Path(path)
    with Journal(path, readonly=True) as journal:
        config = journal.config()
        counts = journal.counts()
        events = journal.events(("bar", "signal", "order", "fill", "cancel", "snapshot", "stop"))
    by_kind: dict[str, list[Event]] = defaultdict(list)
    for event in events:
        by_kind[event.kind].append(event)
    accounts = {feed["symbol"]: {"cash": config["cash"], "equity": config["cash"], "position": 0.0}
                for feed in config["feeds"]}  # each feed trades an account of its own
    for event in by_kind["snapshot"]:
        accounts[event.symbol] = {"cash": event.payload["cash"], "equity": event.payload["value"],
                                  "position": event.payload["position"][0]}
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
        "cash": sum(a["cash"] for a in accounts.values()),
        "equity": sum(a["equity"] for a in accounts.values()),
        "positions": {symbol: a["position"] for symbol, a in accounts.items()},
        "accounts": {symbol: {"cash": a["cash"], "equity": a["equity"]} for symbol, a in accounts.items()},
        "open_orders": open_orders,
        "bars": counts["bar"],
        "signals": counts["signal"],
        "orders": counts["order"],
        "fills": counts["fill"],
        "rejected_bars": counts["rejected"],
        "stale_gaps": _stale_gaps(by_kind["bar"], {f["symbol"]: f["pace"] for f in config["feeds"]}),
        "last_bar": last_bar,
        "last_signal": last_signal,
        "stopped": by_kind["stop"][-1].payload if by_kind["stop"] else None,
        "stop_requested": stop_file(path).exists(),
    }


def _stale_gaps(bars: list[Event], paces: dict[str, float]) -> int:
    """Live bars that came more than STALE_FACTOR paces (and STALE_MIN_SECONDS) after the symbol's previous one."""
    previous: dict[str, float] = {}
    gaps = 0
    for event in bars:
        if not event.payload["live"]:
            continue
        limit = max(STALE_FACTOR * paces.get(event.symbol, 0.0), STALE_MIN_SECONDS)
        if event.symbol in previous and event.at - previous[event.symbol] > limit:
            gaps += 1
        previous[event.symbol] = event.at
    return gaps


def format_status(status: dict[str, Any]) -> str:
    """`read_status`'s dict as the lines `paper status` prints."""
    positions = ", ".join(f"{s} {size:g}" for s, size in status["positions"].items()) or "none"
    lines = [
        f"run {status['run_id']}  model {status['model']} v{status['version']}",
        f"cash {status['cash']:,.2f}  equity {status['equity']:,.2f}  positions: {positions}",
        (f"bars {status['bars']}  signals {status['signals']}  orders {status['orders']}  fills {status['fills']}  "
         f"rejected bars {status['rejected_bars']}  stale gaps {status['stale_gaps']}"),
    ]
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
