"""Strategies on a model's outputs, with plain next-bar-open market orders.

`SignalStrategy` trades one data on thresholds of one line (p_up by default); `RankingStrategy`
holds the best-scored of a universe of datas. Both decide on a bar's close, so their market
orders fill at the next bar's open (no cheat-on-close or cheat-on-open), make no decision
before `start`, and record fills and round trips for reports.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping

import backtrader as bt
import pandas as pd

from signalstack.core.errors import SettingsError
from signalstack.core.times import bar_time, date_number

from . import defaults
from .indicators import SignalIndicator, output_lines
from .ledger import FILL_COLUMNS, TRADE_COLUMNS, Ledger
from .settings import STRATEGY_FIELDS, TradingSettings
from .sources import SignalSource
from .stats import per_year

log = logging.getLogger(__name__)

__all__ = ["FILL_COLUMNS", "TRADE_COLUMNS", "RankingStrategy", "SignalStrategy"]


class _Recorded(bt.Strategy):
    """What both strategies share: the start gate, the ledger of fills and trades, order logging."""

    params = (("start", None), ("log_orders", False))

    def __init__(self) -> None:
        self.ledger = Ledger(log_fills=self.p.log_orders)
        # Compared as Backtrader date numbers: converting every bar's time to a datetime costs more.
        self._gated = self.p.start is not None  # read on every bar: an attribute costs less than a param
        self._decide_from = date_number(self.p.start)

    def _before_start(self) -> bool:
        return self._gated and self.data.datetime[0] < self._decide_from

    def notify_order(self, order: bt.Order) -> None:
        self.ledger.on_order(order)

    def notify_trade(self, trade: bt.Trade) -> None:
        self.ledger.on_trade(trade)

    def fill_frame(self) -> pd.DataFrame:
        """Every executed order: symbol, time, side, signed size, price, value, commission."""
        return self.ledger.fills()


def _signal_line(indicator: SignalIndicator, source: SignalSource, line: str) -> bt.LineSingle:
    """The indicator's line `line`, checked to be one the source fills."""
    filled = set(output_lines(source).values())
    if line not in filled:
        raise SettingsError(
            f"line {line!r}: {source.name} outputs {source.columns}, which fill lines {', '.join(sorted(filled))}"
        )
    return getattr(indicator, line)


class SignalStrategy(_Recorded):
    """Long (or short) on one line of a `SignalIndicator`, p_up unless `line` says otherwise.

    Go long when the line >= buy_threshold; when it is <= sell_threshold go flat, or short with
    allow_short; in between keep the position. For a regressor, `line="forecast"` with thresholds
    on the forecast return.

    - sizing: "percent" holds `stake` of equity; "fixed" holds `stake` units; "volatility" holds
      vol_target / (realised volatility) of equity, at most `stake`. Realised volatility is the
      population std of the last `vol_window` close-to-close returns times sqrt(periods_per_year);
      periods_per_year None (the default) counts the bars per calendar year from the first bar to
      the deciding one, so the data's own clock annualises (no bar after the decision is read).
    - stop_loss / take_profit: fractions of the entry price. They are checked on each bar's close
      and exit with a market order at the next open, like every other decision (so a gap through
      the level fills at the open, not at the level). After a stop, the strategy re-enters only
      when the signal has left that side once.
    - hold: bars a position is kept whatever the signal says (stops still apply); "horizon" uses
      the model's label horizon. When the period ends the signal decides again: the same side
      renews it, the other side flips, no side goes flat. 0 leaves exits to the signal.
    - min_margin: a bar whose |p_up - p_down| is below it gives no signal (keep the position).
    - fundamentals: dated factor rows (a DataFrame) for a two-input model, see `SignalIndicator`.

    Every order notification is logged (DEBUG; fills at INFO with log_orders, refusals WARNING).
    """

    params = (("source", None), ("fundamentals", None), *TradingSettings().strategy_keywords().items())

    def __init__(self) -> None:
        super().__init__()
        p = self.p
        self._check_params()
        self.signal = SignalIndicator(self.data, source=p.source, fundamentals=p.fundamentals)
        self._line = _signal_line(self.signal, p.source, p.line)
        if p.min_margin > 0:
            _signal_line(self.signal, p.source, "p_down")  # the margin needs both probabilities
        self._hold = p.source.horizon if p.hold == "horizon" else int(p.hold)
        self._volatility = None
        if p.sizing == "volatility":
            returns = bt.ind.PctChange(self.data.close, period=1)
            self._volatility = bt.ind.StdDev(returns, period=p.vol_window)  # per bar; annualised when sizing
        self._order: bt.Order | None = None
        self._entry_bar = 0
        self._stopped_side = 0
        # Read on every bar: plain attributes cost less than params lookups there.
        self._stops = p.stop_loss is not None or p.take_profit is not None
        self._thresholds = (p.buy_threshold, p.sell_threshold, -1 if p.allow_short else 0, p.min_margin)

    def _check_params(self) -> None:
        """The parameters checked by `TradingSettings`' rules (a bad one is a `SettingsError`), then kept as read."""
        if self.p.source is None:
            raise ValueError("SignalStrategy: source is None, expected a SignalSource")
        checked = TradingSettings.of(**{name: getattr(self.p, name) for name in STRATEGY_FIELDS})
        for name, value in checked.strategy_keywords().items():
            setattr(self.p, name, value)

    def next(self) -> None:
        if self._order is not None or self._before_start():
            return
        size = self.position.size
        held = (size > 0) - (size < 0)
        if held and self._stops and self._stop_hit(held):
            self._stopped_side = held
            self._order = self.close()
            return
        side = self._wanted_side()
        if self._stopped_side and side != self._stopped_side:
            self._stopped_side = 0
        elif self._stopped_side:
            side = None  # no re-entry on the signal that was stopped out
        if held and self._hold:
            if len(self) - self._entry_bar + 1 < self._hold:
                return
            if side == held:
                self._entry_bar = len(self) + 1  # renewed: as if entered at the next open
                return
            side = side or 0
        if side is not None and side != held:
            self._order = self._target(side)

    def _wanted_side(self) -> int | None:
        """1 long, -1 short, 0 flat, None to keep the current position (or no signal)."""
        value = self._line[0]
        buy, sell, below_sell, min_margin = self._thresholds
        if math.isnan(value):
            return None
        if min_margin and abs(self.signal.p_up[0] - self.signal.p_down[0]) < min_margin:
            return None
        if value >= buy:
            return 1
        if value <= sell:
            return below_sell
        return None

    def _stop_hit(self, held: int) -> bool:
        """Whether this close is through the stop-loss or take-profit level of the position."""
        move = held * (self.data.close[0] / self.position.price - 1.0)
        return (self.p.stop_loss is not None and move <= -self.p.stop_loss) or (
            self.p.take_profit is not None and move >= self.p.take_profit
        )

    def _target(self, side: int) -> bt.Order:
        p = self.p
        if p.sizing == "fixed":
            return self.order_target_size(target=side * p.stake)
        fraction = p.stake
        if p.sizing == "volatility":
            volatility = self._volatility[0] * math.sqrt(self._bars_per_year())
            if volatility > 0:
                fraction = min(p.stake, p.vol_target / volatility)
        return self.order_target_percent(target=side * fraction)

    def _bars_per_year(self) -> float:
        """periods_per_year, else the bars per calendar year so far: hourly or weekly bars need no setting."""
        if self.p.periods_per_year is not None:
            return self.p.periods_per_year
        seen = len(self.data)
        return per_year(seen - 1, self.data.datetime[0] - self.data.datetime[1 - seen])  # date numbers count days

    def notify_order(self, order: bt.Order) -> None:
        super().notify_order(order)
        if order.alive():
            return
        self._order = None
        if order.status == order.Completed and self.position.size:
            self._entry_bar = len(self)


class RankingStrategy(_Recorded):
    """Every `rebalance` steps of the clock, hold the `top_k` datas with the highest score, equally weighted.

    Each data gets a `SignalIndicator` of `source`: one model for all, or a mapping from data name
    to source (per-symbol tables of precomputed scores). The score is `line`: "score" for a
    ranking model, else p_up. The chosen ones are set to stake / top_k of equity each (see below for
    a position that cannot trade), the rest closed; orders that sell go first, to free cash. Ties go to
    the data added first. The first rebalance is on the first step of the clock at/after `start`.

    The clock is the union of the datas' bar times: Backtrader steps the strategy at every time some
    data has a bar, and a data without a bar at that time still shows its last one. Only a data whose
    bar is fresh (its time is the clock's) is ranked or traded; one that is suspended, not yet listed
    or delisted is skipped, so it is not bought, and a position in it, which cannot trade either, is
    kept at its last close and set aside: the chosen ones get stake / top_k of the rest of the equity.
    A fresh data without a score (warm-up, a missing prediction) is skipped too. An order whose data
    has no bar at the next step of the clock is cancelled there, as a day order on a suspended stock
    would be, rather than filled whenever the data trades again.
    """

    params = (
        ("source", None),
        ("line", None),
        ("top_k", 1),
        ("rebalance", 5),
        ("stake", defaults.STAKE),
    )

    def __init__(self) -> None:
        super().__init__()
        p = self.p
        if p.source is None:
            raise ValueError("RankingStrategy: source is None, expected a SignalSource")
        if not 1 <= p.top_k <= len(self.datas) or p.rebalance < 1 or not 0.0 < p.stake <= 1.0:
            raise SettingsError(
                f"top_k {p.top_k}, rebalance {p.rebalance}, stake {p.stake}: expected 1 <= top_k <= "
                f"{len(self.datas)} datas, rebalance >= 1 bar, stake in (0, 1]"
            )
        sources = [self._source_of(data) for data in self.datas]
        line = p.line or ("score" if "score" in sources[0].columns else "p_up")
        self.signals = [SignalIndicator(data, source=source) for data, source in zip(self.datas, sources)]
        self._lines = [_signal_line(signal, source, line) for signal, source in zip(self.signals, sources)]
        self._bars = 0
        self._unfilled: dict[int, bt.Order] = {}  # order ref -> a live order, until it fills or ends

    def _source_of(self, data: bt.AbstractDataBase) -> SignalSource:
        if not isinstance(self.p.source, Mapping):
            return self.p.source
        if data._name not in self.p.source:
            raise ValueError(
                f"RankingStrategy: no source for data {data._name!r} (sources for "
                f"{', '.join(map(repr, self.p.source))})"
            )
        return self.p.source[data._name]

    def fresh(self) -> list[bool]:
        """For each data, whether it has a bar at the clock's time (not a suspended, unlisted or ended one's last)."""
        now = self.datetime[0]
        return [len(data) > 0 and data.datetime[0] == now for data in self.datas]

    def prenext(self) -> None:
        self.next()  # a data not yet listed, or still warming up, holds Backtrader in prenext: rank the others

    def next(self) -> None:
        fresh = self.fresh()
        if self._unfilled:
            self._cancel_stale(fresh)
        if self._gated and self.datetime[0] < self._decide_from:
            return
        self._bars += 1
        if (self._bars - 1) % self.p.rebalance == 0:
            self._rebalance(fresh)

    def _cancel_stale(self, fresh: list[bool]) -> None:
        """Cancel the orders still open whose data has no bar at this step, where they were to fill."""
        datas = {id(data): i for i, data in enumerate(self.datas)}
        for order in list(self._unfilled.values()):
            if not fresh[datas[id(order.data)]]:
                log.info(
                    "%s: no bar at %s to fill its %s order of %g: cancelled",
                    order.data._name,
                    bar_time(self.datetime[0]),
                    "buy" if order.isbuy() else "sell",
                    order.created.size,
                )
                self.cancel(order)

    def _rebalance(self, fresh: list[bool]) -> None:
        """Target stake / top_k of equity in each of the best-scored fresh datas and nothing in the other fresh
        ones, sells first."""
        scored = [(-line[0], i) for i, line in enumerate(self._lines) if fresh[i] and not math.isnan(line[0])]
        chosen = {i for _, i in sorted(scored)[: self.p.top_k]}
        held = {i: self.broker.getvalue(datas=[data]) for i, data in enumerate(self.datas)}
        stuck = sum(value for i, value in held.items() if not fresh[i] and self.getposition(self.datas[i]).size)
        target = self.p.stake / self.p.top_k * (self.broker.getvalue() - stuck)
        tradable = [i for i in range(len(self.datas)) if fresh[i]]
        for i in sorted(tradable, key=lambda i: target * (i in chosen) - held[i]):  # sells first, to free cash
            if i in chosen or self.getposition(self.datas[i]).size:
                self.order_target_value(self.datas[i], target=target if i in chosen else 0.0)
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "%s: rebalanced into %s",
                bar_time(self.datetime[0]),
                ", ".join(self.datas[i]._name or str(i) for i in sorted(chosen)),
            )

    def notify_order(self, order: bt.Order) -> None:
        super().notify_order(order)
        if order.alive():
            self._unfilled[order.ref] = order
        else:
            self._unfilled.pop(order.ref, None)
