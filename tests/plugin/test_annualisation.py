"""Annual figures on the data's own clock, against Backtrader's analyzers on daily, hourly and 5-minute bars.

Each run is a real Cerebro on a deterministic random walk, traded by `SignalStrategy` on random
p_up. Backtrader needs its annualisation configured by hand (timeframe, compression, factor);
ours infers the bars per year from the timestamps, so the two must agree once Backtrader is given
the factor a user would pick for that market: its own 252 for NYSE days, 24 h x 261 weekdays for
hourly FX, 78 bars x 252 days for 5-minute equity sessions.
"""

from __future__ import annotations

import math

import backtrader as bt
import numpy as np
import pandas as pd
import pytest
from pandas.tseries.holiday import USFederalHolidayCalendar
from pandas.tseries.offsets import CustomBusinessDay

from signalstack.core.errors import SettingsError
from signalstack.plugin import Performance, PrecomputedSource, SignalStrategy, bars_feed, performance, run_backtest
from signalstack.plugin.stats import DAYS_PER_YEAR, bars_per_year, per_year

from .support import up_probabilities

CASH = 100_000.0
TRADING_DAYS = CustomBusinessDay(calendar=USFederalHolidayCalendar())
"""Weekdays less US federal holidays: about 250 a year, near NYSE's 252."""


def _session_days(days: int) -> pd.DatetimeIndex:
    return pd.date_range("2021-01-04", periods=days, freq=TRADING_DAYS, name="time")


def _fx_hours(weeks: int, start: str = "2021-01-04") -> pd.DatetimeIndex:
    """Hourly bars round the clock on weekdays (Monday 00:00 to Friday 23:00), 120 a week, as FX trades."""
    days = pd.date_range(start, periods=7 * weeks, freq="D")
    weekdays = days[days.day_of_week < 5]
    return pd.DatetimeIndex([day + pd.Timedelta(hours=h) for day in weekdays for h in range(24)], name="time")


def _session_minutes(days: int) -> pd.DatetimeIndex:
    """5-minute bars 09:30 to 15:55 on trading days, 78 a session."""
    return pd.DatetimeIndex(
        [day + pd.Timedelta(minutes=570 + 5 * k) for day in _session_days(days) for k in range(78)], name="time"
    )


def _random_walk(times: pd.DatetimeIndex, volatility: float = 0.002, seed: int = 7) -> pd.DataFrame:
    """Bars of a geometric random walk with `volatility` per bar, each open at the previous close."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, volatility, len(times))))
    open_ = np.r_[100.0, close[:-1]]
    return pd.DataFrame(
        {
            "open": open_,
            "high": np.maximum(open_, close) * 1.0005,
            "low": np.minimum(open_, close) * 0.9995,
            "close": close,
            "volume": 1000.0,
        },
        index=times,
    )


# name: bar times, Backtrader's timeframe and compression for them, and the bars per year a Backtrader
# user would configure (None: Backtrader's own table, 252 for days; it has none for sub-day bars).
FREQUENCIES = {
    "daily": (_session_days(504), bt.TimeFrame.Days, 1, None),
    "hourly": (_fx_hours(26), bt.TimeFrame.Minutes, 60, 24 * 261),
    "5-minute": (_session_minutes(60), bt.TimeFrame.Minutes, 5, 78 * 252),
}


def _run(bars: pd.DataFrame, timeframe: int, compression: int, convention: float | None) -> bt.Strategy:
    """A Cerebro run with our Performance and Backtrader's SharpeRatio, TimeReturn and Returns.

    SharpeRatio runs twice: with the factor a user would configure for the market, and with the factor
    our analyzer will infer (read from the timestamps here the same way), to compare definitions exactly.
    """
    p_up = np.random.default_rng(11).uniform(0.3, 0.7, len(bars))
    inferred = bars_per_year(bars.index)
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(bars_feed(bars))
    cerebro.broker.setcash(CASH)
    cerebro.broker.setcommission(commission=0.0002)
    cerebro.addstrategy(SignalStrategy, source=PrecomputedSource(up_probabilities(p_up, bars.index)))
    cerebro.addanalyzer(Performance, _name="performance")
    frame = {"timeframe": timeframe, "compression": compression}
    sharpe = {**frame, "annualize": True, "riskfreerate": 0.0, "stddev_sample": True}
    cerebro.addanalyzer(bt.analyzers.SharpeRatio, _name="sharpe", factor=convention, **sharpe)
    cerebro.addanalyzer(bt.analyzers.SharpeRatio, _name="sharpe_inferred", factor=inferred, **sharpe)
    cerebro.addanalyzer(bt.analyzers.TimeReturn, _name="bar_returns", **frame)
    cerebro.addanalyzer(bt.analyzers.TimeReturn, _name="whole", timeframe=bt.TimeFrame.NoTimeFrame)
    cerebro.addanalyzer(bt.analyzers.Returns, _name="returns", tann=inferred, **frame)
    cerebro.addanalyzer(bt.analyzers.Returns, _name="returns_usual", tann=convention, **frame)
    return cerebro.run()[0]


Case = tuple[str, pd.DataFrame, bt.Strategy, float | None]
"""A frequency's name, its bars, the finished run and the factor a Backtrader user would configure."""


@pytest.fixture(scope="module", params=list(FREQUENCIES))
def frequency(request: pytest.FixtureRequest) -> Case:
    times, timeframe, compression, convention = FREQUENCIES[request.param]
    bars = _random_walk(times)
    return request.param, bars, _run(bars, timeframe, compression, convention), convention


def _from_cash(equity: pd.Series) -> pd.Series:
    """The curve with the starting cash one bar before its first value, as Backtrader's returns start."""
    before = equity.index[0] - (equity.index[1] - equity.index[0])
    return pd.concat([pd.Series([CASH], index=pd.DatetimeIndex([before])), equity])


def test_bars_per_year_follow_the_market_clock(frequency: Case) -> None:
    name, bars, run, convention = frequency
    ours = run.analyzers.performance.get_analysis()
    assert ours["periods_per_year"] == pytest.approx(bars_per_year(bars.index), rel=1e-12)
    assert ours["periods_per_year"] == pytest.approx(convention or 252, rel=0.025), name


def test_sharpe_agrees_with_backtraders_sharpe_ratio(frequency: Case) -> None:
    """Backtrader's per-bar returns (TimeReturn at the bars' timeframe and compression) are ours with one
    more in front, the first bar's against the starting cash; with our factor its Sharpe is ours on that
    curve to rounding, and with the market's usual factor it is within the sample's calendar edges."""
    name, bars, run, _ = frequency
    account, theirs = run.analyzers.performance, run.analyzers
    ours = account.get_analysis()
    assert ours["trades"] > 20 and abs(ours["sharpe"]) > 0.05, name  # a curve that moves
    bar_returns = list(theirs.bar_returns.get_analysis().values())
    assert len(bar_returns) == len(bars)
    np.testing.assert_allclose(bar_returns[1:], account.equity.pct_change().iloc[1:], rtol=0, atol=1e-15)
    from_cash = performance(_from_cash(account.equity), periods_per_year=ours["periods_per_year"])
    assert theirs.sharpe_inferred.get_analysis()["sharperatio"] == pytest.approx(from_cash["sharpe"], rel=1e-12)
    assert ours["sharpe"] == pytest.approx(from_cash["sharpe"], rel=2.0 / len(bars))
    assert ours["sharpe"] == pytest.approx(theirs.sharpe.get_analysis()["sharperatio"], rel=0.02), name


def test_returns_and_cagr_agree_with_backtraders_returns(frequency: Case) -> None:
    """Total return is TimeReturn's over the whole run. Returns annualises log growth per bar counted,
    the starting cash's bar included, with `tann` bars to a year: our CAGR compounds the same growth over
    one bar fewer, so with our inferred factor the two annual log returns stand in the ratio n - 1 : n,
    and with the market's usual factor they are close. (Left to itself on minute bars Backtrader's
    Returns takes a year to be one bar.)"""
    name, bars, run, _ = frequency
    ours, theirs = run.analyzers.performance.get_analysis(), run.analyzers
    assert list(theirs.whole.get_analysis().values()) == [pytest.approx(ours["total_return"], rel=1e-12)]
    years = (bars.index[-1] - bars.index[0]) / pd.Timedelta(days=DAYS_PER_YEAR)
    assert ours["cagr"] == pytest.approx((1.0 + ours["total_return"]) ** (1.0 / years) - 1.0, rel=1e-12)
    returns = theirs.returns.get_analysis()
    assert math.log1p(ours["total_return"]) == pytest.approx(returns["rtot"], rel=1e-12)
    n = len(bars)
    assert math.log1p(returns["rnorm"]) * n == pytest.approx(math.log1p(ours["cagr"]) * (n - 1), rel=1e-9), name
    usual = theirs.returns_usual.get_analysis()["rnorm"]
    assert math.log1p(ours["cagr"]) == pytest.approx(math.log1p(usual), rel=0.025), name


def test_bars_per_year_of_nyse_days_and_weekly_bars(sp500: pd.DataFrame) -> None:
    assert bars_per_year(sp500.index) == pytest.approx(251.6, abs=0.1)  # 1999 .. 2018, holidays and all
    weeks = pd.date_range("2015-01-02", periods=300, freq="W-FRI")
    assert bars_per_year(weeks) == pytest.approx(DAYS_PER_YEAR / 7, rel=1e-12)
    assert math.isnan(bars_per_year(weeks[:1]))


def test_hourly_fx_from_the_issue_is_annualised_over_41_days() -> None:
    """683 hourly EURUSD bars, 2017-12-28 to 2018-02-07, losing 2.57%: 252 bars a year called that 2.7
    years and a CAGR of -0.96%; on the calendar it is 41 days, and some 6,000 bars a year."""
    hours = _fx_hours(6, start="2017-12-28")
    hours = hours[(hours.normalize() != pd.Timestamp("2018-01-01")) & (hours <= pd.Timestamp("2018-02-07 23:00"))]
    times = hours[-683:]
    equity = pd.Series(np.linspace(100_000.0, 97_430.0, len(times)), index=times)
    stats = performance(equity)
    days = (times[-1] - times[0]) / pd.Timedelta(days=1)
    assert len(times) == 683 and times[0].date() == pd.Timestamp("2017-12-28").date() and 40 < days < 42
    assert stats["total_return"] == pytest.approx(-0.0257)
    assert stats["cagr"] == pytest.approx(0.9743 ** (DAYS_PER_YEAR / days) - 1.0) and stats["cagr"] < -0.2
    assert stats["periods_per_year"] == pytest.approx(682 / days * DAYS_PER_YEAR) and stats["periods_per_year"] > 6000


def test_periods_per_year_overrides_the_clock_for_sharpe_and_sortino_only() -> None:
    bars = _random_walk(_fx_hours(8))
    source = PrecomputedSource(up_probabilities(np.random.default_rng(3).uniform(0.3, 0.7, len(bars)), bars.index))
    inferred = run_backtest(source, bars, start=bars.index[0])
    given = run_backtest(source, bars, start=bars.index[0], periods_per_year=252)
    assert inferred.params["periods_per_year"] is None and given.params["periods_per_year"] == 252
    assert inferred.benchmark["periods_per_year"] == inferred.stats["periods_per_year"] > 6000
    assert given.benchmark["periods_per_year"] == given.stats["periods_per_year"] == 252
    ratio = math.sqrt(252 / inferred.stats["periods_per_year"])
    for key in ("sharpe", "sortino"):
        assert given.stats[key] == pytest.approx(inferred.stats[key] * ratio, rel=1e-12)
        assert given.benchmark[key] == pytest.approx(inferred.benchmark[key] * ratio, rel=1e-12)
    for key in ("total_return", "cagr", "turnover", "max_drawdown"):
        assert given.stats[key] == pytest.approx(inferred.stats[key], rel=1e-12)


def test_volatility_sizing_annualises_hourly_bars_on_their_clock() -> None:
    """Five weeks into hourly FX bars (6,261 bars a year so far), 0.18%-an-hour moves are 14% a year:
    a 4% target holds about 29% of the equity. 252 bars a year would have called them 2.8% a year and
    bought the whole 95% stake."""
    bars = _random_walk(_fx_hours(8))
    decision = 600
    p_up = [0.5] * decision + [0.6] * (len(bars) - decision)
    result = run_backtest(
        PrecomputedSource(up_probabilities(p_up, bars.index)),
        bars,
        start=bars.index[0],
        cash=CASH,
        commission=0.0,
        slippage=0.0,
        sizing="volatility",
        vol_target=0.04,
    )
    returns = bars["close"].pct_change().iloc[decision - 19 : decision + 1]  # the 20 up to the decision bar
    days = (bars.index[decision] - bars.index[0]) / pd.Timedelta(days=1)
    fraction = 0.04 / (returns.std(ddof=0) * math.sqrt(per_year(decision, days)))
    assert 0.2 < fraction < 0.4 and 0.04 / (returns.std(ddof=0) * math.sqrt(252)) > 0.95
    first = result.fills.iloc[0]
    assert first["time"] == bars.index[decision + 1]
    assert first["size"] == pytest.approx(CASH * fraction / bars["close"].iloc[decision], abs=1.0)  # of 338 units


def test_periods_per_year_must_be_positive() -> None:
    bars = _random_walk(_fx_hours(1))
    source = PrecomputedSource(up_probabilities([0.5] * len(bars), bars.index))
    with pytest.raises(SettingsError, match="periods_per_year: 0, expected > 0"):
        run_backtest(source, bars, start=bars.index[0], periods_per_year=0)
