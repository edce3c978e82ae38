"""`PaperStrategy`: `SignalStrategy` on a live feed, journaling each step before taking it.

The trading rules are `SignalStrategy`'s, untouched, so a paper run trades like a backtest. This
subclass adds what trading live needs: each live bar's signal, each decision and order are
journaled before the order reaches the broker (with an id derived from the run, symbol, bar and
decision, so a resumed run re-derives the same ids instead of placing new orders), each fill or
cancellation before the strategy reacts to it, each trade Backtrader closes, and the account after
the bar with the trade still open. It looks for the kill switch (every `kill_switch.POLL_SECONDS`),
and on a resumed run it restores its position and Backtrader's open trade (which then closes as it
would have) and re-submits its pending orders at the bar they were first submitted on.

Two rules of a live run that a backtest does not need:

- warm-up: on a new run's first live bar, a feed with fewer bars of history than the model needs is
  refused (`preflight.cold_start` says how many it has and needs) unless the run allows a cold start
  (its first signal is then logged by `progress.Progress`, as every session's is). File feeds whose history was
  all there were checked before the run began (`preflight.check_feeds`); this catches the feeds whose history
  comes live.
- stale signals: a symbol counts its live bars in a row with a stale-signal gap (no fresh signal); at
  the run's `max_stale` its policy acts once per outage, journaled as a `stale` event: "hold" keeps the
  position, "flatten" closes it (and keeps it closed while the signals stay away: no entry is made
  without one). A resumed run counts on from the journal (`broker_state.SymbolState.stale`).
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import backtrader as bt

from signalstack.core.errors import InvalidInput
from signalstack.core.times import as_time, bar_time, date_number
from signalstack.plugin.indicators import OUTPUT_LINES
from signalstack.plugin.strategies import SignalStrategy

from .broker_state import SymbolState
from .events import (
    Accepted,
    Cancel,
    ClosedTrade,
    Decision,
    Fill,
    Gap,
    ModelChange,
    OpenTrade,
    Order,
    Signal,
    Snapshot,
    Stale,
    Stop,
)
from .journal import Journal
from .kill_switch import POLL_SECONDS, stop_request
from .preflight import cold_start
from .risk import RiskBook, RiskWaitCancelled

log = logging.getLogger(__name__)


def order_id(run_id: str, symbol: str, time: str, number: int, side: str) -> str:
    """The id of the `number`-th order decided for `symbol` on the bar at `time`: the same in every
    session of a run, so an order journaled before a crash is recognised when the step is redone."""
    return hashlib.sha256(f"{run_id}|{symbol}|{time}|{number}|{side}".encode()).hexdigest()[:20]


@dataclass
class Controller:
    """What the strategies of one run share: the journal, the run id, the model, the stop request."""

    journal: Journal
    run_id: str
    model: str
    version: int
    stop: Stop | None = None
    """The stop being honoured; None while the run goes on."""
    risk: RiskBook | None = None
    """The run's risk limits and the accounts they are checked on; None: no limit is set."""
    allow_cold_start: bool = False
    """Whether a feed may trade with less history than the model needs (see the module docstring)."""
    max_stale: int | None = None
    """Live bars in a row without a fresh signal after which a symbol's stale-signal policy acts; None: never."""
    flatten_stale: bool = False
    """The policy: close the position (else hold it)."""
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _next_poll: float = -math.inf  # when to look for the kill switch's file next

    def stop_requested(self) -> Stop | None:
        """The kill switch's request once its file exists (looked for at most every
        `POLL_SECONDS`), journaled (once) before any strategy acts on it."""
        with self._lock:
            if self.stop is None and time.monotonic() >= self._next_poll:
                self._next_poll = time.monotonic() + POLL_SECONDS
                request = stop_request(self.journal.path)
                if request is not None:
                    self.journal.append(request, f"stop:{self.journal.counts()['stop'] + 1}")
                    self.stop = request
                    log.warning(
                        "kill switch set: stopping%s", " once every position is closed" if request.flatten else ""
                    )
            return self.stop


class PaperStrategy(SignalStrategy):
    """`SignalStrategy` trading one live feed in an account of its own, journaling every step; see the module.

    Params besides SignalStrategy's: `controller` (Controller), `restore` (the symbol's state at a
    resumed run's checkpoint, or None for a new run), `zone` (the UTC offset of the feed's bars, for
    messages). On a resumed run the bars up to the checkpoint are history already traded; the pending
    orders are submitted again on the checkpoint's bar.
    """

    params = (("controller", None), ("restore", None), ("zone", None))

    def __init__(self) -> None:
        super().__init__()
        self._ids: dict[int, str] = {}  # Backtrader order ref -> journaled order id
        self._reason = "stop"
        self._orders_on_bar = 0
        self._now = ""
        state: SymbolState | None = self.p.restore
        self._through = date_number(None if state is None else state.through)
        self._outputs = [(c, OUTPUT_LINES[c]) for c in self.p.source.columns if c in OUTPUT_LINES]
        self._version: int | None = None  # the version of the last journaled signal (the journal's, at first)
        self._opened = (-1, "")  # the open trade's ref and opening time, converted once a trade (it costs ~20 µs)
        self._first_live = state is None or state.through is None  # a new run's first live bar checks the warm-up
        self._stale = 0 if state is None else state.stale  # live bars in a row with a stale-signal gap
        self._signalled = None if state is None else state.last_signal  # the bar time of the last signal

    def start(self) -> None:
        state: SymbolState | None = self.p.restore
        if state is None or state.snapshot is None:
            return
        snapshot = state.snapshot
        self.broker.set_cash(snapshot.cash)
        if snapshot.position[0]:
            position = bt.Position()  # opened through update(), which also stamps it (short credit reads the stamp)
            position.update(*snapshot.position, state.through.to_pydatetime())
            self.broker.positions[self.data] = position
        self._entry_bar = snapshot.strategy["entry_bar"]
        self._stopped_side = snapshot.strategy["stopped_side"]
        if snapshot.trade is not None:  # Backtrader's own trade goes on, so that it closes as it would have
            opened = snapshot.trade
            trade = bt.Trade(data=self.data, size=opened.size, price=opened.price, commission=opened.commission)
            trade.pnl, trade.baropen, trade.dtopen = opened.pnl, opened.bar, date_number(opened.opened)
            trade.long, trade.isopen, trade.status = opened.size > 0, True, trade.Open
            self._trades[self.data][0].append(trade)  # where Strategy keeps a data's trades (tradeid 0)
            self.ledger.resume(trade, opened.peak)
            self._opened = (trade.ref, opened.opened)

    def prenext(self) -> None:
        self._step(decide=False)

    def next(self) -> None:
        self._step(decide=True)

    def _step(self, decide: bool) -> None:
        now = self.data.datetime[0]
        if self.p.controller.risk is not None:
            self.p.controller.risk.progress(self.data._name, now)
        if now == self._through:
            self._resubmit()
        if now <= self._through or self._before_start():
            return  # history: warm-up, or bars a resumed run had traded already
        self._now = bar_time(now).isoformat()
        self._orders_on_bar = 0
        if self._first_live:
            self._check_warm_up()
        self._journal_signal()
        stop = self.p.controller.stop_requested()
        if stop is not None:
            self._stopping(stop)
        elif not self._stale_policy() and decide:
            try:
                super().next()
            except RiskWaitCancelled:
                return  # stopping while an entry waited on the other feeds: unfinished, a resume redoes the bar
        self._journal_snapshot()

    def _check_warm_up(self) -> None:
        """On a new run's first live bar: refuse a feed whose history is short of the model's, or with a cold
        start allowed, log it (see the module docstring)."""
        self._first_live = False
        if self.p.start is None:
            return  # every bar is traded: the first ones warm the model up
        history, required = len(self.data) - 1, self.p.source.bars_required
        if history >= required - 1:
            return
        said = cold_start(self.data._name, history, required, as_time(self.p.start), None, self.p.zone)
        if not self.p.controller.allow_cold_start:
            raise InvalidInput(
                f"{said} (give more history before start, or --allow-cold-start to trade without signals until then)"
            )
        log.warning("%s; trading from a cold start (its first signal is logged)", said)

    def _stale_policy(self) -> bool:
        """At `max_stale` live bars in a row without a fresh signal, journal the policy's action (once per
        outage); with "flatten", close the position, now or once a pending order is done, while the signals
        stay away. True when it placed the closing order (no other decision on this bar)."""
        controller: Controller = self.p.controller
        if controller.max_stale is None or self._stale < controller.max_stale:
            return False
        symbol = self.data._name
        if self._stale == controller.max_stale:
            controller.journal.append(
                Stale(
                    self._stale, "flatten" if controller.flatten_stale else "hold", self.position.size, self._signalled
                ),
                f"stale:{symbol}:{self._now}",
                symbol=symbol,
                time_=self._now,
            )
        if not (controller.flatten_stale and self.position.size and self._order is None):
            return False
        self._reason = "stale"
        try:
            self._order = self.close()
        finally:
            self._reason = "stop"
        return True

    def stop(self) -> None:
        if self.p.controller.risk is not None:
            self.p.controller.risk.finish(self.data._name)

    def _stopping(self, stop: Stop) -> None:
        """Stop this feed's run; with `flatten`, only once its position is closed (and no order is pending)."""
        if self._order is not None:
            return
        if stop.flatten and self.position.size:
            self._reason = "flatten"
            self._order = self.close()
            return
        self.env.runstop()

    def _resubmit(self) -> None:
        """Submit again, under their journaled ids, the orders pending at a resumed run's checkpoint."""
        for pending in self.p.restore.pending:
            place = bt.Strategy.buy if pending.side == "buy" else bt.Strategy.sell
            order = place(self, size=pending.size)
            self._ids[order.ref] = pending.order_id
            self._order = order
            log.info(
                "%s: order %s (%s %g) pending at the checkpoint, submitted again",
                self.data._name,
                pending.order_id,
                pending.side,
                pending.size,
            )

    def _target(self, side: int) -> bt.Order:
        self._reason = "signal"
        try:
            return super()._target(side)
        finally:
            self._reason = "stop"  # SignalStrategy's other orders are its stop-loss / take-profit exits

    def buy(self, data: Any = None, size: float | None = None, **kwargs: Any) -> bt.Order | None:
        return self._journaled("buy", bt.Strategy.buy, size, kwargs)

    def sell(self, data: Any = None, size: float | None = None, **kwargs: Any) -> bt.Order | None:
        return self._journaled("sell", bt.Strategy.sell, size, kwargs)

    def _journaled(self, side: str, place: Any, size: float | None, kwargs: dict[str, Any]) -> bt.Order | None:
        """Journal the decision and the order, then submit it under its deterministic id."""
        size = self._within_limits(side, abs(size)) if size else size
        if not size:
            return None
        journal, symbol = self.p.controller.journal, self.data._name
        self._orders_on_bar += 1
        number = self._orders_on_bar
        oid = order_id(self.p.controller.run_id, symbol, self._now, number, side)
        held = self.position.size
        journal.append(
            Decision(self._reason, side, abs(size), held, _number(self._line[0])),
            f"decision:{symbol}:{self._now}:{number}",
            symbol=symbol,
            time_=self._now,
        )
        journal.append(
            Order(oid, side, abs(size), "market", self._reason, self.data.close[0]),
            f"order:{oid}",
            symbol=symbol,
            time_=self._now,
        )
        order = place(self, size=abs(size), **kwargs)
        self._ids[order.ref] = oid
        return order

    def _within_limits(self, side: str, size: float) -> float:
        """The order's size within the run's risk limits (`size` without limits); each breach journaled
        first. A blocked order still takes its number on the bar, so later ones keep theirs on a resume."""
        book = self.p.controller.risk
        if book is None:
            return size
        verdict = book.check(
            self.data._name,
            self.data.datetime[0],
            self.position.size,
            size if side == "buy" else -size,
            self.data.close[0],
            self.broker.getvalue(),
            cancelled=lambda: self.env._event_stop,
        )
        if verdict.breaches:
            verdict.journal(self.p.controller.journal, self.data._name, self._now, self._orders_on_bar + 1, side, size)
            if not verdict.size:
                self._orders_on_bar += 1
        return verdict.size

    def notify_order(self, order: bt.Order) -> None:
        oid = self._ids.get(order.ref)
        if oid is not None:
            journal_order_status(self.p.controller.journal, order, oid)
        super().notify_order(order)

    def notify_trade(self, trade: bt.Trade) -> None:
        """Journal each trade Backtrader closes, as the ledger rows it (a journal of schema 1 has no trades)."""
        row = self.ledger.on_trade(trade)
        journal = self.p.controller.journal
        if row is not None and journal.schema >= 2:
            del row["symbol"]
            row["entry_time"], row["exit_time"] = (bar_time(row[k]).isoformat() for k in ("entry_time", "exit_time"))
            journal.append(
                ClosedTrade(**row),
                f"trade:{self.data._name}:{row['exit_time']}",
                symbol=self.data._name,
                time_=row["exit_time"],
            )

    def _journal_signal(self) -> None:
        """Journal the bar's signal with the model version that made it, after a "model" event when that
        version is not the one of the symbol's previous signal; or, when the live scorer has a reason for
        having none (a served model's answer missing at its deadline), the stale-signal gap and why."""
        controller: Controller = self.p.controller
        journal, symbol, scorer = controller.journal, self.data._name, self.signal.live_scorer
        values = {column: _number(getattr(self.signal, line)[0]) for column, line in self._outputs}
        if all(v is None for v in values.values()):
            why = None if scorer is None else scorer.gap
            if why is not None:  # no entry on this bar (the scorer has logged why); stops and exits still act
                journal.append(Gap(why, controller.model), f"gap:{symbol}:{self._now}", symbol=symbol, time_=self._now)
                self._stale += 1
            return  # else not enough history for a prediction yet
        self._stale = 0
        self._signalled = self._now
        version = controller.version if scorer is None or scorer.version is None else int(scorer.version)
        if self._version is None:
            self._version = next(
                (
                    e.payload.version
                    for e in reversed(journal.events(("signal",)))
                    if e.symbol == symbol and e.time < self._now
                ),
                controller.version,
            )
        if version != self._version:
            log.info(
                "%s: model %s v%d from bar %s on (was v%d)", symbol, controller.model, version, self._now, self._version
            )
            journal.append(
                ModelChange(controller.model, self._version, version),
                f"model:{symbol}:{self._now}",
                symbol=symbol,
                time_=self._now,
            )
        self._version = version
        journal.append(
            Signal(values, controller.model, version), f"signal:{symbol}:{self._now}", symbol=symbol, time_=self._now
        )

    def _journal_snapshot(self) -> None:
        symbol, position = self.data._name, self.position
        if self.p.controller.risk is not None:
            self.p.controller.risk.record(symbol, self.data.datetime[0], self.broker.getvalue(), self.broker.getcash())
        self.p.controller.journal.append(
            Snapshot(
                self.broker.getcash(),
                self.broker.getvalue(),
                (position.size, position.price),
                {"entry_bar": self._entry_bar, "stopped_side": self._stopped_side},
                self._open_trade(),
            ),
            f"snapshot:{symbol}:{self._now}",
            symbol=symbol,
            time_=self._now,
        )

    def _open_trade(self) -> OpenTrade | None:
        """Backtrader's trade open after this bar, as a snapshot keeps it (none in a journal of schema 1)."""
        trades = self._trades[self.data][0]
        if not trades or not trades[-1].isopen or self.p.controller.journal.schema < 2:
            return None
        trade = trades[-1]
        if self._opened[0] != trade.ref:
            self._opened = (trade.ref, bar_time(trade.dtopen).isoformat())
        return OpenTrade(
            self._opened[1],
            trade.baropen,
            trade.size,
            trade.price,
            trade.commission,
            trade.pnl,
            self.ledger.peak(trade),
        )


def journal_order_status(journal: Journal, order: bt.Order, oid: str) -> None:
    """Journal what Backtrader notified of the order journaled as `oid`: its acceptance, its fill, or its end
    unfilled (cancelled, margin, rejected), at its data's bar."""
    symbol = order.data._name
    now = bar_time(order.data.datetime[0]).isoformat()
    if order.status == order.Accepted:
        journal.append(Accepted(oid), f"accepted:{oid}", symbol=symbol, time_=now)
    elif order.status == order.Completed:
        done = order.executed
        journal.append(
            Fill(
                oid, "buy" if order.isbuy() else "sell", done.size, done.price, abs(done.size) * done.price, done.comm
            ),
            f"fill:{oid}",
            symbol=symbol,
            time_=bar_time(done.dt).isoformat(),
        )
    elif not order.alive():
        journal.append(Cancel(oid, order.getstatusname()), f"cancel:{oid}", symbol=symbol, time_=now)


def _number(value: float) -> float | None:
    return None if math.isnan(value) else float(value)
