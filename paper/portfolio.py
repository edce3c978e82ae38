"""A `--top-k` paper run: `RankingStrategy` trading every feed in one account, journaling each step.

Where a plain paper run trades each feed in an account of its own (`PaperStrategy`, a Cerebro per feed),
a portfolio run puts every feed in one Cerebro and one account and holds the `top_k` best-scored symbols,
exactly as `backtest --top-k` (`run_ranking`) does over the same bars: the same strategy, clock, costs and
next-open fills. The clock is the union of the feeds' bar times; the bars of one time are delivered
together (`paper.rounds`, which also states the rule for a late bar) and decided together, the symbols in
the order of the feeds. A symbol without a bar at a time (suspended, not yet listed, delisted) is skipped.

Each step of the clock is journaled before it is acted on, as a plain run's bars are: each symbol's signal
(or stale-signal gap), each decision and order (ids derived from the run, symbol, step and order number),
each acceptance, fill, cancellation and closed trade, and after the step the account (`events.Portfolio`:
cash, value, positions, the symbols ranked, the steps counted, the orders still open, the trades open).
A resumed run starts from the last `Portfolio` event: the bars up to its time are history, the account,
positions, open trades and step count are restored, and the open orders are submitted again, under their
journaled ids, at the step they were first submitted on.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import backtrader as bt
import pandas as pd

from signalstack.core.errors import SettingsError
from signalstack.core.times import bar_time, date_number
from signalstack.plugin.backtest import configure_broker
from signalstack.plugin.indicators import OUTPUT_LINES
from signalstack.plugin.sources import SignalSource
from signalstack.plugin.strategies import RankingStrategy

from .broker_state import SymbolState, checkpoint
from .config import PaperConfig
from .events import (
    ClosedTrade,
    Decision,
    Gap,
    ModelChange,
    OpenTrade,
    Order,
    Portfolio,
    Ranking,
    RunConfig,
    Signal,
    Stop,
)
from .feed_kinds import make_feed
from .feeds import FeedSpec
from .journal import Journal
from .rounds import Rounds, in_rounds
from .strategy import Controller, journal_order_status, order_id

log = logging.getLogger(__name__)


def ranking_of(config: PaperConfig, source: SignalSource, specs: Sequence[FeedSpec]) -> Ranking | None:
    """What a run journals of its `--top-k` settings (None for an account per feed), checked: at least two feeds,
    top_k of them at most, one start for all, no risk limit. `rebalance` defaults to the model's horizon and the
    line is "score" for a ranking model, else the strategy's line, as in `backtest --top-k`."""
    settings = config.ranking
    if settings.top_k is None:
        if settings.rebalance is not None:
            raise SettingsError(f"--rebalance {settings.rebalance}: applies to a ranking run (give --top-k)")
        return None
    if len(specs) < 2 or settings.top_k > len(specs):
        raise SettingsError(
            f"--top-k {settings.top_k} over {len(specs)} feed(s): expected at least 2 feeds and "
            "--top-k at most their number"
        )
    starts = {spec.start for spec in specs}
    if len(starts) > 1:
        raise SettingsError(
            f"feeds start at {', '.join(sorted(str(s) for s in starts))}: a --top-k run decides from "
            "one start, expected the same start= on every feed (or none)"
        )
    if config.risk.active():
        raise SettingsError(
            "risk limits (--max-position, --max-gross, --daily-loss-limit) apply to an account per "
            "feed: expected none with --top-k"
        )
    line = "score" if "score" in source.columns else config.trading.line
    return Ranking(
        top_k=settings.top_k, rebalance=settings.rebalance or source.horizon, line=line, bar_wait=settings.bar_wait
    )


@dataclass(frozen=True)
class PortfolioState:
    """The account of a portfolio run at its last finished step, where a resumed run starts from."""

    through: pd.Timestamp
    """The last finished step of the clock."""
    account: Portfolio
    pending: list[tuple[str, Order]]
    """The orders open after it, with their symbols, in the order they were submitted."""


def portfolio_checkpoint(journal: Journal) -> dict[str, SymbolState]:
    """Each symbol's feed state of a portfolio run (`checkpoint`'s bars and rows) with the portfolio's last
    finished step as its `through`, for every symbol of the run."""
    run, states = journal.config(), checkpoint(journal)
    last = journal.last("portfolio").get("")
    through = None if last is None else pd.Timestamp(last.time)
    return {
        symbol: replace(states.get(symbol, SymbolState(bars=[], after_row=0)), through=through)
        for symbol in run.symbols
    }


def _restored(journal: Journal) -> PortfolioState | None:
    last = journal.last("portfolio").get("")
    if last is None:
        return None
    orders = {e.payload.order_id: (e.symbol or "", e.payload) for e in journal.events(("order",))}
    return PortfolioState(pd.Timestamp(last.time), last.payload, [orders[oid] for oid in last.payload.open_orders])


def portfolio_cerebro(
    run: RunConfig,
    sources: Mapping[str, SignalSource],
    specs: Sequence[FeedSpec],
    journal: Journal,
    controller: Controller,
    states: Mapping[str, SymbolState],
) -> bt.Cerebro:
    """The Cerebro of a portfolio run: every feed in the run's rounds, the broker as `run_ranking` sets it up, and
    the journaling `PortfolioStrategy` (restored from the journal on a resumed run)."""
    assert run.ranking is not None
    cerebro = bt.Cerebro(stdstats=False)  # live feeds put Cerebro in bar-by-bar mode
    configure_broker(cerebro.broker, run.cash, run.commission, run.slippage)
    rounds = Rounds(run.ranking.bar_wait)
    cerebro.addstore(rounds)  # asked at the start of every pass whether the held bars go in
    for spec in specs:
        feed = make_feed(spec, journal, states.get(spec.symbol), stopping=controller.stop_requested, kind=in_rounds)
        rounds.join(feed)
        cerebro.adddata(feed, name=spec.symbol)
    ranking = run.ranking
    cerebro.addstrategy(
        PortfolioStrategy,
        source=dict(sources),
        line=ranking.line,
        top_k=ranking.top_k,
        rebalance=ranking.rebalance,
        stake=run.strategy["stake"],
        start=specs[0].start,
        controller=controller,
        restore=_restored(journal),
    )
    return cerebro


class PortfolioStrategy(RankingStrategy):
    """`RankingStrategy` over live feeds in one account, journaling every step; see the module.

    Params besides RankingStrategy's: `controller` (Controller), `restore` (PortfolioState of a resumed run, or
    None). Steps up to the restored one are history; a bar that comes after its time was decided (late, see
    `paper.rounds`) is its symbol's history and decides nothing.
    """

    params = (("controller", None), ("restore", None))

    def __init__(self) -> None:
        super().__init__()
        state: PortfolioState | None = self.p.restore
        self._through = date_number(None if state is None else state.through)  # a resumed run's last step
        self._decided = self._through  # the last time decided
        self._restore_at = self._through  # the step at which the account is restored (-inf: nothing to restore)
        self._ids: dict[int, str] = {}  # Backtrader order ref -> journaled order id
        self._placed: dict[int, bt.Order] = {}  # journaled orders not known to have ended
        self._reason = "rebalance"
        self._now = ""
        self._orders_on_step = 0
        self._outputs = [
            [(c, OUTPUT_LINES[c]) for c in signal.p.source.columns if c in OUTPUT_LINES] for signal in self.signals
        ]
        self._versions: list[int | None] = [None] * len(self.datas)  # each symbol's last journaled model version
        self._taken = [0] * len(self.datas)  # bars of each data seen by a step

    def _restore(self) -> None:
        """Restore a resumed run's account at its last finished step (a position's data has bars by then: the
        broker values positions at their data's bar), and submit again, under their journaled ids, the orders
        open then."""
        self._restore_at = -math.inf
        state: PortfolioState = self.p.restore
        account, through = state.account, state.through.to_pydatetime()
        self.broker.set_cash(account.cash)
        for data in self.datas:
            size, price = account.positions.get(data._name, (0.0, 0.0))
            if size:
                position = bt.Position()  # opened through update(), which also stamps it
                position.update(size, price, through)
                self.broker.positions[data] = position
            opened = account.trades.get(data._name)
            if opened is not None:  # Backtrader's own trade goes on, so that it closes as it would have
                trade = bt.Trade(data=data, size=opened.size, price=opened.price, commission=opened.commission)
                trade.pnl, trade.baropen, trade.dtopen = opened.pnl, opened.bar, date_number(opened.opened)
                trade.long, trade.isopen, trade.status = opened.size > 0, True, trade.Open
                self._trades[data][0].append(trade)  # where Strategy keeps a data's trades (tradeid 0)
                self.ledger.resume(trade, opened.peak)
        self._bars = account.steps
        for symbol, pending in state.pending:
            place = bt.Strategy.buy if pending.side == "buy" else bt.Strategy.sell
            order = place(self, data=self.getdatabyname(symbol), size=pending.size)
            self._ids[order.ref], self._placed[order.ref] = pending.order_id, order
            log.info(
                "%s: order %s (%s %g) open at the checkpoint, submitted again",
                symbol,
                pending.order_id,
                pending.side,
                pending.size,
            )

    def next(self) -> None:
        now = self.datetime[0]
        arrived = [len(data) > taken for data, taken in zip(self.datas, self._taken)]
        self._taken = [len(data) for data in self.datas]
        if now == self._restore_at:
            self._restore()
        if now <= self._through or (self._gated and now < self._decide_from):
            return  # history: the warm-up, or steps a resumed run had finished
        if now <= self._decided:
            late = ", ".join(data._name for data, new in zip(self.datas, arrived) if new)
            log.warning(
                "%s: bar at %s came after that time was decided: its symbol's history only", late, bar_time(now)
            )
            return
        self._decided = now
        self._now = bar_time(now).isoformat()
        self._orders_on_step = 0
        fresh = self.fresh()
        for i in range(len(self.datas)):
            if fresh[i]:
                self._journal_signal(i)
        stop = self.p.controller.stop_requested()
        if stop is not None:
            self._stopping(stop, fresh)
        else:
            super().next()
        self._journal_account(fresh)

    def _stopping(self, stop: Stop, fresh: list[bool]) -> None:
        """Stop the run; with `flatten`, once every position is closed (each at its symbol's next bar)."""
        self._cancel_stale(fresh)
        if any(order.alive() for order in self._placed.values()):
            return
        held = [i for i, data in enumerate(self.datas) if self.getposition(data).size]
        if stop.flatten and held:
            self._reason = "flatten"
            for i in held:
                if fresh[i]:
                    self.close(self.datas[i])
            return
        self.env.runstop()

    def buy(self, data: Any = None, size: float | None = None, **kwargs: Any) -> bt.Order | None:
        return self._journaled("buy", bt.Strategy.buy, data, size, kwargs)

    def sell(self, data: Any = None, size: float | None = None, **kwargs: Any) -> bt.Order | None:
        return self._journaled("sell", bt.Strategy.sell, data, size, kwargs)

    def _journaled(
        self, side: str, place: Any, data: bt.AbstractDataBase, size: float | None, kwargs: dict[str, Any]
    ) -> bt.Order | None:
        """Journal the decision and the order, then submit it under its deterministic id."""
        if not size:
            return None
        journal, symbol = self.p.controller.journal, data._name
        self._orders_on_step += 1
        number = self._orders_on_step
        oid = order_id(self.p.controller.run_id, symbol, self._now, number, side)
        line = self._lines[self.datas.index(data)][0]
        journal.append(
            Decision(
                self._reason, side, abs(size), self.getposition(data).size, None if math.isnan(line) else float(line)
            ),
            f"decision:{symbol}:{self._now}:{number}",
            symbol=symbol,
            time_=self._now,
        )
        journal.append(
            Order(oid, side, abs(size), "market", self._reason, data.close[0]),
            f"order:{oid}",
            symbol=symbol,
            time_=self._now,
        )
        order = place(self, data=data, size=abs(size), **kwargs)
        self._ids[order.ref], self._placed[order.ref] = oid, order
        return order

    def notify_order(self, order: bt.Order) -> None:
        oid = self._ids.get(order.ref)
        if oid is not None:
            journal_order_status(self.p.controller.journal, order, oid)
        if not order.alive():
            self._placed.pop(order.ref, None)
        super().notify_order(order)

    def notify_trade(self, trade: bt.Trade) -> None:
        """Journal each trade Backtrader closes, as the ledger rows it."""
        row = self.ledger.on_trade(trade)
        if row is not None:
            symbol = row.pop("symbol")
            row["entry_time"], row["exit_time"] = (bar_time(row[k]).isoformat() for k in ("entry_time", "exit_time"))
            self.p.controller.journal.append(
                ClosedTrade(**row), f"trade:{symbol}:{row['exit_time']}", symbol=symbol, time_=row["exit_time"]
            )

    def _journal_signal(self, i: int) -> None:
        """Journal symbol `i`'s signal at this step with the model version that made it (a "model" event first when
        the version changed), or the stale-signal gap and why, when the live scorer has a reason for none."""
        controller: Controller = self.p.controller
        signal, symbol = self.signals[i], self.datas[i]._name
        journal, scorer = controller.journal, signal.live_scorer
        values = {column: _number(getattr(signal, line)[0]) for column, line in self._outputs[i]}
        if all(v is None for v in values.values()):
            why = None if scorer is None else scorer.gap
            if why is not None:
                journal.append(Gap(why, controller.model), f"gap:{symbol}:{self._now}", symbol=symbol, time_=self._now)
            return  # else not enough history for a prediction yet
        version = controller.version if scorer is None or scorer.version is None else int(scorer.version)
        if self._versions[i] is None:
            self._versions[i] = next(
                (
                    e.payload.version
                    for e in reversed(journal.events(("signal",)))
                    if e.symbol == symbol and e.time < self._now
                ),
                controller.version,
            )
        if version != self._versions[i]:
            log.info(
                "%s: model %s v%d from bar %s on (was v%d)",
                symbol,
                controller.model,
                version,
                self._now,
                self._versions[i],
            )
            journal.append(
                ModelChange(controller.model, self._versions[i], version),
                f"model:{symbol}:{self._now}",
                symbol=symbol,
                time_=self._now,
            )
        self._versions[i] = version
        journal.append(
            Signal(values, controller.model, version), f"signal:{symbol}:{self._now}", symbol=symbol, time_=self._now
        )

    def _journal_account(self, fresh: list[bool]) -> None:
        """Journal the account after this step: where a resumed run starts from."""
        positions, trades = {}, {}
        for data in self.datas:
            position = self.getposition(data)
            positions[data._name] = (position.size, position.price)
            opened = self._trades[data][0]
            if opened and opened[-1].isopen:
                trade = opened[-1]
                trades[data._name] = OpenTrade(
                    bar_time(trade.dtopen).isoformat(),
                    trade.baropen,
                    trade.size,
                    trade.price,
                    trade.commission,
                    trade.pnl,
                    self.ledger.peak(trade),
                )
        still_open = tuple(self._ids[ref] for ref, order in sorted(self._placed.items()) if order.alive())
        ranked = tuple(data._name for data, is_fresh in zip(self.datas, fresh) if is_fresh)
        account = Portfolio(
            self.broker.getcash(), self.broker.getvalue(), positions, ranked, self._bars, still_open, trades
        )
        self.p.controller.journal.append(account, f"portfolio:{self._now}", time_=self._now)


def _number(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


__all__ = ["PortfolioState", "PortfolioStrategy", "portfolio_cerebro", "portfolio_checkpoint", "ranking_of"]
