"""Tiny real datasets for every builder, made once per session, so each architecture trains in seconds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from signalstack.core.labels import LabelSpec
from signalstack.models.fundamentals import fundamental_dataset
from signalstack.models.images import factor_images
from signalstack.models.intraday import intraday_dataset
from signalstack.models.pairs import rank_pairs
from signalstack.models.windows import Dataset, build_dataset

from ..support import SMALL, walk_bars


def minute_bars(days: int, per_day: int, seed: int = 0) -> pd.DataFrame:
    """A random walk of `per_day` one-minute bars per business day from 09:31."""
    dates = pd.bdate_range("2021-03-01", periods=days)
    index = pd.DatetimeIndex([d + pd.Timedelta(hours=9, minutes=31 + m) for d in dates for m in range(per_day)])
    return walk_bars(index, seed)


def fundamentals_for(bars: pd.DataFrame, columns: int = 4, every: str = "20D", seed: int = 0) -> pd.DataFrame:
    """Random fundamental factors dated every `every` from the first bar."""
    index = pd.date_range(bars.index[0], bars.index[-1], freq=every)
    values = np.random.default_rng(seed).normal(size=(len(index), columns))
    return pd.DataFrame(values, index=index, columns=[f"factor_{i}" for i in range(columns)])


@pytest.fixture(scope="session")
def nasdaq() -> pd.DataFrame:
    from signalstack.core.bars import load_bars

    return load_bars("sample:nasdaq")


@pytest.fixture(scope="session")
def tiny_sets(sp500: pd.DataFrame, nasdaq: pd.DataFrame) -> dict[str, Dataset]:
    """One small dataset per input layout the zoo takes."""
    bars = sp500.iloc[:400]
    minutes = minute_bars(days=30, per_day=24)
    universe = {
        "sp500": sp500.iloc[:300],
        "nasdaq": nasdaq.iloc[:300],
        "sp500_late": sp500.iloc[300:600].set_axis(sp500.index[:300]),
    }
    fundamentals = fundamentals_for(bars)
    return {
        "daily": build_dataset(bars, SMALL, LabelSpec.three_class(5), window=6),
        "regression": build_dataset(bars, SMALL, LabelSpec("regression", 1), window=5),
        "path": build_dataset(bars, SMALL, LabelSpec("path", 3), window=5),
        "intraday": intraday_dataset(minutes, SMALL, LabelSpec(), days=2, bars_per_day=12),
        "one_day": intraday_dataset(minutes, SMALL, LabelSpec(), days=None, bars_per_day=16),
        "images": factor_images({"sp500": bars, "nasdaq": nasdaq.iloc[:400]}, SMALL, LabelSpec.three_class(5), days=8),
        "pairs": rank_pairs(universe, SMALL, horizon=5),
        "two_inputs": fundamental_dataset(bars, fundamentals, SMALL, LabelSpec.three_class(5), 6),
        "multitask": fundamental_dataset(
            bars,
            fundamentals,
            SMALL,
            {"probabilities": LabelSpec.three_class(5), "forecast": LabelSpec("regression", 5)},
            6,
        ),
    }
