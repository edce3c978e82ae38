"""Helpers for tests: real data files, free loopback ports, a real server over a model folder, quick features,
random-walk bars, handmade model files and headless Chromium for HTML pages."""

from __future__ import annotations

import shutil
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import onnx
import pandas as pd
import pytest
from onnx import TensorProto, helper, numpy_helper

from signalstack.core.card import METADATA_KEY, ModelCard, TensorInfo
from signalstack.core.features import Feature, FeatureSpec, feature_matrix
from signalstack.core.labels import LabelSpec
from signalstack.core.scaler import Scaler

SMALL = FeatureSpec((Feature("ret", {"n": 1}), Feature("ma_ratio", {"n": 3}), Feature("rsi", {"n": 5})))
"""Three quick features with a short warm-up."""

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def shared_csv(name: str) -> Path:
    """A file of ../shared/data, or skip the test with the reason when the folder is absent."""
    path = SHARED_DATA / name
    if not path.is_file():
        pytest.skip(f"{path} not present: ../shared/data comes with the team checkout, not a fresh clone")
    return path


CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--enable-logging=stderr",
    "--v=0",
    "--window-size=1200,2000",
)
"""Headless Chromium fetching nothing in the background, its console on stderr."""


def chromium() -> str:
    """The Chromium executable, or a skip saying how to install it."""
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    pytest.skip(
        "no chromium on PATH: install the Debian/Ubuntu package `chromium` "
        "(apt-get install -y chromium) to render HTML pages"
    )


def offline_chromium(profile: Path, *flags: str) -> list[str]:
    """Headless Chromium's command line with no host name resolving, so that anything a page tried to fetch from
    outside the machine fails to load; `profile` is its user data folder (skips without Chromium)."""
    return [
        chromium(),
        *CHROMIUM_FLAGS,
        "--host-resolver-rules=MAP * ~NOTFOUND",
        f"--user-data-dir={profile}",
        "--hide-scrollbars",
        *flags,
    ]


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
    return pd.DataFrame(
        {
            "open": open_,
            "high": np.maximum(open_, close) * (1 + spread),
            "low": np.minimum(open_, close) * (1 - spread),
            "close": close,
            "volume": rng.integers(100, 1000, len(index)).astype(float),
        },
        index=index.rename("time"),
    )


def walk_with_flat_volume(n: int, seed: int, start: str = "2001-01-01") -> pd.DataFrame:
    """`n` business days of a seeded random walk, with a flat run of volume (zero deviations, zero-range
    ratios) a third of the way in."""
    rng = np.random.default_rng(seed)
    close = 50.0 * np.exp(np.cumsum(rng.normal(0.0, 0.015, n)))
    open_ = np.r_[50.0, close[:-1]] * np.exp(rng.normal(0.0, 0.004, n))
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0.0, 0.006, n)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0.0, 0.006, n)))
    volume = rng.lognormal(12.0, 0.4, n)
    volume[n // 3 : n // 3 + 30] = 1000.0  # a flat run: zero standard deviation, zero-range ratios
    return pd.DataFrame(
        {"open": open_, "high": high, "low": low, "close": close, "volume": volume},
        index=pd.bdate_range(start, periods=n, name="time"),
    )


def handmade_model(
    path: Path, spec: FeatureSpec, window: int, *, flat: bool = False, seed: int = 0, forecast: bool = False
) -> Path:
    """A model file with `spec`'s features: a scaler fitted on a random walk, a tanh layer and a softmax
    over down/up, with a card; `forecast`: a second output, a linear "forecast" of the same layer.

    Built with onnx's helper, so every feature kind is tested without training; `flat`: the input is
    the newest feature row alone (a 1-D bars input of window 1).
    """
    rng = np.random.default_rng(seed)
    width = len(spec.columns)
    shape = (width,) if flat else (window, width)
    scaler = Scaler.fit(feature_matrix(walk_with_flat_volume(spec.warmup + 500, seed=seed + 100), spec)[spec.warmup :])
    weights = {
        "mean": scaler.mean,
        "std": scaler.std,
        "flat_shape": np.array([-1, window * width], dtype=np.int64),
        "w1": rng.normal(0.0, 1.0 / np.sqrt(window * width), (window * width, 16)).astype(np.float32),
        "w2": rng.normal(0.0, 1.0, (16, 2)).astype(np.float32),
        "w3": rng.normal(0.0, 0.01, (16, 1)).astype(np.float32),
    }
    nodes = [
        helper.make_node("Sub", ["features", "mean"], ["centred"]),
        helper.make_node("Div", ["centred", "std"], ["scaled"]),
        helper.make_node("Reshape", ["scaled", "flat_shape"], ["flat"]),
        helper.make_node("MatMul", ["flat", "w1"], ["hidden"]),
        helper.make_node("Tanh", ["hidden"], ["active"]),
        helper.make_node("MatMul", ["active", "w2"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=-1),
    ]
    outputs = [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 2])]
    described = [TensorInfo("probabilities", (2,), columns=("down", "up"))]
    if forecast:
        nodes.append(helper.make_node("MatMul", ["active", "w3"], ["forecast"]))
        outputs.append(helper.make_tensor_value_info("forecast", TensorProto.FLOAT, ["N", 1]))
        described.append(TensorInfo("forecast", (1,), columns=("forecast",)))
    else:
        del weights["w3"]
    graph = helper.make_graph(
        nodes,
        "handmade",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", *shape])],
        outputs,
        [numpy_helper.from_array(v, k) for k, v in weights.items()],
    )
    card = ModelCard(
        architecture="handmade",
        params={},
        features=spec,
        scalers={"features": scaler},
        window=window,
        label=LabelSpec("binary", 1),
        inputs=(TensorInfo("features", shape, columns=tuple(spec.columns), origin="bars"),),
        outputs=tuple(described),
        train_range=("2001-01-01", "2002-01-01"),
        val_range=("2002-01-02", "2002-06-01"),
        test_range=("2002-06-02", "2010-01-01"),
        embargo=1,
        metrics={},
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    helper.set_model_props(model, {METADATA_KEY: card.to_json()})
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path
