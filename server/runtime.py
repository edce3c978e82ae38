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

from signalstack.models.card import BAR_SOURCES, METADATA_KEY, ModelCard, TensorInfo
from signalstack.models.data import COLUMNS, BarsError, check_values
from signalstack.models.features import feature_matrix
from signalstack.models.intraday import day_blocks, day_windows

log = logging.getLogger(__name__)

BATCH = 4096
"""Windows per onnxruntime call when predicting a long series: bounds the memory of one call."""

Bars = Mapping[str, Any]
"""Anything with open/high/low/close/volume columns: a DataFrame or a dict of 1-D arrays (with
unix seconds in "time" where an intraday model needs bar times)."""


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
    """One ONNX file with its card; thread-safe for concurrent `predict*` calls.

    A model has named inputs and outputs (the card's). At most one input is made from bars:
    source "bars" (the card's features over its window, or the newest feature row for a 1-D
    input) or "intraday" (day x intraday blocks of features, which need each bar's time). Every
    other input is a tensor the caller supplies as is (fundamentals, images). Every output's
    values are named by its columns; `columns` joins them.
    """

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
        self.inputs = self._described(self.card.inputs, [i.name for i in self.session.get_inputs()], "input")
        self.output_infos = self._described(self.card.outputs, [o.name for o in self.session.get_outputs()],
                                            "output")
        bars = [i.name for i in self.inputs if i.source in BAR_SOURCES]
        if len(bars) > 1:
            raise ValueError(f"{self.path}: inputs {bars} are all made from bars, expected one")
        self.bars_input, self.tensor_inputs = self.card.bars_input, self.card.tensor_inputs
        self.intraday = self.card.intraday
        self.window, self.bars_required = self.card.window, self.card.bars_required
        self.output_columns = {o.name: list(o.columns) or self._legacy_columns() for o in self.output_infos}
        self.columns = joined_columns(self.output_columns)
        self._output_names = [o.name for o in self.output_infos]
        log.debug("model %s v%d loaded on %s", self.name, self.version, self.provider)

    def _described(self, infos: Sequence[TensorInfo], graph: list[str], kind: str) -> tuple[TensorInfo, ...]:
        """The card's descriptions of the graph's inputs or outputs, in graph order; one for each."""
        by_name = {i.name: i for i in infos}
        if sorted(by_name) != sorted(graph):
            raise ValueError(f"{self.path}: graph {kind}s {graph}, but the card describes {sorted(by_name)}")
        return tuple(by_name[n] for n in graph)

    def _legacy_columns(self) -> list[str]:
        # Files written before outputs carried their columns had one output of the label's columns.
        return self.card.classes or ["forecast"]

    @property
    def outputs(self) -> list[str]:
        """Column names of the first output: the classes, ['forecast'], or a path's steps."""
        return self.output_columns[self._output_names[0]]

    @property
    def output_names(self) -> list[str]:
        return list(self._output_names)

    def check_inputs(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """`inputs` as the contiguous float32 arrays the graph takes, one per input, or InvalidInput.

        Each is (N, *shape of the card's input), with the same N >= 1 for all.
        """
        names = [i.name for i in self.inputs]
        if sorted(inputs) != sorted(names):
            raise InvalidInput(f"inputs {sorted(inputs)[:8]}: model {self.name} takes {names}")
        checked, batch = {}, None
        for info in self.inputs:
            x = np.asarray(inputs[info.name])
            if x.ndim != len(info.shape) + 1 or x.shape[1:] != info.shape or len(x) < 1:
                raise InvalidInput(f"input {info.name!r} of shape {list(x.shape)[:8]}: expected [N >= 1, "
                                   f"{', '.join(map(str, info.shape))}]")
            if batch is not None and len(x) != batch:
                raise InvalidInput(f"input {info.name!r} holds {len(x)} samples, expected {batch} like "
                                   f"{names[0]!r}")
            batch = len(x)
            checked[info.name] = np.ascontiguousarray(x, dtype=np.float32)
        return checked

    def predict(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Every output, by name, for raw (unscaled) inputs by name: the graph itself."""
        return self.predict_checked(self.check_inputs(inputs))

    def predict_checked(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """`predict` for inputs that `check_inputs` returned (the batching queue checks each call
        before it joins a batch, so a batch is not checked twice)."""
        return dict(zip(self._output_names, self.session.run(self._output_names, inputs)))

    def split(self, table: np.ndarray) -> dict[str, np.ndarray]:
        """The outputs by name from a (N, len(columns)) table of them side by side (`join_outputs`'s inverse)."""
        ends = np.cumsum([len(c) for c in self.output_columns.values()])
        return dict(zip(self.output_columns, np.split(table, ends[:-1], axis=1)))

    def warm_up(self) -> None:
        """Run the graph once on zeros, so the first real call pays no lazy initialisation and a
        graph that disagrees with its card fails here, before it serves."""
        zeros = {i.name: np.zeros((1, *i.shape), dtype=np.float32) for i in self.inputs}
        try:
            out = self.predict(zeros)
        except Exception as exc:
            raise ValueError(f"{self.path}: warm-up run failed ({exc})") from exc
        for info in self.output_infos:
            expected = (1, len(self.output_columns[info.name]))
            if out[info.name].shape != expected:
                raise ValueError(f"{self.path}: warm-up output {info.name!r} of shape {out[info.name].shape}, "
                                 f"expected {expected} for columns {self.output_columns[info.name]}")

    def window_features(self, bars: Bars, source: str = "window") -> np.ndarray:
        """The bars input for the last bar of `bars` (its (window, features) matrix), after checking the bars.

        An intraday input reads every bar given (days may hold more bars than a block): its
        last block must end at the last bar, so score a day at its closing bar.
        """
        info = self._bars_info()
        arrays = _as_arrays(bars, source)
        n = len(arrays["close"])
        if n < self.bars_required:
            raise InvalidInput(f"{source}: {n} bars, expected at least {self.bars_required} "
                               f"({self._needs()} + warm-up {self.card.warmup})")
        if self.intraday:
            times = _times(bars, n, source)
            self._check(arrays, source)
            blocks, ends = self._day_blocks(feature_matrix(arrays, self._spec).astype(np.float32), times)
            span = self.window
            if len(ends) < span or ends[-1] != n - 1:
                raise InvalidInput(f"{source}: {len(ends)} days with {info.shape[-2]} bars after the warm-up "
                                   f"ending at the last bar, expected the last {span} days complete up to it")
            return day_windows(blocks[-span:], span if len(info.shape) == 3 else None)[-1]
        tail = {c: a[-self.bars_required:] for c, a in arrays.items()}
        self._check(tail, source)
        return feature_matrix(tail, self._spec)[-self.window:].reshape(info.shape)

    def _needs(self) -> str:
        if self.intraday:
            return f"{self.window} days of {self._bars_info().shape[-2]} bars"
        return f"window {self.window}"

    def _day_blocks(self, table: np.ndarray, times: pd.DatetimeIndex) -> tuple[np.ndarray, np.ndarray]:
        return day_blocks(table, times, self.card.warmup, self._bars_info().shape[-2])

    @staticmethod
    def _check(arrays: Mapping[str, np.ndarray], source: str) -> None:
        try:
            check_values(arrays, source)
        except BarsError as exc:
            raise InvalidInput(str(exc)) from None

    def request_inputs(self, windows: Sequence[Bars], tensors: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The graph inputs of one request: features of `windows` for the bars input, `tensors` for the rest.

        A model without a bars input takes no windows; caller-supplied tensors must be finite. Shapes
        are checked where the inputs are run (`predict`, or the batching queue), once.
        """
        expected = [i.name for i in self.tensor_inputs]
        if sorted(tensors) != sorted(expected):
            raise InvalidInput(f"tensor inputs {sorted(tensors)[:8]}: model {self.name} takes "
                               f"{expected or 'none'}" + (f" besides windows of bars for {self.bars_input.name!r}"
                                                          if self.bars_input else ""))
        for name, x in tensors.items():
            if not np.isfinite(x).all():
                raise InvalidInput(f"input {name!r}: NaN or infinite values, expected finite numbers")
        inputs = dict(tensors)
        if self.bars_input is None:
            if windows:
                raise InvalidInput(f"{len(windows)} windows of bars: model {self.name} takes tensors only "
                                   f"({', '.join(expected)})")
        else:
            if not windows:
                raise InvalidInput(f"no windows: model {self.name} needs at least one window of bars "
                                   f"for its input {self.bars_input.name!r}")
            inputs[self.bars_input.name] = np.stack(
                [self.window_features(w, f"window {i}") for i, w in enumerate(windows)]).astype(np.float32)
        return inputs

    def predict_windows(self, windows: Sequence[Bars], tensors: Mapping[str, np.ndarray] | None = None) -> np.ndarray:
        """(N, len(columns)) outputs, one row per window of raw bars (each of `bars_required` bars),
        with `tensors` {name: (N, ...)} for a model's other inputs."""
        return join_outputs(self.predict(self.request_inputs(windows, tensors or {})))

    def predict_series(self, bars: Bars, index: pd.Index | None = None,
                       tensors: Mapping[str, np.ndarray] | None = None) -> pd.DataFrame:
        """Outputs (`columns`) for every bar that has `bars_required` bars of history, rows named by `index`.

        Features are computed once over the whole series, so this is the fast path for backtests.
        `tensors` gives a model's other inputs one row per bar, aligned with `bars`; bars whose
        rows are not finite (fundamentals not yet published) get NaN outputs.
        """
        info = self._bars_info()
        arrays = _as_arrays(bars, "series")
        n = len(arrays["close"])
        if index is None:
            index = bars.index if isinstance(bars, pd.DataFrame) else pd.RangeIndex(n)
        if n < self.bars_required:
            raise InvalidInput(f"series: {n} bars, expected at least {self.bars_required} "
                               f"({self._needs()} + warm-up {self.card.warmup})")
        self._check(arrays, "series")
        rows = self._series_tensors(tensors or {}, n)
        table = feature_matrix(arrays, self._spec).astype(np.float32)
        if self.intraday:  # one sample per day, at its closing bar; the bars between get NaN
            blocks, ends = self._day_blocks(table, _times(bars, n, "series"))
            if len(ends) < self.window:
                raise InvalidInput(f"series: {len(ends)} days with {info.shape[-2]} bars after the warm-up, "
                                   f"expected at least {self.window}")
            positions = ends[self.window - 1:]
            windows = day_windows(blocks, self.window if len(info.shape) == 3 else None)
        else:
            positions = np.arange(self.bars_required - 1, n)
            windows = np.lib.stride_tricks.sliding_window_view(table[self.card.warmup:], self.window, axis=0)
            windows = windows.transpose(0, 2, 1).reshape(len(positions), *info.shape)
        others = {name: x[positions] for name, x in rows.items()}
        known = np.ones(len(windows), dtype=bool)
        for x in others.values():
            known &= np.isfinite(x.reshape(len(x), -1)).all(axis=1)
        out = np.full((n - positions[0], len(self.columns)), np.nan, dtype=np.float32)
        scored = np.flatnonzero(known)
        for i in range(0, len(scored), BATCH):
            at = scored[i:i + BATCH]
            batch = {info.name: windows[at], **{name: x[at] for name, x in others.items()}}
            out[positions[at] - positions[0]] = join_outputs(self.predict(batch))
        return pd.DataFrame(out, index=index[positions[0]:], columns=self.columns)

    def _series_tensors(self, tensors: Mapping[str, np.ndarray], n: int) -> dict[str, np.ndarray]:
        """A series' tensor inputs as float32 arrays of one row per bar, after checking names and shapes."""
        expected = [i.name for i in self.tensor_inputs]
        if sorted(tensors) != sorted(expected):
            raise InvalidInput(f"series tensor inputs {sorted(tensors)[:8]}: model {self.name} takes "
                               f"{expected or 'none'}, one row per bar")
        rows = {}
        for info in self.tensor_inputs:
            x = np.asarray(tensors[info.name], dtype=np.float32)
            if x.shape != (n, *info.shape):
                raise InvalidInput(f"series input {info.name!r} of shape {list(x.shape)[:8]}: expected "
                                   f"{[n, *info.shape]} (one row per bar)")
            rows[info.name] = x
        return rows

    def _bars_info(self) -> TensorInfo:
        if self.bars_input is None:
            raise InvalidInput(f"model {self.name} takes no bars: its inputs are tensors "
                               f"({', '.join(i.name for i in self.inputs)}); send them as tensors")
        return self.bars_input


def join_outputs(outputs: Mapping[str, np.ndarray]) -> np.ndarray:
    """(N, total columns): every output side by side, in the mapping's order (the model's, as
    `predict` and a response give them); `joined_columns` names the columns."""
    return np.concatenate([x.reshape(len(x), -1) for x in outputs.values()], axis=1)


def joined_columns(columns: Mapping[str, list[str]]) -> list[str]:
    """Every output's columns in order; a name two outputs share is prefixed by its output's name."""
    seen = [c for cols in columns.values() for c in cols]
    return [c if seen.count(c) == 1 else f"{name}.{c}" for name, cols in columns.items() for c in cols]


def _times(bars: Bars, n: int, source: str) -> pd.DatetimeIndex:
    """Each bar's time: a DataFrame's DatetimeIndex, or a mapping's "time" column of unix seconds."""
    if isinstance(bars, pd.DataFrame) and isinstance(bars.index, pd.DatetimeIndex):
        times = bars.index
    elif not isinstance(bars, pd.DataFrame) and "time" in bars and len(bars["time"]):
        times = pd.to_datetime(np.asarray(bars["time"], dtype=np.int64), unit="s")
    else:
        raise InvalidInput(f"{source}: no bar times: an intraday model groups bars into days (expected a "
                           "DatetimeIndex, or unix seconds in 'time')")
    if len(times) != n or not times.is_monotonic_increasing:
        raise InvalidInput(f"{source}: {len(times)} bar times for {n} bars, expected one increasing time per bar")
    return times


def _floats(column: Any) -> np.ndarray:
    # A pandas column converts faster through to_numpy than through the array protocol.
    if isinstance(column, pd.Series):
        return column.to_numpy(dtype=np.float64)
    return np.asarray(column, dtype=np.float64)


def _as_arrays(bars: Bars, source: str) -> dict[str, np.ndarray]:
    try:
        arrays = {c: _floats(bars[c]) for c in COLUMNS}
    except KeyError as exc:
        raise InvalidInput(f"{source}: missing column {exc.args[0]!r} (expected {', '.join(COLUMNS)})") from None
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"{source}: bar values must be numbers ({exc})") from None
    lengths = {c: a.shape for c, a in arrays.items()}
    if len(set(lengths.values())) != 1 or arrays["close"].ndim != 1:
        raise InvalidInput(f"{source}: columns must be 1-D and of equal length, got shapes {lengths}")
    return arrays
