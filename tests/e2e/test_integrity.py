"""Market-data integrity across the pipeline: no look-ahead, no train/serve skew."""

import numpy as np
import pytest

from signalstack.core.features import FeatureSpec
from signalstack.core.labels import LabelSpec
from signalstack.core.model import OnnxModel
from signalstack.models.windows import build_dataset

from ..conftest import TINY_WINDOW


@pytest.fixture(scope="module")
def model(tiny_model):
    return OnnxModel(tiny_model, device="cpu")


@pytest.mark.parametrize("t", [1500, 3000, 4500])
def test_predictions_ignore_future_bars(model, sp500, t):
    """Scrambling every bar after t leaves every prediction at bars <= t unchanged."""
    before = model.predict_series(sp500)
    future = sp500.copy()
    rng = np.random.default_rng(t)
    shock = rng.lognormal(0, 0.2, size=len(future) - t - 1)
    future.iloc[t + 1 :, :4] = future.iloc[t + 1 :, :4].to_numpy() * shock[:, None]
    future.iloc[t + 1 :, 4] = future.iloc[t + 1 :, 4].to_numpy()[::-1]
    after = model.predict_series(future)
    cut = sp500.index[t]
    np.testing.assert_array_equal(before.loc[:cut].to_numpy(), after.loc[:cut].to_numpy())
    assert not np.array_equal(before.loc[cut:].iloc[1:].to_numpy(), after.loc[cut:].iloc[1:].to_numpy())


def test_serve_time_window_features_equal_training_features(model, sp500):
    """A server sees only the last bars_required bars; its features equal the training windows'."""
    dataset = build_dataset(sp500, FeatureSpec.default(), LabelSpec(), window=TINY_WINDOW)
    for part in (dataset.train, dataset.test):
        for i in (0, len(part) // 2, len(part) - 1):
            end = sp500.index.get_loc(part.times[i])
            recent = sp500.iloc[end - model.bars_required + 1 : end + 1]
            np.testing.assert_allclose(model.featurizer.window(recent), part.x[i], rtol=0, atol=1e-6)


def test_window_prediction_equals_series_prediction(model, sp500):
    series = model.predict_series(sp500)
    ends = [model.bars_required - 1, 2500, len(sp500) - 1]
    windows = [sp500.iloc[e - model.bars_required + 1 : e + 1] for e in ends]
    np.testing.assert_allclose(
        model.predict_windows(windows), series.loc[sp500.index[ends]].to_numpy(), rtol=0, atol=1e-6
    )
