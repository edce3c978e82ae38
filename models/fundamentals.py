"""Two-input samples: a user's fundamental factors (a DataFrame keyed by date) beside technical windows.

The fundamentals of a sample at bar t are the latest row dated <= t, so rows must be dated
when they became known (publication, not period end). Samples before the first row are dropped.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from signalstack.core.card import TensorInfo
from signalstack.core.errors import InvalidInput
from signalstack.core.features import FeatureSpec, compute_features
from signalstack.core.fundamentals import fundamentals_at
from signalstack.core.labels import LabelSpec

from .windows import Dataset, WindowSet, known_rows, labels_at, make_dataset, make_windows


def fundamental_dataset(
    bars: pd.DataFrame,
    fundamentals: pd.DataFrame,
    features: FeatureSpec,
    labels: LabelSpec | Mapping[str, LabelSpec],
    window: int,
    *,
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15),
    embargo: int | None = None,
) -> Dataset:
    """Inputs `fundamentals` (K,) and `features` (window, F); one target, or {output name: spec} for multitask."""
    table = compute_features(bars, features)
    windows = make_windows(table, None, window, first=features.warmup)
    known = fundamentals_at(fundamentals, windows.times)
    y = labels_at(bars, labels, windows.times)
    keep = known_rows(known) & known_rows(y)
    if not keep.any():
        raise InvalidInput(
            f"no window has fundamentals dated on or before it (first row {fundamentals.index[0]}, "
            f"last window {windows.times[-1]})"
        )
    x = {"fundamentals": known[keep], "features": windows.x[keep]}
    y = {name: a[keep] for name, a in y.items()} if isinstance(y, Mapping) else y[keep]
    inputs = [
        TensorInfo(
            "fundamentals", (fundamentals.shape[1],), columns=tuple(map(str, fundamentals.columns)), origin="tensor"
        ),
        TensorInfo("features", (window, len(features.columns)), columns=tuple(features.columns), origin="bars"),
    ]
    return make_dataset(
        WindowSet(x, y, windows.times[keep]),
        features=features,
        labels=labels,
        window=window,
        inputs=inputs,
        embargo=embargo,
        fractions=fractions,
    )
