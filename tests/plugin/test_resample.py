"""SignalIndicator on bars Backtrader resamples or replays from intraday data (../shared/data)."""

from __future__ import annotations

import backtrader as bt
import numpy as np
import pandas as pd
import pytest

from signalstack.core.bars import load_bars
from signalstack.plugin import OnnxSource, PrecomputedSource, SignalIndicator, SignalSource, bars_feed
from signalstack.plugin.feeds import data_bars

from ..support import shared_csv

OHLCV = {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}


class _Watch(bt.Strategy):
    params = (("source", None),)

    def __init__(self) -> None:
        self.signal = SignalIndicator(self.data, source=self.p.source)


def _run(bars: pd.DataFrame, source: SignalSource, how: str, minutes: int | None, preload: bool = True) -> _Watch:
    """Cerebro over `bars` resampled or replayed to `minutes` bars (days when None)."""
    cerebro = bt.Cerebro(stdstats=False, preload=preload, runonce=preload)
    frame = (
        {"timeframe": bt.TimeFrame.Minutes, "compression": minutes}
        if minutes
        else {"timeframe": bt.TimeFrame.Days, "compression": 1}
    )
    getattr(cerebro, f"{how}data")(bars_feed(bars), **frame)
    cerebro.addstrategy(_Watch, source=source)
    return cerebro.run()[0]


@pytest.fixture(scope="module")
def five_minute() -> pd.DataFrame:
    return load_bars(shared_csv("2006-min-005.csv"))


@pytest.mark.parametrize("how, preload", [("resample", True), ("resample", False), ("replay", True)])
def test_daily_bars_from_five_minute_bars_carry_the_session_close_signal(
    five_minute: pd.DataFrame, how: str, preload: bool
) -> None:
    """Each day's bar is stamped at the session close (17:30), so a table keyed by intraday times
    gives it the close's value; replayed days are rescored as they fill and end the same."""
    p_up = pd.DataFrame({"up": np.linspace(0.1, 0.9, len(five_minute))}, index=five_minute.index)
    run = _run(five_minute, PrecomputedSource(p_up), how, None, preload)
    daily = five_minute.groupby(five_minute.index.date).agg(OHLCV)
    bars = data_bars(run.data)
    assert list(bars.index.time) == [pd.Timestamp("17:30").time()] * len(daily)
    np.testing.assert_allclose(bars[["open", "high", "low", "close"]], daily[["open", "high", "low", "close"]])
    closes = five_minute.groupby(five_minute.index.date).tail(1)
    np.testing.assert_array_equal(run.signal.probabilities()["up"], p_up.loc[closes.index, "up"])


def test_a_model_scores_resampled_bars_like_the_same_bars_given_whole(onnx_source: OnnxSource) -> None:
    minutes = load_bars(shared_csv("2006-01-02-volume-min-001.csv")).iloc[:15_000]
    batched = _run(minutes, onnx_source, "resample", 30)
    bars = data_bars(batched.data)
    expected = onnx_source.predict_series(bars)
    assert len(bars) > onnx_source.card.bars_required + 50 and bars.index[0] == pd.Timestamp("2006-01-02 09:30")
    lines = batched.signal.probabilities()
    np.testing.assert_array_equal(lines.loc[expected.index].to_numpy(), expected.to_numpy(np.float64))
    live = _run(minutes, onnx_source, "resample", 30, preload=False).signal.probabilities()
    np.testing.assert_allclose(live, lines, rtol=0, atol=1e-6)
