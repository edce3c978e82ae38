"""`run_backtest`: a signal source, bars and costs in; stats, curves and trades out."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import backtrader as bt
import pandas as pd

from .feeds import bar_times, bars_feed
from .sources import SignalSource
from .stats import buy_and_hold, performance, signal_hit_rate
from .strategies import SignalStrategy

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BacktestResult:
    """What a backtest produced; every frame covers the backtest period [start, end] only."""

    stats: pd.Series
    """The strategy's `performance` plus `signal_hit_rate`."""
    benchmark: pd.Series
    """Buy-and-hold's `performance` over the same bars, costs and entry timing."""
    equity: pd.DataFrame
    """Columns strategy and buy_and_hold: account value at each bar's close."""
    trades: pd.DataFrame
    fills: pd.DataFrame
    probabilities: pd.DataFrame
    params: dict[str, Any]


class _EquityCurve(bt.Analyzer):
    """Account value at every bar's close, warm-up bars included."""

    def start(self) -> None:
        self.times: list[float] = []
        self.values: list[float] = []

    def next(self) -> None:
        self.times.append(self.data.datetime[0])
        self.values.append(self.strategy.broker.getvalue())


def run_backtest(source: SignalSource, bars: pd.DataFrame, *,
                 start: str | date | datetime | pd.Timestamp | None = None, cash: float = 100_000.0,
                 commission: float = 0.001, slippage: float = 0.0005, buy_threshold: float = 0.55,
                 sell_threshold: float = 0.45, allow_short: bool = False, stake: float = 0.95) -> BacktestResult:
    """Trade `SignalStrategy` on `bars` from `start` and compare it with buy-and-hold.

    `start` (default: the model card's test period start, so out of sample) is the first bar on
    whose close a decision may be made; the first fill is at the next bar's open. All bars are fed
    so the model has its history, but statistics cover [start, end] only. `commission` and
    `slippage` are fractions of traded value and of price (slippage applies to open fills too).
    """
    if cash <= 0 or commission < 0 or slippage < 0:
        raise ValueError(f"cash {cash}, commission {commission}, slippage {slippage}: "
                         "expected cash > 0 and costs >= 0")
    test_start = pd.Timestamp(source.card.test_range[0])
    start_bar = _first_bar(bars, start if start is not None else test_start)
    if start_bar < test_start:
        log.warning("start %s precedes %s's test period (from %s): the backtest includes bars it was "
                    "trained or validated on", start_bar.date(), source.name, test_start.date())
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(bars_feed(bars))
    cerebro.broker.setcash(cash)
    cerebro.broker.setcommission(commission=commission)
    cerebro.broker.set_slippage_perc(slippage, slip_open=True, slip_limit=True, slip_match=True, slip_out=False)
    cerebro.addstrategy(SignalStrategy, source=source, buy_threshold=buy_threshold, sell_threshold=sell_threshold,
                        allow_short=allow_short, stake=stake, start=start_bar)
    cerebro.addanalyzer(_EquityCurve, _name="equity")
    began = time.perf_counter()
    strategy = cerebro.run()[0]
    log.info("backtest of %s over %d bars took %.2fs", source.name, len(bars), time.perf_counter() - began)

    curve = strategy.analyzers.equity
    equity = pd.Series(curve.values, index=bar_times(curve.times), name="strategy").loc[start_bar:]
    benchmark = buy_and_hold(bars, start_bar, cash, commission)
    trades = strategy.trade_frame()
    probabilities = strategy.signal.probabilities().loc[start_bar:]
    stats = performance(equity, trades)
    stats["signal_hit_rate"] = signal_hit_rate(probabilities, bars, source.card.horizon)
    params = {
        "source": source.name, "start": start_bar.isoformat(), "end": bars.index[-1].isoformat(),
        "out_of_sample": start_bar >= test_start, "horizon": source.card.horizon,
        "cash": cash, "commission": commission, "slippage": slippage, "buy_threshold": buy_threshold,
        "sell_threshold": sell_threshold, "allow_short": allow_short, "stake": stake,
    }
    return BacktestResult(stats=stats, benchmark=performance(benchmark, None),
                          equity=pd.concat([equity, benchmark], axis=1), trades=trades,
                          fills=strategy.fill_frame(), probabilities=probabilities, params=params)


def _first_bar(bars: pd.DataFrame, start: str | date | datetime | pd.Timestamp) -> pd.Timestamp:
    """The first bar at or after `start`."""
    try:
        when = pd.Timestamp(start)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"start {start!r}: expected a date or datetime ({exc})") from None
    later = bars.index[bars.index >= when]
    if len(later) == 0:
        raise ValueError(f"start {when}: after the last bar {bars.index[-1]} (expected a start within the bars)")
    return later[0]
