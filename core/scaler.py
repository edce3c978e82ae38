"""Per-feature standardisation fitted on the training split only and shipped inside the model."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True, eq=False)
class Scaler:
    """x -> (x - mean) / std per feature; exported as the first op of the ONNX graph."""

    mean: np.ndarray
    std: np.ndarray

    def __eq__(self, other: object) -> bool:
        """Equal values, so two cards read from the same file compare equal (arrays have no plain ==)."""
        if not isinstance(other, Scaler):
            return NotImplemented
        return np.array_equal(self.mean, other.mean) and np.array_equal(self.std, other.std)

    # Equal by value, and mutable arrays: not hashable. None is Python's way to say so, which typeshed's
    # `object.__hash__` (a method) does not admit, hence the ignore.
    __hash__ = None  # type: ignore[assignment]

    @classmethod
    def fit(cls, rows: np.ndarray) -> Scaler:
        """Fit on a (rows, features) array; constant features get std 1 so they map to 0."""
        if rows.ndim != 2 or len(rows) < 2:
            raise ValueError(f"scaler needs a (rows >= 2, features) array, got shape {rows.shape}")
        if not np.isfinite(rows).all():
            raise ValueError("scaler rows contain NaN or Inf: features were not warmed up")
        mean = rows.mean(axis=0)
        std = rows.std(axis=0)
        return cls(mean.astype("float32"), np.where(std > 1e-12, std, 1.0).astype("float32"))

    def transform(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.mean) / self.std).astype("float32")

    def to_dict(self) -> dict[str, Any]:
        return {"mean": self.mean.tolist(), "std": self.std.tolist(), "applied_in": "graph"}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Scaler:
        return cls(np.asarray(data["mean"], "float32"), np.asarray(data["std"], "float32"))
