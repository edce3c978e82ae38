"""SignalStrategy decides on a bar's close and fills at the next bar's open, nothing earlier."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from signalstack.plugin import PrecomputedSource, run_backtest

from .support import hand_bars

BARS = hand_bars(12)
# p_up per bar; NaN is no signal. With buy >= 0.55 and sell <= 0.45 the long-only decisions are:
# bar 1 buy, 3 sell, 5 buy, 7 sell, 8 buy, 9 sell, 11 buy (no bar 12 to fill it).
P_UP = np.array([np.nan, 0.6, 0.6, 0.4, 0.5, 0.7, 0.5, 0.3, 0.6, 0.2, 0.5, 0.9])
DECISIONS = [1, 3, 5, 7, 8, 9]


def _backtest(start_bar: int = 0, **kwargs: object):
    probs = pd.DataFrame({"down": 1.0 - P_UP, "up": P_UP}, index=BARS.index)
    return run_backtest(
        PrecomputedSource(probs),
        BARS,
        start=BARS.index[start_bar],
        cash=10_000.0,
        commission=0.0,
        slippage=0.0,
        **kwargs,
    )


def _expected(decisions: list[int]) -> pd.DataFrame:
    fills = BARS.iloc[[d + 1 for d in decisions]]
    return pd.DataFrame({"time": fills.index, "price": fills["open"].to_numpy()})


def test_every_fill_is_at_the_next_bars_open() -> None:
    fills = _backtest().fills
    pd.testing.assert_frame_equal(fills[["time", "price"]], _expected(DECISIONS), check_names=False)
    assert list(fills["side"]) == ["buy", "sell"] * 3
    position = fills["size"].cumsum()
    assert list(position > 0) == [True, False] * 3 and list(position >= 0) == [True] * 6


def test_trades_go_long_then_flat_at_the_fill_prices() -> None:
    result = _backtest()
    trades, fills = result.trades, result.fills
    assert list(trades["direction"]) == ["long"] * 3
    assert list(trades["entry_time"]) == list(fills["time"][::2])
    assert list(trades["exit_time"]) == list(fills["time"][1::2])
    np.testing.assert_allclose(trades["exit_price"], fills["price"][1::2].to_numpy())
    np.testing.assert_allclose(trades["pnl"], trades["size"] * (trades["exit_price"] - trades["entry_price"]))
    assert result.equity["strategy"].iloc[-1] == pytest.approx(10_000.0 + trades["pnl"].sum())


def test_stake_sizes_by_equity_at_the_decision_close() -> None:
    fills = _backtest(stake=0.5).fills
    assert fills["size"].iloc[0] == int(0.5 * 10_000.0 // BARS["close"].iloc[1])


def test_no_decision_before_start() -> None:
    fills = _backtest(start_bar=4).fills
    pd.testing.assert_frame_equal(fills[["time", "price"]], _expected([5, 7, 8, 9]), check_names=False)


def test_short_side_flips_at_the_next_open() -> None:
    result = _backtest(allow_short=True)
    fills, trades = result.fills, result.trades
    pd.testing.assert_frame_equal(fills[["time", "price"]], _expected(DECISIONS), check_names=False)
    position = fills["size"].cumsum()
    assert list(np.sign(position)) == [1, -1] * 3
    assert list(trades["direction"]) == ["long", "short"] * 3
    last = trades.iloc[-1]
    assert pd.isna(last["exit_time"]) and last["entry_time"] == BARS.index[10]
    short = trades.iloc[1]
    assert short["pnl"] == pytest.approx(short["size"] * (short["entry_price"] - short["exit_price"]))
