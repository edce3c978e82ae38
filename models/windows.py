"""Labelled windows (N, T, F) and time-ordered splits with an embargo.

A sample is named by its last bar t: its window holds feature rows t-T+1 .. t and its label
reads bars t+1 .. t+h. Consecutive splits are separated by an embargo of at least h samples,
so no training label reads a bar inside the validation or test period.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .features import FeatureSpec, compute_features
from .labels import LabelSpec, make_labels
from .scaler import Scaler


@dataclass(frozen=True)
class WindowSet:
    """Windows of raw (unscaled) features, their labels and the time of each window's last bar."""

    x: np.ndarray
    y: np.ndarray
    times: pd.DatetimeIndex

    def __len__(self) -> int:
        return len(self.x)

    @property
    def time_range(self) -> tuple[str, str]:
        return (self.times[0].isoformat(), self.times[-1].isoformat())


@dataclass(frozen=True)
class Dataset:
    """Train/validation/test windows with the specs that made them and the train-fitted scaler."""

    train: WindowSet
    val: WindowSet
    test: WindowSet
    features: FeatureSpec
    labels: LabelSpec
    window: int
    embargo: int
    scaler: Scaler


def make_windows(features: pd.DataFrame, labels: pd.Series | None, window: int,
                 first: int = 0) -> WindowSet:
    """Every window whose last row is at index >= first + window - 1 and whose label is known.

    `first` is the first usable feature row (the spec's warm-up); rows before it are never read.
    """
    values = features.to_numpy(dtype="float32")[first:]
    if len(values) < window:
        raise ValueError(f"{len(values)} feature rows after warm-up: expected at least window={window}")
    x = np.lib.stride_tricks.sliding_window_view(values, window, axis=0).transpose(0, 2, 1)
    times = features.index[first + window - 1:]
    if labels is None:
        return WindowSet(np.ascontiguousarray(x), np.full(len(x), np.nan, "float32"), times)
    y = labels.to_numpy(dtype="float32")[first + window - 1:]
    known = ~np.isnan(y)
    return WindowSet(np.ascontiguousarray(x[known]), y[known], times[known])


def split_by_time(n: int, fractions: tuple[float, float, float], embargo: int) -> tuple[slice, slice, slice]:
    """Train, validation and test slices in time order, `embargo` samples dropped between each."""
    if abs(sum(fractions) - 1.0) > 1e-9 or min(fractions) <= 0:
        raise ValueError(f"split fractions {fractions}: expected three positive numbers summing to 1")
    usable = n - 2 * embargo
    n_train, n_val = int(usable * fractions[0]), int(usable * fractions[1])
    if min(n_train, n_val, usable - n_train - n_val) < 2:
        raise ValueError(f"{n} samples with embargo {embargo}: too few for splits {fractions}")
    val_start = n_train + embargo
    test_start = val_start + n_val + embargo
    return slice(0, n_train), slice(val_start, val_start + n_val), slice(test_start, n)


def build_dataset(bars: pd.DataFrame, features: FeatureSpec, labels: LabelSpec, window: int,
                  fractions: tuple[float, float, float] = (0.7, 0.15, 0.15),
                  embargo: int | None = None) -> Dataset:
    """Features, labels, windows and splits for one bar series; the scaler sees training rows only."""
    embargo = labels.horizon if embargo is None else embargo
    if embargo < labels.horizon:
        raise ValueError(f"embargo {embargo}: expected >= the label horizon {labels.horizon}")
    table = compute_features(bars, features)
    windows = make_windows(table, make_labels(bars, labels), window, first=features.warmup)
    parts = [WindowSet(windows.x[s], windows.y[s], windows.times[s])
             for s in split_by_time(len(windows), fractions, embargo)]
    # Each training window's last row is one bar of the training period: fit on exactly those.
    scaler = Scaler.fit(parts[0].x[:, -1, :].astype("float64"))
    return Dataset(*parts, features=features, labels=labels, window=window, embargo=embargo, scaler=scaler)
