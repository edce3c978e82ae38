"""A regression model's forecast line, from a real exported regressor, traded and judged."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from signalstack.plugin import OnnxSource, run_backtest

from .support import indicator_lines

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def regressor(sp500: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> OnnxSource:
    """A one-layer LSTM forecasting the 5-bar return, trained for one epoch on 1,500 bars."""
    from signalstack.core.labels import LabelSpec
    from signalstack.models.config import TrainConfig
    from signalstack.models.pipeline import train_and_export

    out = tmp_path_factory.mktemp("regressor") / "forecast.onnx"
    train_and_export(
        sp500.iloc[:1500],
        out,
        labels=LabelSpec("regression", 5),
        window=10,
        params={"hidden": (4,), "dropout": 0.0},
        config=TrainConfig(epochs=1, progress=False),
    )
    return OnnxSource(Path(out))


def test_forecast_line_carries_the_regressors_output(regressor: OnnxSource, sp500: pd.DataFrame) -> None:
    bars = sp500.iloc[:1500]
    lines = indicator_lines(regressor, bars)
    expected = regressor.predict_series(bars)
    first = regressor.card.bars_required - 1
    assert regressor.columns == ["forecast"]
    np.testing.assert_array_equal(lines[first:, 3], expected["forecast"].to_numpy(np.float64))
    assert np.isnan(lines[:, [0, 1, 2, 4]]).all()


def test_a_regressor_backtests_on_its_forecast(regressor: OnnxSource, sp500: pd.DataFrame) -> None:
    bars = sp500.iloc[:1500]
    median = float(regressor.predict_series(bars)["forecast"].median())
    result = run_backtest(regressor, bars, line="forecast", buy_threshold=median, sell_threshold=median)
    assert result.params["horizon"] == 5 and len(result.fills) > 0
    assert list(result.probabilities.columns) == ["forecast"] and result.calibration.empty
    assert np.isfinite(result.quality[["hit_rate", "ic_pearson", "ic_spearman"]]).all()
