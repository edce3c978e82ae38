"""SignalIndicator reads no bar after the one it scores, and has a line for each kind of output."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from signalstack.plugin import OnnxSource, PrecomputedSource

from .support import hand_bars, indicator_lines


@pytest.mark.parametrize("runonce", [True, False])
def test_indicator_ignores_bars_after_t(onnx_source: OnnxSource, sp500: pd.DataFrame, runonce: bool) -> None:
    bars = sp500.iloc[:700]
    t = 600
    perturbed = bars.copy()
    perturbed.iloc[t + 1 :, :4] *= 1.5  # a 50% gap up after t, envelope intact
    perturbed.iloc[t + 1 :, 4] *= 3.0
    before = indicator_lines(onnx_source, bars, runonce=runonce)
    after = indicator_lines(onnx_source, perturbed, runonce=runonce)
    assert np.array_equal(before[: t + 1], after[: t + 1], equal_nan=True)
    assert not np.allclose(before[t + 1 :, 2], after[t + 1 :, 2])  # the change is visible after t


def test_three_class_source_fills_p_flat() -> None:
    bars = hand_bars(4)
    probs = pd.DataFrame(
        {"down": [0.2, 0.3, 0.1, 0.5], "flat": [0.3, 0.3, 0.3, 0.3], "up": [0.5, 0.4, 0.6, 0.2]}, index=bars.index
    )
    lines = indicator_lines(PrecomputedSource(probs.iloc[1:]), bars)
    assert np.isnan(lines[0]).all()
    np.testing.assert_array_equal(lines[1:, :3], probs.iloc[1:].to_numpy())


def test_regressor_and_ranker_fill_their_own_lines() -> None:
    bars = hand_bars(3)
    for output, column in (("forecast", 3), ("score", 4)):
        source = PrecomputedSource(pd.DataFrame({output: [0.01, 0.02, -0.01]}, index=bars.index))
        lines = indicator_lines(source, bars)
        np.testing.assert_array_equal(lines[:, column], [0.01, 0.02, -0.01])
        assert np.isnan(np.delete(lines, column, axis=1)).all()


def test_indicator_refuses_an_output_it_has_no_line_for() -> None:
    bars = hand_bars(3)
    source = PrecomputedSource(pd.DataFrame({"volatility": [0.01, 0.02, 0.03]}, index=bars.index))
    with pytest.raises(
        ValueError,
        match=r"outputs \['volatility'\], expected outputs among down, flat, up, "
        r"forecast, score \(or a path t\+1 \.\. t\+horizon\)",
    ):
        indicator_lines(source, bars)


def test_a_path_regressor_forecasts_its_horizon_on_the_forecast_line() -> None:
    bars = hand_bars(3)
    path = pd.DataFrame(
        {"t+1": [0.01, 0.02, 0.03], "t+2": [0.02, 0.03, 0.04], "t+3": [0.03, -0.01, 0.05]}, index=bars.index
    )
    lines = indicator_lines(PrecomputedSource(path, horizon=3), bars)
    np.testing.assert_array_equal(lines[:, 3], path["t+3"].to_numpy())
    assert np.isnan(np.delete(lines, 3, axis=1)).all()
    with pytest.raises(ValueError, match="expected outputs among"):  # no step is the horizon's
        indicator_lines(PrecomputedSource(path, horizon=5), bars)
