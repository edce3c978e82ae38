"""Performance and SignalQuality analyzers against hand computations and Backtrader's own analyzers."""

from __future__ import annotations

import math
import statistics

import backtrader as bt
import numpy as np
import pandas as pd
import pytest

from signalstack.plugin import (
    Performance,
    PrecomputedSource,
    SignalQuality,
    SignalStrategy,
    bars_feed,
    performance,
    run_backtest,
)
from signalstack.plugin.stats import bars_per_year

from .support import bars_from, hand_bars, up_probabilities

BARS = hand_bars(12)
P_UP = [np.nan, 0.6, 0.6, 0.4, 0.5, 0.7, 0.5, 0.3, 0.6, 0.2, 0.5, 0.9]


def _run(
    bars: pd.DataFrame,
    p_up: list[float] | np.ndarray,
    *analyzers: tuple[type, dict],
    cash: float = 10_000.0,
    commission: float = 0.0,
) -> bt.Strategy:
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(bars_feed(bars))
    cerebro.broker.setcash(cash)
    cerebro.broker.setcommission(commission=commission)
    cerebro.addstrategy(SignalStrategy, source=PrecomputedSource(up_probabilities(p_up, bars.index)))
    for analyzer, kwargs in analyzers:
        cerebro.addanalyzer(analyzer, **kwargs)
    return cerebro.run()[0]


def test_performance_analyzer_matches_the_account_by_hand() -> None:
    run = _run(BARS, P_UP, (Performance, {"_name": "performance"}))
    fills = run.fill_frame().set_index("time")
    position = fills["size"].reindex(BARS.index, fill_value=0.0).cumsum()
    cash = 10_000.0 - (fills["size"] * fills["price"]).reindex(BARS.index, fill_value=0.0).cumsum()
    equity = cash + position * BARS["close"]
    account = run.analyzers.performance
    pd.testing.assert_series_equal(account.equity, equity, check_names=False, check_freq=False)

    stats = account.get_analysis()
    years = (BARS.index[-1] - BARS.index[0]) / pd.Timedelta(days=365.25)  # 15 calendar days, not 11 / 252
    assert stats["periods_per_year"] == pytest.approx(11 / years)
    assert stats["total_return"] == pytest.approx(equity.iloc[-1] / 10_000.0 - 1.0)
    assert stats["cagr"] == pytest.approx((equity.iloc[-1] / 10_000.0) ** (1 / years) - 1.0)
    assert stats["turnover"] == pytest.approx((fills["size"].abs() * fills["price"]).sum() / equity.mean() / years)
    assert stats["exposure"] == pytest.approx((position != 0).mean())
    assert stats["trades"] == 3 and stats["win_rate"] == 1.0  # a rising series: every long made money
    returns = equity.pct_change().dropna()
    downside = math.sqrt(sum(min(r, 0.0) ** 2 for r in returns) / len(returns))
    assert stats["sortino"] == pytest.approx(returns.mean() / downside * math.sqrt(11 / years))


def test_performance_analyzer_agrees_with_backtraders_analyzers(sp500: pd.DataFrame) -> None:
    """DrawDown, TradeAnalyzer and Returns agree outright; SharpeRatio, given our bars per year as its
    factor, counts one more return, the first bar's against the starting cash (0.0 here), so it equals
    ours with that cash in front. test_annualisation does the same on hourly and 5-minute bars."""
    bars = sp500.loc["2010":"2012"]
    p_up = np.random.default_rng(0).uniform(0.3, 0.7, len(bars))
    periods = bars_per_year(bars.index)
    run = _run(
        bars,
        p_up,
        (Performance, {"_name": "performance"}),
        (
            bt.analyzers.SharpeRatio,
            {
                "_name": "sharpe",
                "timeframe": bt.TimeFrame.Days,
                "factor": periods,
                "annualize": True,
                "riskfreerate": 0.0,
                "stddev_sample": True,
            },
        ),
        (bt.analyzers.DrawDown, {"_name": "drawdown"}),
        (bt.analyzers.TradeAnalyzer, {"_name": "trades"}),
        (bt.analyzers.Returns, {"_name": "returns"}),
        cash=100_000.0,
        commission=0.001,
    )
    account, theirs = run.analyzers.performance, run.analyzers
    ours = account.get_analysis()
    assert ours["trades"] > 50
    assert ours["max_drawdown"] * 100 == pytest.approx(theirs.drawdown.get_analysis().max.drawdown, rel=1e-12)
    trades = theirs.trades.get_analysis()
    assert (ours["trades"], ours["win_rate"]) == (trades.total.closed, trades.won.total / trades.total.closed)
    assert math.log1p(ours["total_return"]) == pytest.approx(theirs.returns.get_analysis()["rtot"], rel=1e-12)
    assert ours["periods_per_year"] == periods
    cash_bar = pd.Series([100_000.0], index=pd.DatetimeIndex([bars.index[0] - pd.Timedelta(days=1)]))
    from_cash = performance(pd.concat([cash_bar, account.equity]), periods_per_year=periods)
    assert theirs.sharpe.get_analysis()["sharperatio"] == pytest.approx(from_cash["sharpe"], rel=1e-12)
    assert ours["sharpe"] == pytest.approx(from_cash["sharpe"], rel=0.01)


def test_run_backtest_stats_are_the_performance_analyzers(sp500: pd.DataFrame) -> None:
    bars = sp500.loc["2011":"2012"]
    p_up = np.random.default_rng(1).uniform(0.3, 0.7, len(bars))
    result = run_backtest(PrecomputedSource(up_probabilities(p_up, bars.index)), bars, start=bars.index[0])
    run = _run(bars, p_up, (Performance, {"_name": "performance"}), cash=100_000.0, commission=0.001)
    # run_backtest also slips fills, so only the definitions are shared: recompute ours on its curve.
    expected = performance(result.equity["strategy"], result.trades, traded_value=(result.fills["value"]).sum())
    pd.testing.assert_series_equal(result.stats.drop("signal_hit_rate"), expected)
    assert set(run.analyzers.performance.get_analysis()) == set(expected.index)


# Closes 10, 11, 10.5, 10.5, 12, 11: one-bar outcomes up, down, flat, up, down, unknown.
QUALITY_BARS = bars_from(opens=[10, 10, 11, 10.5, 10.5, 12], closes=[10, 11, 10.5, 10.5, 12, 11])
QUALITY_P_UP = [0.7, 0.6, 0.4, 0.55, 0.2, 0.9]


def test_signal_quality_analyzer_matches_hand_computation() -> None:
    run = _run(QUALITY_BARS, QUALITY_P_UP, (SignalQuality, {"_name": "quality", "buckets": 2}))
    quality = run.analyzers.quality.get_analysis()
    forward = [0.1, -0.5 / 11, 0.0, 1.5 / 10.5, -1 / 12]
    assert quality["n"] == 5
    assert quality["hit_rate"] == pytest.approx(4 / 5)
    assert quality["precision"] == pytest.approx(2 / 3) and quality["recall"] == 1.0
    assert quality["brier"] == pytest.approx((0.09 + 0.36 + 0.16 + 0.2025 + 0.04) / 5)
    assert quality["ic_pearson"] == pytest.approx(statistics.correlation(QUALITY_P_UP[:5], forward))
    assert quality["ic_spearman"] == pytest.approx(0.5)  # ranks 5 4 2 3 1 against 4 2 3 5 1
    low, high = quality["calibration"]
    assert (low["count"], low["predicted"], low["observed"]) == (2, pytest.approx(0.3), 0.0)
    assert (high["count"], high["predicted"], high["observed"]) == (3, pytest.approx(1.85 / 3), pytest.approx(2 / 3))


def test_signal_quality_counts_only_bars_from_start() -> None:
    run = _run(QUALITY_BARS, QUALITY_P_UP, (SignalQuality, {"_name": "quality", "start": QUALITY_BARS.index[3]}))
    quality = run.analyzers.quality.get_analysis()
    assert quality["n"] == 2 and quality["hit_rate"] == 1.0  # 0.55 went up, 0.2 went down


def test_signal_quality_of_a_forecast_has_no_brier_or_calibration() -> None:
    bars = QUALITY_BARS
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(bars_feed(bars))
    forecast = pd.DataFrame({"forecast": [0.02, -0.01, 0.0, 0.01, -0.02, 0.03]}, index=bars.index)
    cerebro.addstrategy(
        SignalStrategy, source=PrecomputedSource(forecast), line="forecast", buy_threshold=0.01, sell_threshold=-0.01
    )
    cerebro.addanalyzer(SignalQuality, _name="quality", line="forecast")
    quality = cerebro.run()[0].analyzers.quality.get_analysis()
    assert quality["hit_rate"] == pytest.approx(4 / 5)  # forecast >= 0 called up: bar 2's 0.0 was wrong
    assert math.isnan(quality["brier"]) and quality["calibration"] == []
