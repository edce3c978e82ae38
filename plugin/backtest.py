"""`run_backtest`: a signal source, bars and costs in; stats, curves and trades out."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import backtrader as bt
import numpy as np
import pandas as pd

from signalstack.core.errors import InvalidInput

from .analyzers import Performance
from .feeds import bars_feed
from .indicators import OUTPUT_LINES
from .settings import TradingSettings
from .sources import SignalSource
from .stats import buy_and_hold, calibration, performance, signal_quality
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
    """The source's outputs per bar (class probabilities, or forecast / score)."""
    params: dict[str, Any]
    """Everything the run was configured with: source, period, costs, strategy parameters."""
    quality: pd.Series
    """`signal_quality` of the traded line over the period."""
    calibration: pd.DataFrame
    """`calibration` of p_up (empty for a forecast or score line)."""
    bars: pd.DataFrame
    """The period's bars."""


def configure_broker(broker: bt.brokers.BackBroker, cash: float, commission: float, slippage: float) -> None:
    """Backtrader's simulated broker as every signalstack run trades on it (backtests and paper runs alike):
    `commission` a fraction of traded value, `slippage` a fraction of price against every fill, the
    next bar's open included."""
    broker.setcash(cash)
    broker.setcommission(commission=commission)
    broker.set_slippage_perc(slippage, slip_open=True, slip_limit=True, slip_match=True, slip_out=False)


def run_backtest(
    source: SignalSource,
    bars: pd.DataFrame,
    settings: TradingSettings | None = None,
    *,
    start: str | date | datetime | pd.Timestamp | None = None,
    preload: bool = True,
    symbol: str = "",
    fundamentals: pd.DataFrame | None = None,
    log_orders: bool = False,
    **trading: Any,
) -> BacktestResult:
    """Trade `SignalStrategy` on `bars` from `start` and compare it with buy-and-hold.

    `settings` are the strategy's parameters, cash and costs (default `TradingSettings()`); keywords
    named as its fields (buy_threshold=0.6, commission=0.0, ...) are applied over them and checked
    once. `start` (default: the model card's test period start, so out of sample) is the first bar
    on whose close a decision may be made; the first fill is at the next bar's open. All bars are
    fed so the model has its history, but statistics cover [start, end] only. `preload=False` feeds
    the bars one at a time as a live feed does, so the model is asked bar by bar. `fundamentals`
    (dated factor rows) feeds a two-input model. `log_orders` logs every fill at INFO.

    Annual figures run on the bars' clock: CAGR and turnover over the calendar time the period
    spans; Sharpe and Sortino with `periods_per_year` bars to a year, by default (None) the bars
    per calendar year of the period's timestamps (`stats.bars_per_year`), so hourly or weekly bars
    need no setting. `stats["periods_per_year"]` is the factor used. Volatility sizing takes the
    same override, else the bars per year seen up to each decision.
    """
    settings = (settings or TradingSettings()).replaced(**trading)
    test_start = source.test_start
    start_bar = _first_bar(bars, start if start is not None else test_start)
    if start_bar < test_start:
        log.warning(
            "start %s precedes %s's test period (from %s): the backtest includes bars it was trained or validated on",
            start_bar.date(),
            source.name,
            test_start.date(),
        )
    cerebro = bt.Cerebro(stdstats=False, preload=preload, runonce=preload)
    cerebro.adddata(bars_feed(bars, symbol))
    configure_broker(cerebro.broker, settings.cash, settings.commission, settings.slippage)
    cerebro.addstrategy(
        SignalStrategy,
        source=source,
        start=start_bar,
        fundamentals=fundamentals,
        log_orders=log_orders,
        **settings.strategy_keywords(),
    )
    cerebro.addanalyzer(Performance, _name="performance", start=start_bar, periods_per_year=settings.periods_per_year)
    began = time.perf_counter()
    run = cerebro.run()[0]
    log.info("backtest of %s over %d bars took %.2fs", source.name, len(bars), time.perf_counter() - began)
    params = {
        "symbol": symbol,
        "source": source.name,
        "start": start_bar.isoformat(),
        "end": bars.index[-1].isoformat(),
        "out_of_sample": bool(start_bar >= test_start),
        "horizon": source.horizon,
        "cash": settings.cash,
        "commission": settings.commission,
        "slippage": settings.slippage,
        "preload": preload,
        **dict(sorted(settings.strategy_keywords().items())),
    }
    account = run.analyzers.performance
    return backtest_result(params, bars, account.equity, account.trades, account.fills, run.signal.probabilities())


def backtest_result(
    params: dict[str, Any],
    bars: pd.DataFrame,
    equity: pd.Series,
    trades: pd.DataFrame,
    fills: pd.DataFrame,
    outputs: pd.DataFrame,
) -> BacktestResult:
    """The `BacktestResult` of what a backtest or a paper run traded: the one place its figures are computed.

    `params` as `run_backtest` records them; `bars` every bar fed, warm-up included; `equity` the account's
    value after each bar from start; `trades` and `fills` as a ledger frames them; `outputs` the source's.
    """
    start, periods, line = pd.Timestamp(params["start"]), params["periods_per_year"], params["line"]
    traded = float(sum(fills.loc[fills["time"] >= start, "value"].tolist()))  # summed in fill order, as the ledger
    stats = performance(equity, trades, periods, traded_value=traded)
    output = next((column for column, name in OUTPUT_LINES.items() if name == line), line)
    score = outputs[output].loc[start:] if output in outputs else pd.Series(dtype=np.float64)
    probability = line.startswith("p_")
    quality = signal_quality(
        score, bars["close"], params["horizon"], 0.5 if probability else 0.0, probability=probability
    )
    stats["signal_hit_rate"] = quality["hit_rate"]
    benchmark = buy_and_hold(bars, start, params["cash"], params["commission"])
    return BacktestResult(
        stats=stats,
        benchmark=performance(benchmark, None, periods),
        equity=pd.concat([equity, benchmark], axis=1),
        trades=trades,
        fills=fills,
        probabilities=outputs.loc[start:],
        params=params,
        quality=quality,
        calibration=calibration(score, bars["close"], params["horizon"]) if probability else pd.DataFrame(),
        bars=bars.loc[start:],
    )


def _first_bar(bars: pd.DataFrame, start: str | date | datetime | pd.Timestamp) -> pd.Timestamp:
    """The first bar at or after `start`."""
    try:
        when = pd.Timestamp(start)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"start {start!r}: expected a date or datetime ({exc})") from None
    later = bars.index[bars.index >= when]
    if len(later) == 0:
        raise InvalidInput(f"start {when}: after the last bar {bars.index[-1]} (expected a start within the bars)")
    return later[0]
