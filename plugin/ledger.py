"""`Ledger`: the fills and round trips of a Backtrader run, recorded from its notifications.

Strategies and analyzers feed it `notify_order` and `notify_trade`; it keeps Backtrader's raw
date numbers while the run goes and turns them into timestamps once, when a frame is asked for
(converting per fill costs more than the fill itself).
"""

from __future__ import annotations

import logging
import math
from typing import Any

import backtrader as bt
import numpy as np
import pandas as pd

from signalstack.core.times import bar_times

log = logging.getLogger(__name__)

TRADE_COLUMNS = (
    "symbol",
    "entry_time",
    "exit_time",
    "direction",
    "size",
    "entry_price",
    "exit_price",
    "pnl",
    "commission",
    "pnl_net",
    "bars",
)
"""Columns of a trades frame; exit_time is NaT for a position still open at the end."""

FILL_COLUMNS = ("symbol", "time", "side", "size", "price", "value", "commission")
"""Columns of a fills frame: signed size, and value = |size| x price (what changed hands)."""


class Ledger:
    """Fills and round trips as they happen; `log_fills` logs each fill at INFO instead of DEBUG."""

    def __init__(self, log_fills: bool = False) -> None:
        self.log_fills = log_fills
        self._fills: list[dict[str, Any]] = []
        self._trades: list[dict[str, Any]] = []
        self._open: dict[int, bt.Trade] = {}
        self._peak: dict[int, float] = {}
        self._last_price: dict[int, float] = {}

    def on_order(self, order: bt.Order) -> None:
        """Record a completed order; log every notification (submitted, accepted, filled, refused)."""
        side = "buy" if order.isbuy() else "sell"
        if order.alive():
            if log.isEnabledFor(logging.DEBUG):  # a bar's date costs more than the check
                log.debug(
                    "%s %s order of %g %s on %s",
                    order.data._name,
                    side,
                    order.created.size,
                    order.getstatusname().lower(),
                    order.data.datetime.date(0),
                )
            return
        if order.status != order.Completed:
            log.warning(
                "%s %s order of %g on %s not filled: %s",
                order.data._name,
                side,
                order.created.size,
                order.data.datetime.date(0),
                order.getstatusname(),
            )
            return
        done = order.executed
        self._last_price[id(order.data)] = done.price
        self._fills.append(
            {
                "symbol": order.data._name,
                "time": done.dt,
                "side": side,
                "size": done.size,
                "price": done.price,
                "value": abs(done.size) * done.price,
                "commission": done.comm,
            }
        )
        level = logging.INFO if self.log_fills else logging.DEBUG
        if log.isEnabledFor(level):
            log.log(
                level,
                "%s %s %s %g @ %.4f (commission %.2f)",
                order.data._name,
                order.data.datetime.date(0),
                side,
                done.size,
                done.price,
                done.comm,
            )

    def on_trade(self, trade: bt.Trade) -> dict[str, Any] | None:
        """Track a trade's largest size while open; on close, row it at the closing fill's price and return
        the row (times as date numbers)."""
        self._peak[trade.ref] = max(self._peak.get(trade.ref, 0.0), abs(trade.size))
        if trade.isclosed:
            self._open.pop(trade.ref, None)
            self._trades.append(_trade_row(trade, self._peak.pop(trade.ref), self._last_price[id(trade.data)]))
            return dict(self._trades[-1])
        if trade.isopen:
            self._open[trade.ref] = trade
        return None

    def resume(self, trade: bt.Trade, peak: float) -> None:
        """Take `trade` as open since before this run (a resumed paper run's), having reached `peak` units."""
        self._open[trade.ref], self._peak[trade.ref] = trade, peak

    def peak(self, trade: bt.Trade) -> float:
        """The largest size the open `trade` has reached."""
        return self._peak[trade.ref]

    def traded_value(self, since: float = -math.inf) -> float:
        """Sum of |size| x price over fills at or after date number `since`."""
        return float(sum(f["value"] for f in self._fills if f["time"] >= since))

    def fills(self) -> pd.DataFrame:
        """Every executed order, in execution order."""
        frame = pd.DataFrame(self._fills, columns=list(FILL_COLUMNS))
        frame["time"] = bar_times(frame["time"].to_numpy(dtype=np.float64))
        return frame

    def trades(self) -> pd.DataFrame:
        """Round trips, closed ones and those still open at the end, in the order they opened."""
        still_open = [_trade_row(t, self._peak[ref], math.nan) for ref, t in self._open.items()]
        frame = pd.DataFrame(self._trades + still_open, columns=list(TRADE_COLUMNS))
        for column in ("entry_time", "exit_time"):
            frame[column] = bar_times(frame[column].to_numpy(dtype=np.float64))
        return frame.sort_values("entry_time", kind="stable").reset_index(drop=True)


def _trade_row(trade: bt.Trade, size: float, exit_price: float) -> dict[str, Any]:
    """A trade as a row, times as date numbers; one still open has no exit time, price or pnl."""
    closed = trade.isclosed
    return {
        "symbol": trade.data._name,
        "entry_time": trade.dtopen,
        "exit_time": trade.dtclose if closed else math.nan,
        "direction": "long" if trade.long else "short",
        "size": size,
        "entry_price": trade.price,
        "exit_price": exit_price,
        "pnl": trade.pnl if closed else math.nan,
        "commission": trade.commission,
        "pnl_net": trade.pnlcomm if closed else math.nan,
        "bars": trade.barlen if closed else math.nan,
    }
