"""An exported model in onnxruntime: raw bars in, probabilities out.

The one implementation of "bars -> features -> model" used at serve time, by the gRPC service
and by the Backtrader plugin in process, so both give the same numbers. Imports no torch.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pandas as pd

from signalstack.models.card import METADATA_KEY, ModelCard
from signalstack.models.data import COLUMNS, BarsError, check_values
from signalstack.models.features import feature_matrix

log = logging.getLogger(__name__)

BATCH = 4096
"""Windows per onnxruntime call when predicting a long series: bounds the memory of one call."""

Bars = Mapping[str, Any]
"""Anything with open/high/low/close/volume columns: a DataFrame or a dict of 1-D arrays."""


class InvalidInput(ValueError):
    """A request the model cannot answer; the message says what was wrong and what was expected."""


class LimitExceeded(ValueError):
    """A request over one of the server's limits; the message names the limit."""


# Whether a CUDA session could be created in this process; None until the first model tries.
# onnxruntime-gpu on a machine without CUDA prints a load error per attempt: try once only.
_cuda_works: bool | None = None


def choose_providers(preferred: Sequence[str] | None = None) -> list[str]:
    """CUDA first when this onnxruntime build has it and it has not failed here, CPU always last."""
    if preferred:
        return list(preferred)
    cuda = "CUDAExecutionProvider" in ort.get_available_providers() and _cuda_works is not False
    return ["CUDAExecutionProvider", "CPUExecutionProvider"] if cuda else ["CPUExecutionProvider"]


class OnnxModel:
    """One ONNX file with its card; thread-safe for concurrent `predict_*` calls."""

    def __init__(self, path: str | Path, *, name: str | None = None, version: int = 1,
                 providers: Sequence[str] | None = None, threads: int = 0) -> None:
        self.path = Path(path)
        self.name = name or self.path.stem
        self.version = version
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.log_severity_level = 3
        asked = choose_providers(providers)
        try:
            self.session = ort.InferenceSession(str(self.path), options, providers=asked)
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph types
            raise ValueError(f"{self.path}: not a loadable ONNX model ({exc})") from exc
        if "CUDAExecutionProvider" in asked and providers is None:
            global _cuda_works
            _cuda_works = "CUDAExecutionProvider" in self.session.get_providers()
        meta = self.session.get_modelmeta().custom_metadata_map
        if METADATA_KEY not in meta:
            raise ValueError(f"{self.path}: no '{METADATA_KEY}' metadata (export it with signalstack train)")
        try:
            self.card = ModelCard.from_json(meta[METADATA_KEY])
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{self.path}: unreadable '{METADATA_KEY}' model card ({exc})") from None
        self.provider = self.session.get_providers()[0]
        self._spec = self.card.feature_spec
        self._input = self.session.get_inputs()[0].name
        self._output = self.session.get_outputs()[0].name
        self._n_features = len(self._spec.columns)
        log.debug("model %s v%d loaded on %s", self.name, self.version, self.provider)

    @property
    def window(self) -> int:
        return self.card.window

    @property
    def bars_required(self) -> int:
        return self.card.bars_required

    @property
    def outputs(self) -> list[str]:
        """Column names of a prediction: the classes, or ['forecast'] for a regressor."""
        return self.card.classes or ["forecast"]

    @property
    def input_shape(self) -> tuple[int, int]:
        """(window, features): one input window of the graph, batch axis excluded."""
        return self.window, self._n_features

    @property
    def input_name(self) -> str:
        return self._input

    @property
    def output_name(self) -> str:
        return self._output

    def check_features(self, x: np.ndarray) -> np.ndarray:
        """`x` as the contiguous float32 (N, window, features) array the graph takes, or InvalidInput."""
        if x.ndim != 3 or x.shape[1:] != self.input_shape:
            raise InvalidInput(f"feature windows of shape {x.shape}: expected (N, {self.window}, {self._n_features})")
        return np.ascontiguousarray(x, dtype=np.float32)

    def predict_features(self, x: np.ndarray) -> np.ndarray:
        """Probabilities (or forecasts) for raw feature windows of shape (N, window, features)."""
        return self.session.run([self._output], {self._input: self.check_features(x)})[0]

    def warm_up(self) -> None:
        """Run the graph once on zeros, so the first real call pays no lazy initialisation and a
        graph that disagrees with its card fails here, before it serves."""
        try:
            out = self.predict_features(np.zeros((1, *self.input_shape), dtype=np.float32))
        except Exception as exc:
            raise ValueError(f"{self.path}: warm-up run failed ({exc})") from exc
        if out.shape != (1, len(self.outputs)):
            raise ValueError(f"{self.path}: warm-up output of shape {out.shape}, expected (1, {len(self.outputs)}) "
                             f"for outputs {self.outputs}")

    def window_features(self, bars: Bars, source: str = "window") -> np.ndarray:
        """The (window, features) matrix for the last bar of `bars`, after checking the bars."""
        arrays = _as_arrays(bars, source)
        n = len(arrays["close"])
        if n < self.bars_required:
            raise InvalidInput(f"{source}: {n} bars, expected at least {self.bars_required} "
                               f"(window {self.window} + warm-up {self.card.warmup})")
        tail = {c: a[-self.bars_required:] for c, a in arrays.items()}
        try:
            check_values(tail, source)
        except BarsError as exc:
            raise InvalidInput(str(exc)) from None
        return feature_matrix(tail, self._spec)[-self.window:]

    def windows_features(self, windows: Sequence[Bars]) -> np.ndarray:
        """The float32 (N, window, features) graph input for N windows of raw bars."""
        if not windows:
            raise InvalidInput("no windows: expected at least one window of bars")
        return np.stack([self.window_features(w, f"window {i}") for i, w in enumerate(windows)]).astype(np.float32)

    def predict_windows(self, windows: Sequence[Bars]) -> np.ndarray:
        """One prediction per window of raw bars; each window needs `bars_required` bars."""
        return self.predict_features(self.windows_features(windows))

    def predict_series(self, bars: Bars, index: pd.Index | None = None) -> pd.DataFrame:
        """A prediction for every bar that has `bars_required` bars of history, rows named by `index`.

        Features are computed once over the whole series, so this is the fast path for backtests.
        """
        arrays = _as_arrays(bars, "series")
        n = len(arrays["close"])
        if index is None:
            index = bars.index if isinstance(bars, pd.DataFrame) else pd.RangeIndex(n)
        if n < self.bars_required:
            raise InvalidInput(f"series: {n} bars, expected at least {self.bars_required} "
                               f"(window {self.window} + warm-up {self.card.warmup})")
        try:
            check_values(arrays, "series")
        except BarsError as exc:
            raise InvalidInput(str(exc)) from None
        table = feature_matrix(arrays, self._spec)[self.card.warmup:].astype(np.float32)
        windows = np.lib.stride_tricks.sliding_window_view(table, self.window, axis=0).transpose(0, 2, 1)
        out = np.concatenate([self.predict_features(windows[i:i + BATCH]) for i in range(0, len(windows), BATCH)])
        return pd.DataFrame(out, index=index[self.bars_required - 1:], columns=self.outputs)


def _as_arrays(bars: Bars, source: str) -> dict[str, np.ndarray]:
    try:
        arrays = {c: np.asarray(bars[c], dtype=np.float64) for c in COLUMNS}
    except KeyError as exc:
        raise InvalidInput(f"{source}: missing column {exc.args[0]!r} (expected {', '.join(COLUMNS)})") from None
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"{source}: bar values must be numbers ({exc})") from None
    lengths = {c: a.shape for c, a in arrays.items()}
    if len(set(lengths.values())) != 1 or arrays["close"].ndim != 1:
        raise InvalidInput(f"{source}: columns must be 1-D and of equal length, got shapes {lengths}")
    return arrays
