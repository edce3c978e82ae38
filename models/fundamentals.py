"""Two-input samples: a user's fundamental factors (a DataFrame keyed by date) beside technical windows.

The fundamentals of a sample at bar t are the latest row dated <= t, so rows must be dated
when they became known (publication, not period end). Samples before the first row are dropped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from .card import TensorInfo
from .features import FeatureSpec, compute_features
from .labels import LabelSpec
from .windows import Dataset, WindowSet, known_rows, labels_at, make_dataset, make_windows


def fundamental_dataset(bars: pd.DataFrame, fundamentals: pd.DataFrame, features: FeatureSpec,
                        labels: LabelSpec | Mapping[str, LabelSpec], window: int, *,
                        fractions: tuple[float, float, float] = (0.7, 0.15, 0.15),
                        embargo: int | None = None) -> Dataset:
    """Inputs `fundamentals` (K,) and `features` (window, F); one target, or {output name: spec} for multitask."""
    table = compute_features(bars, features)
    windows = make_windows(table, None, window, first=features.warmup)
    known = fundamentals_at(fundamentals, windows.times)
    y = labels_at(bars, labels, windows.times)
    keep = known_rows(known) & known_rows(y)
    if not keep.any():
        raise ValueError(f"no window has fundamentals dated on or before it (first row {fundamentals.index[0]}, "
                         f"last window {windows.times[-1]})")
    x = {"fundamentals": known[keep], "features": windows.x[keep]}
    y = {name: a[keep] for name, a in y.items()} if isinstance(y, Mapping) else y[keep]
    inputs = [TensorInfo("fundamentals", (fundamentals.shape[1],), columns=tuple(map(str, fundamentals.columns)),
                         source="tensor"),
              TensorInfo("features", (window, len(features.columns)), columns=tuple(features.columns), source="bars")]
    return make_dataset(WindowSet(x, y, windows.times[keep]), features=features, labels=labels, window=window,
                        inputs=inputs, embargo=embargo, fractions=fractions)


def load_fundamentals(source: str | Path | pd.DataFrame) -> pd.DataFrame:
    """Fundamental factors from a CSV (first column: the date each row became known) or a DataFrame, checked."""
    if isinstance(source, pd.DataFrame):
        frame = source
    else:
        path = Path(source)
        if not path.is_file():
            raise ValueError(f"{path}: no such file (expected a CSV of dated fundamental factors)")
        frame = pd.read_csv(path, index_col=0, parse_dates=True)
    _check_fundamentals(frame)
    return frame


def fundamentals_at(frame: pd.DataFrame, times: pd.Index, columns: Sequence[str] = ()) -> np.ndarray:
    """(len(times), K) float32: the latest row dated <= each time (NaN before the first), in `columns` order.

    The one as-of rule for training and serving: a server or strategy feeding a two-input
    model passes the card's `fundamentals` input columns.
    """
    _check_fundamentals(frame)
    if columns:
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise ValueError(f"fundamentals lack column(s) {missing} (have {', '.join(map(str, frame.columns))})")
        frame = frame[list(columns)]
    return frame.reindex(times, method="ffill").to_numpy(dtype="float32")


def _check_fundamentals(frame: pd.DataFrame) -> None:
    if not isinstance(frame.index, pd.DatetimeIndex):
        raise ValueError(f"fundamentals index is {type(frame.index).__name__}: expected a DatetimeIndex of dates")
    if not frame.index.is_monotonic_increasing or frame.index.has_duplicates:
        raise ValueError("fundamentals dates: expected strictly increasing dates (one row per date)")
    bad = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
    if bad:
        raise ValueError(f"fundamentals column(s) {bad}: expected numbers")
    if frame.shape[1] == 0:
        raise ValueError("fundamentals: no columns")
