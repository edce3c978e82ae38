"""Labelled windows (N, T, F) and time-ordered splits with an embargo.

A sample is named by its last bar t: its window holds feature rows t-T+1 .. t and its label
reads bars t+1 .. t+h. Consecutive splits are separated by an embargo of at least h time
steps, so no training label reads a bar inside the validation or test period.

Multi-input and multi-output sets (see intraday.py, images.py, pairs.py, fundamentals.py) use
the same containers with `x` and `y` as {name: array}.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from signalstack.core.card import TensorInfo
from signalstack.core.errors import InvalidInput, SettingsError
from signalstack.core.features import FeatureSpec, compute_features
from signalstack.core.labels import LabelSpec, make_labels
from signalstack.core.scaler import Scaler

Arrays = np.ndarray | Mapping[str, np.ndarray]
"""One array, or {name: array} for several inputs or targets; axis 0 is the sample axis."""


@dataclass(frozen=True)
class WindowSet:
    """Samples of raw (unscaled) inputs, their labels and the time of each sample's last bar."""

    x: Arrays
    y: Arrays
    times: pd.DatetimeIndex

    def __len__(self) -> int:
        return len(self.times)

    @property
    def time_range(self) -> tuple[str, str]:
        return (self.times[0].isoformat(), self.times[-1].isoformat())

    def take(self, index: np.ndarray | slice) -> WindowSet:
        """The samples at `index` (positions or a boolean mask)."""
        return WindowSet(_take(self.x, index), _take(self.y, index), self.times[index])


def _take(arrays: Arrays, index: np.ndarray | slice) -> Arrays:
    if isinstance(arrays, Mapping):
        return {name: a[index] for name, a in arrays.items()}
    return arrays[index]


def as_named(arrays: Arrays, name: str) -> dict[str, np.ndarray]:
    """{name: array} for a single array, the mapping itself otherwise."""
    return dict(arrays) if isinstance(arrays, Mapping) else {name: arrays}


@dataclass(frozen=True)
class Dataset:
    """Train/validation/test samples with the specs that made them and the train-fitted scalers.

    `labels` is one LabelSpec, or {output name: LabelSpec} for multi-output models (then `y` is
    a mapping with the same names). `inputs` describes each model input for the model card.
    """

    train: WindowSet
    val: WindowSet
    test: WindowSet
    features: FeatureSpec
    labels: LabelSpec | Mapping[str, LabelSpec]
    window: int
    embargo: int
    scalers: Mapping[str, Scaler]
    inputs: tuple[TensorInfo, ...]

    @property
    def scaler(self) -> Scaler:
        """The scaler of a single-input set."""
        if len(self.scalers) != 1:
            raise ValueError(f"dataset has {len(self.scalers)} scaled inputs {list(self.scalers)}: use .scalers")
        return next(iter(self.scalers.values()))

    @property
    def targets(self) -> dict[str, LabelSpec]:
        """{output name: label spec}; a single target is named by its kind (probabilities or forecast)."""
        if isinstance(self.labels, LabelSpec):
            return {self.labels.output_name: self.labels}
        return dict(self.labels)

    def y_of(self, part: WindowSet) -> dict[str, np.ndarray]:
        """A split's targets by output name."""
        return as_named(part.y, next(iter(self.targets)))

    def x_of(self, part: WindowSet) -> dict[str, np.ndarray]:
        """A split's inputs by input name."""
        return as_named(part.x, self.inputs[0].name)


def make_windows(
    features: pd.DataFrame, labels: pd.Series | pd.DataFrame | None, window: int, first: int = 0
) -> WindowSet:
    """Every window whose last row is at index >= first + window - 1 and whose label is known.

    `first` is the first usable feature row (the spec's warm-up); rows before it are never read.
    """
    values = features.to_numpy(dtype="float32")[first:]
    if len(values) < window:
        raise InvalidInput(f"{len(values)} feature rows after warm-up: expected at least window={window}")
    x = np.lib.stride_tricks.sliding_window_view(values, window, axis=0).transpose(0, 2, 1)
    times = features.index[first + window - 1 :]
    if labels is None:
        return WindowSet(np.ascontiguousarray(x), np.full(len(x), np.nan, "float32"), times)
    y = labels.to_numpy(dtype="float32")[first + window - 1 :]
    known = ~np.isnan(y) if y.ndim == 1 else ~np.isnan(y).any(axis=1)
    return WindowSet(np.ascontiguousarray(x[known]), y[known], times[known])


def labels_at(bars: pd.DataFrame, labels: LabelSpec | Mapping[str, LabelSpec], times: pd.Index) -> Arrays:
    """The targets of one spec (an array) or of {output name: spec} (a mapping) at `times`; NaN if unknown."""

    def one(spec: LabelSpec) -> np.ndarray:
        return make_labels(bars, spec).reindex(times).to_numpy(dtype="float32")

    return one(labels) if isinstance(labels, LabelSpec) else {name: one(spec) for name, spec in labels.items()}


def known_rows(arrays: Arrays) -> np.ndarray:
    """True for samples whose values (every array, every column) are all finite."""
    mask = None
    for a in as_named(arrays, "").values():
        finite = np.isfinite(a.reshape(len(a), -1)).all(axis=1)
        mask = finite if mask is None else mask & finite
    return mask


def split_by_time(n: int, fractions: tuple[float, float, float], embargo: int) -> tuple[slice, slice, slice]:
    """Train, validation and test slices in time order, `embargo` samples dropped between each."""
    if abs(sum(fractions) - 1.0) > 1e-9 or min(fractions) <= 0:
        raise SettingsError(f"split fractions {fractions}: expected three positive numbers summing to 1")
    usable = n - 2 * embargo
    n_train, n_val = int(usable * fractions[0]), int(usable * fractions[1])
    if min(n_train, n_val, usable - n_train - n_val) < 2:
        raise InvalidInput(f"{n} samples with embargo {embargo}: too few for splits {fractions}")
    val_start = n_train + embargo
    test_start = val_start + n_val + embargo
    return slice(0, n_train), slice(val_start, val_start + n_val), slice(test_start, n)


def split_windows(
    windows: WindowSet, fractions: tuple[float, float, float], embargo: int
) -> tuple[WindowSet, WindowSet, WindowSet]:
    """Train, validation and test samples by time; the embargo counts distinct sample times.

    Sets with several samples per time (pairs of stocks on one date) split on dates, so one
    date never lands in two splits.
    """
    times, position = np.unique(windows.times.asi8, return_inverse=True)
    parts = split_by_time(len(times), fractions, embargo)
    return tuple(windows.take((position >= s.start) & (position < s.stop)) for s in parts)


def fit_scaler(x: np.ndarray, feature_axes: int = 1) -> Scaler:
    """Standardise each position of the last `feature_axes` axes, fitted on each sample's newest slice.

    A window's newest row (x[:, -1]) is one bar of the training period, so fitting on those
    uses every training bar once; a 2-D input (one vector per sample) is fitted on all rows.
    """
    newest = x if x.ndim == 2 else x[:, -1]
    shape = newest.shape[newest.ndim - feature_axes :]
    fitted = Scaler.fit(newest.reshape(-1, int(np.prod(shape))).astype("float64"))
    return Scaler(fitted.mean.reshape(shape), fitted.std.reshape(shape))


def make_dataset(
    windows: WindowSet,
    *,
    features: FeatureSpec,
    labels: LabelSpec | Mapping[str, LabelSpec],
    window: int,
    inputs: Sequence[TensorInfo],
    embargo: int | None = None,
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15),
    feature_axes: Mapping[str, int] | None = None,
    shared_scaler: bool = False,
) -> Dataset:
    """Split samples by time with an embargo (default: the longest label horizon) and fit the scalers.

    `feature_axes` gives, per input, how many trailing axes are standardised position by
    position (default 1, the feature axis). `shared_scaler` fits one scaler on all inputs
    together, for inputs holding the same kind of rows (the two stocks of a ranking pair).
    """
    specs = [labels] if isinstance(labels, LabelSpec) else list(labels.values())
    horizon = max(s.horizon for s in specs)
    embargo = horizon if embargo is None else embargo
    if embargo < horizon:
        raise SettingsError(f"embargo {embargo}: expected >= the label horizon {horizon}")
    parts = split_windows(windows, fractions, embargo)
    x = as_named(parts[0].x, inputs[0].name)
    if shared_scaler:
        one = fit_scaler(np.concatenate(list(x.values())))
        scalers = {name: one for name in x}
    else:
        scalers = {name: fit_scaler(a, (feature_axes or {}).get(name, 1)) for name, a in x.items()}
    return Dataset(
        *parts, features=features, labels=labels, window=window, embargo=embargo, scalers=scalers, inputs=tuple(inputs)
    )


def build_dataset(
    bars: pd.DataFrame,
    features: FeatureSpec,
    labels: LabelSpec,
    window: int,
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15),
    embargo: int | None = None,
) -> Dataset:
    """Features, labels, windows and splits for one bar series; the scaler sees training rows only."""
    table = compute_features(bars, features)
    windows = make_windows(table, make_labels(bars, labels), window, first=features.warmup)
    info = TensorInfo("features", (window, len(features.columns)), columns=tuple(features.columns), origin="bars")
    return make_dataset(
        windows, features=features, labels=labels, window=window, inputs=[info], embargo=embargo, fractions=fractions
    )
