"""Bars the research tests make: a random walk, or returns with a planted AR(1) dependence, and tiny experiments."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from ..support import SMALL

TINY = {
    "features": {"features": [{"kind": f.kind, "params": dict(f.params)} for f in SMALL.features]},
    "labels": {"kind": "binary", "horizon": 1},
    "model": {"name": "lstm", "params": {"hidden": [4], "dropout": 0.0, "cell_dropout": 0.0}},
    "window": 10,
    "train": {"epochs": 2, "lr": 0.01, "batch_size": 64},
    "walk_forward": {"train": 400, "test": 300},
    "seeds": 1,
    "baselines": ["majority"],
    "export": False,
}
"""An experiment that runs in seconds: three quick features, a 4-unit LSTM, two epochs (add `data`)."""


def ar1_bars(n: int, phi: float, seed: int) -> pd.DataFrame:
    """Daily bars whose log returns follow r[t] = phi * r[t-1] + noise (phi 0: a geometric random walk).

    Opens, highs, lows and volumes are drawn independently of the returns, so with phi = 0 nothing
    about a bar tells anything about the next one.
    """
    rng = np.random.default_rng(seed)
    noise = rng.normal(0.0, 0.01, n)
    returns = np.empty(n)
    returns[0] = noise[0]
    for t in range(1, n):
        returns[t] = phi * returns[t - 1] + noise[t]
    close = 100 * np.exp(np.cumsum(returns))
    open_ = np.r_[100.0, close[:-1]] * np.exp(rng.normal(0, 0.002, n))
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, 0.004, n)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, 0.004, n)))
    volume = rng.lognormal(13, 0.3, n).round()
    index = pd.bdate_range("2001-01-01", periods=n, name="time")
    return pd.DataFrame({"open": open_, "high": high, "low": low, "close": close, "volume": volume}, index=index)


def write_experiment(folder: Path, bars: pd.DataFrame, **changes: Any) -> Path:
    """bars.csv and exp.yaml (TINY with `changes`, top-level keys replaced) in `folder`; the experiment's path."""
    folder.mkdir(parents=True, exist_ok=True)
    bars.to_csv(folder / "bars.csv")
    doc = {"data": {"path": "bars.csv"}, **TINY, **changes}
    path = folder / "exp.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path
