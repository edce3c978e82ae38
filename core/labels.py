"""Targets at horizon h: a label at bar t reads closes after t only (t+1 .. t+h)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from .errors import SettingsError

LabelKind = Literal["binary", "three", "regression", "path", "pair"]
LABEL_KINDS: tuple[str, ...] = ("binary", "three", "regression", "path", "pair")


@dataclass(frozen=True)
class LabelSpec:
    """The rule that turns future closes into a target.

    binary: up (1) when close[t+h] > close[t], else down (0).
    three: down (0) when the h-bar return < `down`, up (2) when > `up`, else flat (1);
    the defaults are the Inception post's asymmetric -1% / +2.5% over 14 bars.
    regression: the simple return close[t+h] / close[t] - 1.
    path: the h returns close[t+k] / close[t] - 1 for k = 1..h (a many-to-many forecast).
    pair: up (1) when stock a's h-bar return beats stock b's (the ranking net; see `pairs.py`).
    """

    kind: LabelKind = "binary"
    horizon: int = 1
    up: float = 0.025
    down: float = -0.01

    def __post_init__(self) -> None:
        if self.kind not in LABEL_KINDS:
            raise SettingsError(f"label kind {self.kind!r}: expected one of {', '.join(LABEL_KINDS)}")
        if self.horizon < 1:
            raise SettingsError(f"label horizon {self.horizon}: expected an integer >= 1")
        if self.kind == "three" and not self.down < 0 < self.up:
            raise SettingsError(f"three-class thresholds down={self.down}, up={self.up}: expected down < 0 < up")

    @classmethod
    def three_class(cls, horizon: int = 14, up: float = 0.025, down: float = -0.01) -> LabelSpec:
        return cls("three", horizon, up, down)

    @property
    def classes(self) -> list[str]:
        """Class names in output order; empty for regression and path."""
        return {
            "binary": ["down", "up"],
            "three": ["down", "flat", "up"],
            "regression": [],
            "path": [],
            "pair": ["down", "up"],
        }[self.kind]

    @property
    def is_classification(self) -> bool:
        return bool(self.classes)

    @property
    def n_outputs(self) -> int:
        """Units a model needs for this target: one per class, one forecast, or one per path step."""
        return len(self.classes) or (self.horizon if self.kind == "path" else 1)

    @property
    def output_name(self) -> str:
        """The ONNX output of a single-output model trained on this target."""
        return "probabilities" if self.is_classification else "forecast"

    @property
    def columns(self) -> list[str]:
        """Names of the output's values: the classes, `forecast`, or `t+1` .. `t+h` for a path."""
        if self.kind == "path":
            return [f"t+{k}" for k in range(1, self.horizon + 1)]
        return self.classes or ["forecast"]

    @property
    def rule(self) -> str:
        h = self.horizon
        if self.kind == "binary":
            return f"up if close[t+{h}] > close[t] else down"
        if self.kind == "three":
            return f"r = close[t+{h}]/close[t]-1; down if r < {self.down:g}, up if r > {self.up:g}, else flat"
        if self.kind == "path":
            return f"close[t+k]/close[t]-1 for k = 1..{h}"
        if self.kind == "pair":
            return f"up if stock a's close[t+{h}]/close[t] > stock b's, else down"
        return f"close[t+{h}]/close[t]-1"

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "horizon": self.horizon,
            "up": self.up,
            "down": self.down,
            "classes": self.classes,
            "rule": self.rule,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LabelSpec:
        return cls(data["kind"], int(data["horizon"]), float(data["up"]), float(data["down"]))


def forward_returns(close: np.ndarray, horizon: int) -> np.ndarray:
    """close[t+h] / close[t] - 1 for every t; NaN where t+h is past the end."""
    forward = np.full(len(close), np.nan)
    forward[:-horizon] = close[horizon:] / close[:-horizon] - 1.0
    return forward


def make_labels(bars: pd.DataFrame, spec: LabelSpec) -> pd.Series | pd.DataFrame:
    """The target for every bar; NaN for the last `horizon` bars, whose future is unknown.

    A path target is a DataFrame with one column per step; the others are Series.
    """
    close = bars["close"].to_numpy(dtype="float64")
    h = spec.horizon
    if spec.kind == "pair":
        raise ValueError("pair labels compare two stocks: build them with pairs.rank_pairs, not one bar series")
    if spec.kind == "path":
        steps = np.column_stack([forward_returns(close, k) for k in range(1, h + 1)])
        steps[np.isnan(steps).any(axis=1)] = np.nan
        return pd.DataFrame(steps, index=bars.index, columns=spec.columns)
    forward = forward_returns(close, h)
    if spec.kind == "regression":
        target = forward
    elif spec.kind == "binary":
        target = np.where(forward > 0, 1.0, 0.0)
    else:
        target = np.where(forward < spec.down, 0.0, np.where(forward > spec.up, 2.0, 1.0))
    target[np.isnan(forward)] = np.nan
    return pd.Series(target, index=bars.index, name="label")
