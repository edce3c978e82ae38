"""Paper-trading fixtures: a quick model trained once, a replay file, thresholds that trade, the CLI."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from .support import BARS, QUICK, START_BAR


@pytest.fixture(scope="session")
def paper_model(tmp_path_factory: pytest.TempPathFactory, sp500: pd.DataFrame) -> Path:
    """A binary LSTM (8 units, window 10) trained for one epoch on the S&P 500 sample's last 1000 bars."""
    from signalstack.models.config import TrainConfig
    from signalstack.models.pipeline import train_and_export

    out = tmp_path_factory.mktemp("paper_model") / "quick.onnx"
    train_and_export(
        sp500.iloc[-1000:],
        out,
        window=10,
        features=QUICK,
        params={"hidden": (8,), "dropout": 0.1},
        config=TrainConfig(epochs=1, progress=False),
        data_source="sample:sp500",
    )
    return out


@pytest.fixture(scope="session")
def replay_bars(sp500: pd.DataFrame) -> pd.DataFrame:
    """The replay file's bars: the sample's last BARS, inside the model's test period from START_BAR on."""
    return sp500.iloc[-BARS:]


@pytest.fixture(scope="session")
def replay_csv(tmp_path_factory: pytest.TempPathFactory, replay_bars: pd.DataFrame) -> Path:
    path = tmp_path_factory.mktemp("paper_feed") / "spx.csv"
    replay_bars.to_csv(path)
    return path


@pytest.fixture(scope="session")
def start(replay_bars: pd.DataFrame) -> str:
    """The first traded bar's date (the feeds' `start` and the backtest's `--start`)."""
    return replay_bars.index[START_BAR].date().isoformat()


@pytest.fixture(scope="session")
def thresholds(paper_model: Path, replay_bars: pd.DataFrame, start: str) -> dict[str, float]:
    """Buy and sell thresholds at the 60% and 40% quantiles of the model's p_up over the traded bars,
    so that a barely trained model still trades often."""
    from signalstack.plugin.sources import OnnxSource

    p_up = OnnxSource(paper_model).predict_series(replay_bars)["up"].loc[start:]
    return {"buy_threshold": round(float(p_up.quantile(0.6)), 6), "sell_threshold": round(float(p_up.quantile(0.4)), 6)}


@pytest.fixture
def journal_dir(tmp_path: Path) -> Iterator[Path]:
    """A folder for journals. On tmpfs when there is one: SIGKILL loses no page cache, so these tests do
    not need the fsync of every event (~3 ms each on a disk); the durability itself is SQLite's."""
    shm = Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK)):
        yield tmp_path
        return
    folder = Path(tempfile.mkdtemp(prefix="paper-", dir=shm))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)
