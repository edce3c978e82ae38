"""A model's outputs side by side: one table whose columns are every output's columns, in order.

The in-process runtime and the gRPC client both join outputs this way, so a signal source answers
with the same table whichever way it reached the model.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np


def join_outputs(outputs: Mapping[str, np.ndarray]) -> np.ndarray:
    """(N, total columns): every output side by side, in the mapping's order (the model's, as
    `predict` and a response give them); `joined_columns` names the columns."""
    return np.concatenate([x.reshape(len(x), -1) for x in outputs.values()], axis=1)


def joined_columns(columns: Mapping[str, list[str]]) -> list[str]:
    """Every output's columns in order; a name two outputs share is prefixed by its output's name."""
    seen = [c for cols in columns.values() for c in cols]
    return [c if seen.count(c) == 1 else f"{name}.{c}" for name, cols in columns.items() for c in cols]


def split_outputs(table: np.ndarray, columns: Mapping[str, list[str]]) -> dict[str, np.ndarray]:
    """The outputs by name from a table of them side by side (`join_outputs`'s inverse)."""
    ends = np.cumsum([len(c) for c in columns.values()])
    return dict(zip(columns, np.split(table, ends[:-1], axis=1)))
