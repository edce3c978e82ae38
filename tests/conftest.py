"""Shared fixtures: real data, a tiny real model trained once per session, a real gRPC server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from signalstack.core.bars import load_bars

from .support import serving

TINY_PARAMS = {"hidden": (8, 8), "dropout": 0.1}
TINY_WINDOW = 20


@pytest.fixture(scope="session")
def sp500() -> pd.DataFrame:
    return load_bars("sample:sp500")


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory, sp500: pd.DataFrame) -> Path:
    """A binary LSTM (8 -> 8, window 20) trained for two epochs on the S&P 500 sample, exported."""
    from signalstack.models.config import TrainConfig
    from signalstack.models.pipeline import train_and_export

    out = tmp_path_factory.mktemp("models") / "tiny.onnx"
    train_and_export(
        sp500,
        out,
        window=TINY_WINDOW,
        params=TINY_PARAMS,
        config=TrainConfig(epochs=2, progress=False),
        data_source="sample:sp500",
    )
    return out


@pytest.fixture(scope="session")
def model_dir(tiny_model: Path) -> Path:
    """A model repository folder holding the tiny model as `tiny.onnx`."""
    return tiny_model.parent


@pytest.fixture(scope="session")
def grpc_target(model_dir: Path) -> Iterator[str]:
    """host:port of a real signalstack server on 127.0.0.1 serving `model_dir`."""
    with serving(model_dir) as target:
        yield target
