"""SignalService messages to and from numpy: bars, named tensors, tensor descriptions.

The one place that knows how arrays travel in `signalstack.v1`, used by the servicer and the client
alike, so both sides agree on layouts (bars column-wise, tensors row-major with the batch axis first).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from signalstack.core.bars import COLUMNS
from signalstack.core.card import TensorInfo
from signalstack.core.errors import InvalidInput
from signalstack.core.featurizer import Bars
from signalstack.core.times import unix_seconds_array
from signalstack.protos.signalstack.v1 import signals_pb2 as pb

MAX_TENSOR_DIMS = 8


def bars_message(bars: Bars) -> pb.Bars:
    """Bars as the wire message, with unix-second times when `bars` has a DatetimeIndex (intraday
    models group bars into days by them)."""
    message = pb.Bars(**{c: np.asarray(bars[c], dtype=np.float64).tolist() for c in COLUMNS})
    if isinstance(bars, pd.DataFrame) and isinstance(bars.index, pd.DatetimeIndex):
        message.time.extend(unix_seconds_array(bars.index).tolist())
    return message


def bars_arrays(bars: pb.Bars) -> dict[str, np.ndarray]:
    """A Bars message's columns, and its times as "time" when it carries them."""
    arrays = _packed_columns(bars.SerializeToString())
    if arrays is None:  # not the packed encoding upb writes: through protobuf's own containers
        arrays = {c: np.asarray(getattr(bars, c), dtype=np.float64) for c in COLUMNS}
    if len(bars.time):
        arrays["time"] = np.asarray(bars.time, dtype=np.int64)
    return arrays


_COLUMN_FIELDS = {pb.Bars.DESCRIPTOR.fields_by_name[c].number: c for c in COLUMNS}
_TIME_FIELD = pb.Bars.DESCRIPTOR.fields_by_name["time"].number
_EMPTY = np.empty(0)


def _packed_columns(data: bytes) -> dict[str, np.ndarray] | None:
    """The double columns of serialised Bars, read from their packed fields at once; None for any other layout.

    Protobuf's repeated fields give numpy one Python float at a time (about 25 µs a 456-bar column);
    packed doubles on the wire are the array's own little-endian bytes (2 µs for five columns).
    """
    arrays, pos = dict.fromkeys(COLUMNS, _EMPTY), 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        size, pos = _varint(data, pos)
        column = _COLUMN_FIELDS.get(key >> 3)
        if (
            key & 7 != 2
            or (column is None and key >> 3 != _TIME_FIELD)
            or pos + size > len(data)
            or (column is not None and size % 8)
        ):
            return None
        if column is not None:  # copied: aligned and writeable, as arrays made from protobuf's fields are
            arrays[column] = np.frombuffer(data, "<f8", size // 8, pos).copy()
        pos += size
    return arrays


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    """The base-128 varint at `pos`, and the position after it."""
    value = shift = 0
    while True:
        byte = data[pos]
        value |= (byte & 0x7F) << shift
        pos += 1
        if byte < 0x80:
            return value, pos
        shift += 7


def tensor_message(name: str, x: np.ndarray, columns: Sequence[str] = ()) -> pb.Tensor:
    x = np.asarray(x, dtype=np.float32)
    return pb.Tensor(name=name, shape=x.shape, values=x.ravel().tolist(), columns=columns)


def tensor_arrays(tensors: Iterable[pb.Tensor], what: str = "input") -> dict[str, np.ndarray]:
    """{name: float32 array} of wire tensors, after checking names are unique and shapes match the values."""
    out: dict[str, np.ndarray] = {}
    for tensor in tensors:
        name = f"{what} {tensor.name[:80]!r}"
        if not tensor.name or tensor.name in out:
            raise InvalidInput(f"{name}: expected a unique, non-empty tensor name")
        shape = tuple(tensor.shape)
        if not 1 <= len(shape) <= MAX_TENSOR_DIMS or min(shape) < 0:
            raise InvalidInput(
                f"{name}: shape {list(shape)[: MAX_TENSOR_DIMS + 1]}, expected 1 to "
                f"{MAX_TENSOR_DIMS} non-negative dimensions, batch first"
            )
        count = math.prod(shape)  # exact: a huge claimed shape must not wrap around to the values' count
        if count != len(tensor.values):
            raise InvalidInput(f"{name}: {len(tensor.values)} values, expected {count} for shape {list(shape)}")
        out[tensor.name] = np.asarray(tensor.values, dtype=np.float32).reshape(shape)
    return out


def output_messages(outputs: Mapping[str, np.ndarray], columns: Mapping[str, Sequence[str]]) -> list[pb.Tensor]:
    return [tensor_message(name, x, columns[name]) for name, x in outputs.items()]


def tensor_info_message(info: TensorInfo) -> pb.TensorInfo:
    return pb.TensorInfo(name=info.name, shape=info.shape, columns=info.columns, origin=info.origin)
