"""On data with no signal the whole workflow must show chance-level skill out of sample."""

import numpy as np
import pandas as pd
import pytest

from signalstack.models.config import TrainConfig
from signalstack.models.pipeline import train_and_export
from signalstack.plugin.backtest import run_backtest
from signalstack.plugin.sources import OnnxSource


def random_walk_bars(n: int, seed: int) -> pd.DataFrame:
    """Geometric random walk closes with plausible OHLC and volume; returns are i.i.d."""
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0.0002, 0.012, n)))
    open_ = np.r_[100.0, close[:-1]] * np.exp(rng.normal(0, 0.002, n))
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, 0.006, n)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, 0.006, n)))
    volume = rng.lognormal(13, 0.4, n).round()
    index = pd.bdate_range("2000-01-03", periods=n, name="time")
    return pd.DataFrame({"open": open_, "high": high, "low": low, "close": close, "volume": volume}, index=index)


@pytest.mark.slow
def test_random_walk_gives_chance_level_out_of_sample(tmp_path):
    bars = random_walk_bars(3000, seed=11)
    trained = train_and_export(
        bars,
        tmp_path / "rw.onnx",
        window=20,
        params={"hidden": (8, 8)},
        config=TrainConfig(epochs=4, progress=False, seed=3),
    )
    metrics = trained.card.metrics
    assert 0.42 <= metrics["roc_auc"] <= 0.58, metrics
    assert metrics["accuracy"] <= metrics["baseline_accuracy"] + 0.04, metrics
    result = run_backtest(OnnxSource(trained.path), bars)
    assert 0.42 <= result.stats["signal_hit_rate"] <= 0.58, result.stats
