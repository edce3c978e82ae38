"""Where a signal's probabilities come from: an ONNX file in process, a gRPC server, or a table.

Every source answers the same two questions: probabilities for every bar of a series (the
backtest path, one call) and for the last bar of a window (the live path). Sources index their
answers by bar time, so the indicator can align them without caring where they came from.
A model with tensor inputs besides its bars (a two-input net's fundamentals) gets them as
`tensors`, {input name: one row per bar}.
"""

from __future__ import annotations

import logging
import re
from contextlib import AbstractContextManager
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from signalstack.models.card import ModelCard, TensorInfo

log = logging.getLogger(__name__)

Tensors = Mapping[str, np.ndarray]
"""{input name: array with one row per bar of the bars it goes with}."""

_HOST_PORT = re.compile(r"^[\w.\-]+:\d+$|^\[[0-9a-fA-F:]+\]:\d+$")


class SignalSource(Protocol):
    """Probabilities per bar from raw OHLCV bars (the frame `load_bars` returns)."""

    name: str
    """A label for logs and reports."""
    card: ModelCard
    outputs: list[str]
    """Column names of a prediction, every output's side by side: e.g. ['down', 'up'], or
    ['down', 'flat', 'up', 'forecast'] for a multi-task model."""
    tensor_inputs: tuple[TensorInfo, ...]
    """Inputs the caller supplies besides bars (e.g. `fundamentals`), as `tensors`."""
    intraday: bool
    """Whether the model reads day x intraday blocks: bars are intraday bars, scored at each day's close."""

    def predict_series(self, bars: pd.DataFrame, tensors: Tensors | None = None) -> pd.DataFrame:
        """Outputs for every bar with enough history, indexed by bar time; causal."""
        ...

    def predict_last(self, bars: pd.DataFrame, tensors: Tensors | None = None) -> np.ndarray:
        """Outputs for the last bar of `bars` (at least `card.bars_required` rows; an intraday
        model reads every row given, so send whole days)."""
        ...


class OnnxSource:
    """An exported model run in this process by onnxruntime (the server's own runtime)."""

    def __init__(self, path: str | Path) -> None:
        # Imported here so that importing the plugin does not load onnxruntime.
        from signalstack.server.runtime import OnnxModel

        self.model = OnnxModel(path)
        self.name = self.model.name
        self.card = self.model.card
        self.outputs = self.model.columns
        self.tensor_inputs = self.card.tensor_inputs
        self.intraday = self.card.intraday

    def predict_series(self, bars: pd.DataFrame, tensors: Tensors | None = None) -> pd.DataFrame:
        return self.model.predict_series(bars, tensors=tensors)

    def predict_last(self, bars: pd.DataFrame, tensors: Tensors | None = None) -> np.ndarray:
        return self.model.predict_windows([bars], _last_rows(tensors))[0]


class GrpcSource(AbstractContextManager):
    """A model served by a signalstack server; the version is pinned when the source opens.

    Pinning means a model swapped on the server mid-backtest cannot mix two models' answers.
    A series is scored by one PredictSeries call, never one call per bar.
    """

    def __init__(self, target: str, model: str, version: int = 0, *, timeout: float = 60.0, token: str | None = None,
                 root_certificates: bytes | None = None, private_key: bytes | None = None,
                 certificate_chain: bytes | None = None) -> None:
        """`token` is sent as a bearer token; `root_certificates` (PEM of the server's CA) switches
        to TLS, with `private_key` and `certificate_chain` for servers that verify clients."""
        from signalstack.server.client import SignalClient
        from signalstack.server.runtime import joined_columns

        self.target = target
        self.model = model
        security = {"token": token, "root_certificates": root_certificates, "private_key": private_key,
                    "certificate_chain": certificate_chain}
        self.client = SignalClient(target, timeout=timeout, **{k: v for k, v in security.items() if v is not None})
        try:
            info = self.client.get_model(model, version)
        except Exception:
            self.client.close()
            raise
        self.version = int(info.version)
        self.card = ModelCard.from_json(info.card_json)
        self.outputs = joined_columns({o.name: list(o.columns) for o in info.outputs})
        self.tensor_inputs = self.card.tensor_inputs
        self.intraday = self.card.intraday
        self.name = f"{model} v{self.version} @ {target}"
        log.info("signal source %s (%s)", self.name, ", ".join(self.outputs))

    def __exit__(self, *error: object) -> None:
        self.close()

    def close(self) -> None:
        self.client.close()

    def predict_series(self, bars: pd.DataFrame, tensors: Tensors | None = None) -> pd.DataFrame:
        return self.client.predict_series(self.model, bars, self.version, tensors)

    def predict_last(self, bars: pd.DataFrame, tensors: Tensors | None = None) -> np.ndarray:
        return self.client.predict(self.model, [bars], self.version, _last_rows(tensors))[0]


class PrecomputedSource:
    """Probabilities computed elsewhere: a frame indexed by bar time with one column per class.

    Bars the frame has no row for get NaN (no signal). Without a `card`, a minimal one is made
    whose test period is the frame's time span, so a backtest's default start is its first row.
    """

    def __init__(self, frame: pd.DataFrame, *, horizon: int = 1, card: ModelCard | None = None,
                 name: str = "precomputed") -> None:
        if not isinstance(frame.index, pd.DatetimeIndex) or not frame.index.is_monotonic_increasing \
                or not frame.index.is_unique:
            raise ValueError(f"{name}: probabilities need a strictly increasing DatetimeIndex "
                             f"(got {type(frame.index).__name__})")
        if len(frame) == 0:
            raise ValueError(f"{name}: no rows of probabilities")
        self.frame = frame.astype(np.float64)
        self.name = name
        self.outputs = [str(c) for c in frame.columns]
        self.tensor_inputs: tuple[TensorInfo, ...] = ()
        self.intraday = False
        self.card = card or _minimal_card(self.frame, horizon)

    @classmethod
    def from_csv(cls, path: str | Path, *, horizon: int = 1, card: ModelCard | None = None) -> PrecomputedSource:
        """Read a CSV whose first column is the bar time and the others are class probabilities."""
        path = Path(path)
        if not path.is_file():
            raise ValueError(f"{path}: no such file (expected a CSV of time + class probabilities)")
        frame = pd.read_csv(path, index_col=0, parse_dates=True)
        return cls(frame, horizon=horizon, card=card, name=str(path))

    def predict_series(self, bars: pd.DataFrame, tensors: Tensors | None = None) -> pd.DataFrame:
        return self.frame.reindex(bars.index).dropna(how="all")

    def predict_last(self, bars: pd.DataFrame, tensors: Tensors | None = None) -> np.ndarray:
        time = bars.index[-1]
        if time not in self.frame.index:
            raise ValueError(f"{self.name}: no probabilities for bar {time} "
                             f"(have {self.frame.index[0]} .. {self.frame.index[-1]})")
        return self.frame.loc[time].to_numpy()


def _last_rows(tensors: Tensors | None) -> dict[str, np.ndarray]:
    """The tensors of the last bar only: `predict_last` scores that bar alone."""
    return {name: np.asarray(x)[-1:] for name, x in (tensors or {}).items()}


def _minimal_card(frame: pd.DataFrame, horizon: int) -> ModelCard:
    """A card that says what a table of probabilities can: classes, horizon, one bar needed."""
    span = (frame.index[0].isoformat(), frame.index[-1].isoformat())
    empty: Mapping[str, Any] = {}
    return ModelCard(
        architecture="precomputed", params=empty, features={"features": [], "columns": [], "warmup": 0},
        scaler=empty, window=1, label={"kind": "precomputed", "horizon": horizon, "classes": list(frame.columns)},
        inputs=(), outputs=(), train_range=("", ""), val_range=("", ""), test_range=span, embargo=0,
        metrics=empty)


def open_source(spec: str, model: str | None = None, version: int = 0, **security: Any) -> SignalSource:
    """A source from a command-line spec.

    ``grpc://host:port/model``, or ``host:port`` with `model`, is a served model (`security`:
    GrpcSource's token and TLS keywords); a path ending ``.onnx`` is run in process; ``.csv`` is a
    table of precomputed probabilities (or forecasts, or scores).
    """
    served = spec.startswith("grpc://") or _HOST_PORT.match(spec)
    if security and not served:
        raise ValueError(f"signal source {spec!r}: {', '.join(security)} apply to a gRPC server only")
    if spec.startswith("grpc://"):
        target, _, path_model = spec.removeprefix("grpc://").partition("/")
        name = path_model or model
        if not name or not _HOST_PORT.match(target):
            raise ValueError(f"signal source {spec!r}: expected grpc://host:port/model")
        return GrpcSource(target, name, version, **security)
    suffix = Path(spec).suffix.lower()
    if suffix == ".onnx":
        return OnnxSource(spec)
    if suffix == ".csv":
        return PrecomputedSource.from_csv(spec)
    if served:
        if not model:
            raise ValueError(f"signal source {spec!r}: a server address needs a model name")
        return GrpcSource(spec, model, version, **security)
    raise ValueError(f"signal source {spec!r}: expected FILE.onnx, FILE.csv of probabilities, "
                     "grpc://host:port/model, or host:port with a model name")
