"""`SignalStrategy`: long (or short) on a model's p_up, with plain next-bar-open market orders."""

from __future__ import annotations

import logging
import math
from typing import Any

import backtrader as bt
import pandas as pd

from .feeds import bar_time
from .indicators import SignalIndicator

log = logging.getLogger(__name__)

TRADE_COLUMNS = ("entry_time", "exit_time", "direction", "size", "entry_price", "exit_price", "pnl",
                 "commission", "pnl_net", "bars")
"""Columns of `SignalStrategy.trade_frame()`; exit_time is NaT for a position still open at the end."""

FILL_COLUMNS = ("time", "side", "size", "price", "value", "commission")


class SignalStrategy(bt.Strategy):
    """Hold `stake` of equity long when p_up >= buy_threshold; when p_up <= sell_threshold go flat,
    or short with allow_short; otherwise keep the position.

    A decision made on bar t's close is a market order, so it fills at bar t+1's open (no
    cheat-on-close or cheat-on-open). No decision is made before `start`, which a backtest sets
    to the model's out-of-sample start. Fills and trades are recorded for reports.
    """

    params = (
        ("source", None),
        ("buy_threshold", 0.55),
        ("sell_threshold", 0.45),
        ("allow_short", False),
        ("stake", 0.95),
        ("start", None),
        ("log_orders", False),
    )

    def __init__(self) -> None:
        p = self.p
        if not 0.0 <= p.sell_threshold <= p.buy_threshold <= 1.0:
            raise ValueError(f"thresholds sell {p.sell_threshold} / buy {p.buy_threshold}: "
                             "expected 0 <= sell_threshold <= buy_threshold <= 1")
        if not 0.0 < p.stake <= 1.0:
            raise ValueError(f"stake {p.stake}: expected a fraction of equity in (0, 1]")
        self.signal = SignalIndicator(self.data, source=p.source)
        self._decide_from = None if p.start is None else pd.Timestamp(p.start).to_pydatetime()
        self._order: bt.Order | None = None
        self._open_trade: bt.Trade | None = None
        self.fills: list[dict[str, Any]] = []
        self.trades: list[dict[str, Any]] = []
        self.set_tradehistory(True)  # a closed trade's last event carries its exit price

    def next(self) -> None:
        if self._order is not None:
            return
        if self._decide_from is not None and self.data.datetime.datetime(0) < self._decide_from:
            return
        side = self._wanted_side(self.signal.p_up[0])
        held = (self.position.size > 0) - (self.position.size < 0)
        if side is not None and side != held:
            self._order = self.order_target_percent(target=side * self.p.stake)

    def _wanted_side(self, p_up: float) -> int | None:
        """1 long, -1 short, 0 flat, None to keep the current position (or no signal)."""
        if math.isnan(p_up):
            return None
        if p_up >= self.p.buy_threshold:
            return 1
        if p_up <= self.p.sell_threshold:
            return -1 if self.p.allow_short else 0
        return None

    def notify_order(self, order: bt.Order) -> None:
        if order.alive():
            return
        self._order = None
        if order.status != order.Completed:
            log.warning("%s order of %g on %s not filled: %s", "buy" if order.isbuy() else "sell",
                        order.created.size, self.data.datetime.date(0), order.getstatusname())
            return
        fill = {"time": bar_time(order.executed.dt), "side": "buy" if order.isbuy() else "sell",
                "size": order.executed.size, "price": order.executed.price, "value": order.executed.value,
                "commission": order.executed.comm}
        self.fills.append(fill)
        if self.p.log_orders:
            log.info("%s %s %g @ %.4f (commission %.2f)", fill["time"], fill["side"], fill["size"],
                     fill["price"], fill["commission"])

    def notify_trade(self, trade: bt.Trade) -> None:
        if trade.justopened:
            self._open_trade = trade
        elif trade.isclosed:
            self.trades.append(_trade_row(trade, trade.history[-1].event.price))
            self._open_trade = None

    def stop(self) -> None:
        if self._open_trade is not None:
            self.trades.append(_trade_row(self._open_trade, math.nan))

    def trade_frame(self) -> pd.DataFrame:
        """Round trips, entry to exit, in the order they opened."""
        frame = pd.DataFrame(self.trades, columns=list(TRADE_COLUMNS))
        return frame.sort_values("entry_time", kind="stable").reset_index(drop=True)

    def fill_frame(self) -> pd.DataFrame:
        """Every executed order: time, side, signed size, price, value, commission."""
        return pd.DataFrame(self.fills, columns=list(FILL_COLUMNS))


def _trade_row(trade: bt.Trade, exit_price: float) -> dict[str, Any]:
    """A trade as a row; one still open has no exit, so no exit time, price or pnl."""
    closed = trade.isclosed
    return {
        "entry_time": bar_time(trade.dtopen),
        "exit_time": bar_time(trade.dtclose) if closed else pd.NaT,
        "direction": "long" if trade.long else "short",
        "size": abs(trade.history[0].event.size),
        "entry_price": trade.price,
        "exit_price": exit_price,
        "pnl": trade.pnl if closed else math.nan,
        "commission": trade.commission,
        "pnl_net": trade.pnlcomm if closed else math.nan,
        "bars": trade.barlen if closed else math.nan,
    }
