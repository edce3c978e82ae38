"""SignalStrategy's sizing, stops, holding period and margin, and RankingStrategy, on hand-made series.

Every decision is on a bar's close and fills at the next bar's open; the tests name each fill.
"""

from __future__ import annotations

import logging
import math

import backtrader as bt
import numpy as np
import pandas as pd
import pytest

from signalstack.core.errors import SettingsError
from signalstack.plugin import PrecomputedSource, RankingStrategy, SignalStrategy, bars_feed, run_backtest
from signalstack.plugin.stats import per_year

from .support import bars_from, hand_bars, up_probabilities

HAND = hand_bars(12)


def _fills(bars: pd.DataFrame, p_up: list[float], horizon: int = 1, **params: object) -> pd.DataFrame:
    source = PrecomputedSource(up_probabilities(p_up, bars.index), horizon=horizon)
    return run_backtest(source, bars, start=bars.index[0], cash=10_000.0, commission=0.0, slippage=0.0, **params).fills


def _at_opens(bars: pd.DataFrame, fills: pd.DataFrame, bar_numbers: list[int]) -> None:
    """The fills are at the opens of these bars, in order."""
    assert list(fills["time"]) == list(bars.index[bar_numbers])
    np.testing.assert_allclose(fills["price"], bars["open"].iloc[bar_numbers].to_numpy())


def test_fixed_sizing_trades_the_stake_in_units() -> None:
    fills = _fills(
        HAND, [0.6, 0.6, 0.3, 0.5, 0.6, 0.5, 0.5, 0.2, 0.5, 0.5, 0.5, 0.5], sizing="fixed", stake=7, allow_short=True
    )
    _at_opens(HAND, fills, [1, 3, 5, 8])
    assert list(fills["size"]) == [7, -14, 14, -14]


def test_volatility_sizing_targets_the_annualised_volatility() -> None:
    bars = hand_bars(40)
    p_up = [0.5] * 29 + [0.6] * 11
    fills = _fills(bars, p_up, sizing="volatility", vol_target=0.05, vol_window=20)
    returns = bars["close"].pct_change().iloc[10:30]  # the 20 returns up to the decision bar 29
    # Annualised on the bars' own clock up to the decision: 29 intervals over the calendar days they span.
    volatility = returns.std(ddof=0) * math.sqrt(per_year(29, (bars.index[29] - bars.index[0]).days))
    fraction = 0.05 / volatility
    assert 0.1 < fraction < 0.95  # the target, not the stake cap, decides here
    _at_opens(bars, fills, [30])
    assert fills["size"].iloc[0] == (10_000.0 * fraction) // bars["close"].iloc[29]


def test_volatility_sizing_never_exceeds_the_stake() -> None:
    bars = hand_bars(40)
    fills = _fills(bars, [0.5] * 29 + [0.6] * 11, sizing="volatility", vol_target=5.0, stake=0.5)
    assert fills["size"].iloc[0] == (10_000.0 * 0.5) // bars["close"].iloc[29]


# Entry 100 at bar 1; close 94 at bar 3 is 6% down (stop); no re-entry while p_up stays high;
# p_up 0.5 at bar 5 releases it, bar 6 buys at 97; close 103 at bar 7 is 6.2% up (take profit).
STOPS = bars_from(
    opens=[100, 100, 99, 96, 94.5, 95, 96, 97, 103, 104], closes=[100, 99, 96, 94, 95, 96, 97, 103, 104, 104]
)
STOPS_P_UP = [0.6, 0.6, 0.6, 0.6, 0.6, 0.5, 0.6, 0.6, 0.6, 0.4]


def test_stop_loss_and_take_profit_exit_at_the_next_open() -> None:
    fills = _fills(STOPS, STOPS_P_UP, stop_loss=0.05, take_profit=0.05)
    _at_opens(STOPS, fills, [1, 4, 7, 8])
    assert list(fills["side"]) == ["buy", "sell", "buy", "sell"]


def test_without_stops_the_signal_alone_exits() -> None:
    fills = _fills(STOPS, STOPS_P_UP)
    _at_opens(STOPS, fills, [1])


def test_short_stop_loss_is_a_rise() -> None:
    bars = bars_from(opens=[100, 100, 101, 104, 103, 102], closes=[100, 101, 106, 103, 102, 101])
    fills = _fills(bars, [0.4] * 6, allow_short=True, stop_loss=0.05)
    _at_opens(bars, fills, [1, 3])
    assert list(fills["size"] > 0) == [False, True]


HOLD_P_UP = [0.6, 0.3, 0.3, 0.3, 0.6, 0.6, 0.6, 0.5, 0.5, 0.5, 0.3, 0.3]


def test_holding_period_ignores_the_signal_until_it_ends() -> None:
    # Held from bar 1's open for 3 bars: the exit is decided on bar 3's close, not bar 1's.
    _at_opens(HAND, _fills(HAND, HOLD_P_UP, hold=3), [1, 4, 5, 8])
    _at_opens(HAND, _fills(HAND, HOLD_P_UP), [1, 2, 5, 11])


def test_holding_period_renews_while_the_signal_agrees() -> None:
    p_up = list(HOLD_P_UP)
    p_up[7] = 0.6  # at the end of the second hold the signal still says long: hold 3 more bars
    _at_opens(HAND, _fills(HAND, p_up, hold=3), [1, 4, 5, 11])


def test_holding_period_can_follow_the_models_horizon() -> None:
    _at_opens(HAND, _fills(HAND, HOLD_P_UP, horizon=3, hold="horizon"), [1, 4, 5, 8])


def test_min_margin_skips_unsure_bars() -> None:
    p_up = [0.6, 0.7, 0.6, 0.4, 0.3, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]
    _at_opens(HAND, _fills(HAND, p_up, min_margin=0.3), [2, 5])
    _at_opens(HAND, _fills(HAND, p_up), [1, 4])


def test_order_notifications_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="signalstack.plugin"):
        _fills(HAND, [0.6] + [0.5] * 11)
    messages = [r.getMessage() for r in caplog.records if r.name == "signalstack.plugin.ledger"]
    assert any("buy order of" in m and "submitted" in m for m in messages)
    assert any("buy order of" in m and "accepted" in m for m in messages)
    assert any(f"{HAND.index[1].date()} buy" in m for m in messages)


@pytest.mark.parametrize(
    "params, message",
    [
        ({"sizing": "kelly"}, "sizing: 'kelly', expected one of 'percent', 'fixed', 'volatility'"),
        ({"stop_loss": -0.1}, "stop_loss: -0.1, expected > 0"),
        ({"hold": "week"}, "hold: 'week', expected an integer or 'horizon'"),
        ({"line": "forecast"}, "line 'forecast': precomputed outputs \\['down', 'up'\\]"),
        ({"trailing": 0.1}, "trailing: unknown key \\(expected one of line, buy_threshold, "),
        ({"buy_treshold": 0.6}, "buy_treshold: unknown key \\(did you mean 'buy_threshold'\\?"),
    ],
)
def test_bad_parameters_are_named(params: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _fills(HAND, [0.5] * 12, **params)


def test_the_strategy_checks_its_parameters_by_the_trading_settings_rules() -> None:
    """SignalStrategy made directly (not through run_backtest) refuses what TradingSettings refuses, in its words,
    and trades on the checked values."""
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(bars_feed(HAND))
    cerebro.addstrategy(SignalStrategy, source=PrecomputedSource(up_probabilities([0.5] * 12, HAND.index)), stake=2)
    with pytest.raises(SettingsError, match=r"^TradingSettings: stake 2.0 with percent sizing: expected a fraction "):
        cerebro.run()
    with pytest.raises(SettingsError, match=r"^TradingSettings: stake 2.0 with percent sizing: expected a fraction "):
        _fills(HAND, [0.5] * 12, stake=2)
    assert list(_fills(HAND, [0.6] + [0.5] * 11, sizing="fixed", stake="7")["size"]) == [7.0]


def test_a_regressor_trades_on_its_forecast() -> None:
    forecast = pd.DataFrame({"forecast": [0.02, 0.0, -0.03, 0.0] * 3}, index=HAND.index)
    result = run_backtest(
        PrecomputedSource(forecast),
        HAND,
        start=HAND.index[0],
        cash=10_000.0,
        commission=0.0,
        slippage=0.0,
        line="forecast",
        buy_threshold=0.01,
        sell_threshold=-0.01,
    )
    _at_opens(HAND, result.fills, [1, 3, 5, 7, 9, 11])
    assert result.calibration.empty and result.quality["n"] == 11


# RankingStrategy: four symbols, scores constant over each 3-bar rebalance period.
SCORES = {  # symbol: score in periods starting at bars 0, 3, 6, 9
    "a": [0.9, 0.1, 0.5, np.nan],
    "b": [0.8, 0.7, np.nan, np.nan],
    "c": [0.1, 0.9, 0.6, np.nan],
    "d": [0.2, 0.3, 0.4, 0.5],
}
HELD_AFTER = [{"a", "b"}, {"b", "c"}, {"a", "c"}, {"d"}]


def test_ranking_holds_the_top_k_each_rebalance() -> None:
    scale = {"a": 1.0, "b": 2.0, "c": 0.5, "d": 3.0}
    universe = {name: hand_bars(12) * scale[name] for name in SCORES}
    sources = {
        name: PrecomputedSource(pd.DataFrame({"score": np.repeat(SCORES[name], 3)}, index=universe[name].index))
        for name in SCORES
    }
    cerebro = bt.Cerebro(stdstats=False)
    for name, bars in universe.items():
        cerebro.adddata(bars_feed(bars, name))
    cerebro.broker.setcash(100_000.0)
    cerebro.addstrategy(RankingStrategy, source=sources, top_k=2, rebalance=3, stake=0.9)
    fills = cerebro.run()[0].fill_frame()

    index = HAND.index
    assert set(fills["time"]) == {index[1], index[4], index[7], index[10]}  # the open after each rebalance
    for _, fill in fills.iterrows():
        assert fill["price"] == pytest.approx(universe[fill["symbol"]].loc[fill["time"], "open"])
    held: dict[str, float] = {}
    for period, time in enumerate([index[1], index[4], index[7], index[10]]):
        for _, fill in fills.loc[fills["time"] == time].iterrows():
            held[fill["symbol"]] = held.get(fill["symbol"], 0.0) + fill["size"]
        assert {name for name, size in held.items() if size} == HELD_AFTER[period]
        sells = fills.loc[(fills["time"] == time) & (fills["side"] == "sell")].index
        buys = fills.loc[(fills["time"] == time) & (fills["side"] == "buy")].index
        assert sells.max() < buys.min() if len(sells) and len(buys) else True  # sells first, freeing cash
    first = fills.loc[fills["time"] == index[1]].set_index("symbol")["size"]
    for name in ("a", "b"):  # 45% of equity each, sized at the rebalance close
        assert first[name] == (100_000.0 * 0.45) // universe[name]["close"].iloc[0]
