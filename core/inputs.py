"""Checks of the named tensors a model reads: names, shapes, one batch size, finite values.

Every way into a model (a Predict call, a ModelInfer call, a series, the batching queue) checks
its tensors here, so each check and its message is written once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from .card import TensorInfo
from .errors import InvalidInput


def check_batch(infos: Sequence[TensorInfo], inputs: Mapping[str, np.ndarray], model: str) -> dict[str, np.ndarray]:
    """`inputs` as the contiguous float32 arrays the graph takes, one per input of `infos`.

    Each is (N, *shape of its input), with the same N >= 1 for all; else InvalidInput.
    """
    names = [i.name for i in infos]
    if sorted(inputs) != sorted(names):
        raise InvalidInput(f"inputs {sorted(inputs)[:8]}: model {model} takes {names}")
    checked, batch = {}, None
    for info in infos:
        x = np.asarray(inputs[info.name])
        if x.ndim != len(info.shape) + 1 or x.shape[1:] != info.shape or len(x) < 1:
            raise InvalidInput(
                f"input {info.name!r} of shape {list(x.shape)[:8]}: expected [N >= 1, "
                f"{', '.join(map(str, info.shape))}]"
            )
        if batch is not None and len(x) != batch:
            raise InvalidInput(f"input {info.name!r} holds {len(x)} samples, expected {batch} like {names[0]!r}")
        batch = len(x)
        checked[info.name] = np.ascontiguousarray(x, dtype=np.float32)
    return checked


def check_names(
    infos: Sequence[TensorInfo],
    tensors: Mapping[str, np.ndarray],
    model: str,
    besides: str = "",
    what: str = "tensor inputs",
) -> None:
    """InvalidInput unless `tensors` holds exactly the inputs of `infos` (`besides` says what else the model reads)."""
    expected = [i.name for i in infos]
    if sorted(tensors) != sorted(expected):
        raise InvalidInput(f"{what} {sorted(tensors)[:8]}: model {model} takes {expected or 'none'}{besides}")


def check_finite(tensors: Mapping[str, np.ndarray]) -> None:
    """InvalidInput naming the first tensor holding NaN or an infinity."""
    for name, x in tensors.items():
        if not np.isfinite(x).all():
            raise InvalidInput(f"input {name!r}: NaN or infinite values, expected finite numbers")


def series_rows(
    infos: Sequence[TensorInfo], tensors: Mapping[str, np.ndarray], n: int, model: str
) -> dict[str, np.ndarray]:
    """A series' tensor inputs as float32 arrays of one row per bar, after checking names and shapes.

    Rows may hold NaN: a bar whose row is not finite (fundamentals not yet published) gets no output.
    """
    check_names(infos, tensors, model, ", one row per bar", what="series tensor inputs")
    rows = {}
    for info in infos:
        x = np.asarray(tensors[info.name], dtype=np.float32)
        if x.shape != (n, *info.shape):
            raise InvalidInput(
                f"series input {info.name!r} of shape {list(x.shape)[:8]}: expected "
                f"{[n, *info.shape]} (one row per bar)"
            )
        rows[info.name] = x
    return rows
