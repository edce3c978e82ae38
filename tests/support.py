"""Helpers for tests: real data files, free loopback ports, a real server over a model folder, quick features."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from signalstack.core.features import Feature, FeatureSpec

SMALL = FeatureSpec((Feature("ret", {"n": 1}), Feature("ma_ratio", {"n": 3}), Feature("rsi", {"n": 5})))
"""Three quick features with a short warm-up."""

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def shared_csv(name: str) -> Path:
    """A file of ../shared/data, or skip the test with the reason when the folder is absent."""
    path = SHARED_DATA / name
    if not path.is_file():
        pytest.skip(f"{path} not present: ../shared/data comes with the team checkout, not a fresh clone")
    return path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serving(models: Path) -> Iterator[str]:
    """host:port of a real signalstack server on 127.0.0.1 over the model folder `models`, stopped on exit."""
    from signalstack.server.app import SignalServer
    from signalstack.server.options import ServeOptions

    with SignalServer(ServeOptions(models, port=free_port(), grace=0)) as server:
        yield server.address


def walk_bars(index: pd.DatetimeIndex, seed: int) -> pd.DataFrame:
    """OHLCV bars at `index`'s times from a random walk: each opens at the previous close, high and low a
    small spread beyond the body (intraday-sized moves: 0.1% a bar)."""
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.001, len(index))))
    open_ = np.r_[100.0, close[:-1]]
    spread = np.abs(rng.normal(0, 0.0005, len(index)))
    return pd.DataFrame({"open": open_, "high": np.maximum(open_, close) * (1 + spread),
                         "low": np.minimum(open_, close) * (1 - spread), "close": close,
                         "volume": rng.integers(100, 1000, len(index)).astype(float)}, index=index.rename("time"))

