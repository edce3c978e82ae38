"""SignalIndicator reads no bar after the one it scores, and refuses sources it cannot chart."""

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
    perturbed.iloc[t + 1:, :4] *= 1.5  # a 50% gap up after t, envelope intact
    perturbed.iloc[t + 1:, 4] *= 3.0
    before = indicator_lines(onnx_source, bars, runonce=runonce)
    after = indicator_lines(onnx_source, perturbed, runonce=runonce)
    assert np.array_equal(before[:t + 1], after[:t + 1], equal_nan=True)
    assert not np.allclose(before[t + 1:, 2], after[t + 1:, 2])  # the change is visible after t


def test_three_class_source_fills_p_flat() -> None:
    bars = hand_bars(4)
    probs = pd.DataFrame({"down": [0.2, 0.3, 0.1, 0.5], "flat": [0.3, 0.3, 0.3, 0.3],
                          "up": [0.5, 0.4, 0.6, 0.2]}, index=bars.index)
    lines = indicator_lines(PrecomputedSource(probs.iloc[1:]), bars)
    assert np.isnan(lines[0]).all()
    np.testing.assert_array_equal(lines[1:], probs.iloc[1:].to_numpy())


def test_indicator_refuses_a_regressor() -> None:
    bars = hand_bars(3)
    source = PrecomputedSource(pd.DataFrame({"forecast": [0.01, 0.02, -0.01]}, index=bars.index))
    with pytest.raises(ValueError, match=r"outputs \['forecast'\], expected classes among down, flat, up"):
        indicator_lines(source, bars)
