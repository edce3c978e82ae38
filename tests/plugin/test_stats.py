"""performance(), buy_and_hold() and signal_hit_rate() against hand computations and Backtrader's analyzers."""

from __future__ import annotations

import math

import backtrader as bt
import numpy as np
import pandas as pd
import pytest

from signalstack.plugin import (
    PrecomputedSource,
    SignalStrategy,
    bars_feed,
    buy_and_hold,
    calibration,
    drawdown,
    equal_weight,
    monthly_returns,
    performance,
    run_backtest,
    signal_hit_rate,
    signal_quality,
)

from .support import hand_bars

QUARTER = pd.Timedelta(days=365.25 / 4)
TIMES = pd.date_range("2022-01-01", periods=5, freq=QUARTER)  # four returns over one calendar year
EQUITY = pd.Series([100.0, 110.0, 99.0, 103.95, 120.0], index=TIMES)


def _trades(*rows: tuple[int, int | None, float]) -> pd.DataFrame:
    """Round trips from entry bar to exit bar (None: still open) of TIMES."""
    return pd.DataFrame(
        [
            {"entry_time": TIMES[a], "exit_time": TIMES[b] if b is not None else pd.NaT, "pnl_net": pnl}
            for a, b, pnl in rows
        ],
        columns=["entry_time", "exit_time", "pnl_net"],
    )


def test_performance_matches_hand_computation() -> None:
    returns = [0.10, -0.10, 0.05, 120.0 / 103.95 - 1.0]
    mean = sum(returns) / 4
    sample_std = math.sqrt(sum((r - mean) ** 2 for r in returns) / 3)
    trades = _trades((1, 2, 5.0), (2, 3, -1.0), (4, None, 0))
    stats = performance(EQUITY, trades)
    assert stats["periods_per_year"] == pytest.approx(4.0)  # four returns in one calendar year
    assert stats["total_return"] == pytest.approx(0.20)
    assert stats["cagr"] == pytest.approx(0.20)
    assert stats["sharpe"] == pytest.approx(mean / sample_std * 2.0)
    assert stats["max_drawdown"] == pytest.approx(11.0 / 110.0)
    assert stats["trades"] == 2 and stats["win_rate"] == 0.5
    assert stats["exposure"] == pytest.approx(3 / 5)  # bars 2 and 3 (exit bar excluded), and the open one


def test_sortino_and_turnover_match_hand_computation() -> None:
    returns = [0.10, -0.10, 0.05, 120.0 / 103.95 - 1.0]
    downside = math.sqrt(0.01 / 4)  # only the -10% bar is below zero
    stats = performance(EQUITY, None, traded_value=330.0)
    assert stats["sortino"] == pytest.approx(sum(returns) / 4 / downside * 2.0)
    assert stats["turnover"] == pytest.approx(330.0 / (532.95 / 5))  # over one calendar year
    assert math.isnan(performance(EQUITY, None)["turnover"])


def test_drawdown_is_the_fall_from_the_running_peak() -> None:
    np.testing.assert_allclose(drawdown(EQUITY), [0.0, 0.0, 0.1, 1 - 103.95 / 110.0, 0.0])


def test_monthly_returns_table() -> None:
    times = pd.DatetimeIndex(["2022-01-03", "2022-01-31", "2022-02-01", "2022-02-28", "2022-03-15", "2023-01-02"])
    table = monthly_returns(pd.Series([100.0, 110.0, 99.0, 104.5, 120.0, 132.0], index=times))
    assert list(table.index) == [2022, 2023] and list(table.columns) == [*range(1, 13), "year"]
    assert table.loc[2022, 1] == pytest.approx(0.10) and table.loc[2022, 2] == pytest.approx(-0.05)
    assert table.loc[2022, 3] == pytest.approx(120.0 / 104.5 - 1.0) and table.loc[2023, 1] == pytest.approx(0.10)
    assert table.loc[2022, 4:12].isna().all() and table.loc[2023, 2:12].isna().all()
    assert table["year"].tolist() == pytest.approx([0.20, 0.10])


def test_equal_weight_splits_cash_across_sleeves() -> None:
    days = pd.bdate_range("2022-01-03", periods=3)
    a = pd.Series([100.0, 110.0, 121.0], index=days)
    b = pd.Series([50.0, 45.0], index=days[1:])  # starts a bar later: idle cash until then
    np.testing.assert_allclose(equal_weight({"a": a, "b": b}, 1000.0), [1000.0, 1050.0, 1055.0])


def test_signal_quality_and_calibration_functions() -> None:
    close = pd.Series([10.0, 11.0, 10.5, 10.5, 12.0, 11.0], index=pd.bdate_range("2022-01-03", periods=6))
    p_up = pd.Series([0.7, 0.6, 0.4, 0.55, 0.2, 0.9], index=close.index)
    quality = signal_quality(p_up, close, horizon=2)  # outcomes: up (10 -> 10.5), down, up, up
    assert quality["n"] == 4 and quality["hit_rate"] == pytest.approx(2 / 4)
    assert quality["precision"] == pytest.approx(2 / 3) and quality["recall"] == pytest.approx(2 / 3)
    table = calibration(p_up, close, horizon=2, buckets=4)
    assert table["count"].tolist() == [0, 1, 3, 0]
    assert table["observed"].iloc[1:3].tolist() == [1.0, pytest.approx(2 / 3)]
    assert np.isnan(table["predicted"].iloc[0])


def test_cagr_and_turnover_run_on_calendar_time_whatever_the_factor() -> None:
    """The same values over half a year: twice the bars per year, growth squared per year. A given
    periods_per_year rescales Sharpe and Sortino only."""
    half = pd.Series(EQUITY.to_numpy(), index=pd.date_range("2022-01-01", periods=5, freq=QUARTER / 2))
    stats = performance(half, None, traded_value=330.0)
    assert stats["periods_per_year"] == pytest.approx(8.0) and stats["cagr"] == pytest.approx(1.2**2 - 1.0)
    assert stats["sharpe"] == pytest.approx(performance(EQUITY)["sharpe"] * math.sqrt(2))
    given = performance(half, None, periods_per_year=2, traded_value=330.0)
    assert given["periods_per_year"] == 2 and given[["cagr", "turnover"]].equals(stats[["cagr", "turnover"]])
    assert given[["sharpe", "sortino"]].tolist() == pytest.approx((stats[["sharpe", "sortino"]] / 2).tolist())


def test_a_single_bar_spans_no_time() -> None:
    stats = performance(EQUITY.iloc[:1])
    assert stats["total_return"] == 0.0
    assert stats[["cagr", "sharpe", "sortino", "periods_per_year"]].isna().all()


def test_performance_needs_bar_times_and_a_positive_factor() -> None:
    with pytest.raises(ValueError, match="equity indexed by RangeIndex: expected a DatetimeIndex of bar times"):
        performance(EQUITY.reset_index(drop=True))
    for bad in (0, -252, math.nan, math.inf):
        with pytest.raises(ValueError, match=f"periods_per_year {bad}: expected bars per year > 0"):
            performance(EQUITY, periods_per_year=bad)


def test_benchmark_has_no_trade_stats() -> None:
    stats = performance(EQUITY, None)
    assert stats[["trades", "win_rate", "exposure"]].isna().all()


def test_flat_equity_has_no_sharpe_and_no_drawdown() -> None:
    stats = performance(pd.Series(50.0, index=TIMES), _trades())
    assert math.isnan(stats["sharpe"]) and stats["max_drawdown"] == 0.0 and stats["trades"] == 0


@pytest.mark.parametrize("values", [[], [100.0, -1.0], [100.0, float("nan")]])
def test_performance_rejects_unusable_equity(values: list[float]) -> None:
    with pytest.raises(ValueError, match=f"equity of {len(values)} bars"):
        performance(pd.Series(values, dtype=float), None)


def test_buy_and_hold_enters_at_the_open_after_the_start_bar() -> None:
    bars = hand_bars(6)
    equity = buy_and_hold(bars, bars.index[2], cash=1000.0, commission=0.01)
    shares = 1000.0 / (bars["open"].iloc[3] * 1.01)
    assert list(equity.index) == list(bars.index[2:])
    assert equity.iloc[0] == 1000.0
    np.testing.assert_allclose(equity.iloc[1:], shares * bars["close"].iloc[3:])


def test_buy_and_hold_refuses_a_start_after_the_bars() -> None:
    bars = hand_bars(3)
    with pytest.raises(ValueError, match="no bars at or after it"):
        buy_and_hold(bars, "2030-01-01", 1000.0, 0.0)


def test_signal_hit_rate_counts_scored_bars_with_known_outcome() -> None:
    bars = pd.DataFrame({"close": [10.0, 11.0, 10.5, 10.5, 12.0]}, index=TIMES)
    # Outcomes at horizon 1: up, down, flat (not up), up, unknown.
    probs = pd.DataFrame({"up": [0.7, 0.6, 0.4, np.nan, 0.9]}, index=TIMES)
    assert signal_hit_rate(probs, bars, horizon=1) == pytest.approx(2 / 3)
    assert signal_hit_rate(probs.iloc[1:2], bars, horizon=1) == 0.0
    assert math.isnan(signal_hit_rate(probs.iloc[4:], bars, horizon=1))


def test_sharpe_and_drawdown_agree_with_backtraders_analyzers(sp500: pd.DataFrame) -> None:
    """Same run, same costs. Backtrader's TimeReturn also counts the first bar's return against the
    starting cash (0.0: nothing fills on the first bar), so with our factor its Sharpe equals ours over
    the equity curve with that flat bar prepended; its SharpeRatio needs stddev_sample=True for our
    ddof 1. With its own 252 days a year it is within the sample's 251.9. DrawDown reports percent
    where we report a fraction.
    """
    bars = sp500.loc["2010":"2012"]
    p_up = np.random.default_rng(0).uniform(0.3, 0.7, len(bars))
    source = PrecomputedSource(pd.DataFrame({"down": 1.0 - p_up, "up": p_up}, index=bars.index))
    result = run_backtest(source, bars, start=bars.index[0])

    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(bars_feed(bars))
    cerebro.broker.setcash(100_000.0)
    cerebro.broker.setcommission(commission=0.001)
    cerebro.broker.set_slippage_perc(0.0005, slip_open=True, slip_limit=True, slip_match=True, slip_out=False)
    cerebro.addstrategy(SignalStrategy, source=source, start=bars.index[0])
    periods = result.stats["periods_per_year"]
    for name, factor in (("sharpe", periods), ("sharpe_252", None)):
        cerebro.addanalyzer(
            bt.analyzers.SharpeRatio,
            _name=name,
            timeframe=bt.TimeFrame.Days,
            factor=factor,
            annualize=True,
            riskfreerate=0.0,
            stddev_sample=True,
        )
    cerebro.addanalyzer(bt.analyzers.DrawDown, _name="drawdown")
    analyzers = cerebro.run()[0].analyzers

    equity = result.equity["strategy"]
    assert result.stats["trades"] > 50  # the comparison is over a curve that moves
    assert periods == pytest.approx(251.86, abs=0.01)  # 755 bars over 2010-01-04 .. 2012-12-31
    with_first_bar = performance(pd.concat([equity.iloc[:1], equity]), None, periods)
    assert analyzers.sharpe.get_analysis()["sharperatio"] == pytest.approx(with_first_bar["sharpe"], rel=1e-12)
    assert result.stats["sharpe"] == pytest.approx(with_first_bar["sharpe"], rel=0.01)
    assert result.stats["sharpe"] == pytest.approx(analyzers.sharpe_252.get_analysis()["sharperatio"], rel=0.01)
    assert analyzers.drawdown.get_analysis().max.drawdown == pytest.approx(
        100 * result.stats["max_drawdown"], rel=1e-12
    )
