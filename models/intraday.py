"""Day x intraday windows from minute bars: (days, bars per day, features) samples for hierarchical nets.

A sample is named by the last bar of its newest day t: it holds each of the last `days` days'
final `bars_per_day` feature rows (bars <= t) and its label compares the close of the day
`horizon` days later with the close at t (bars > t). Features run over the whole minute series,
so indicators carry across the overnight gap exactly as they do at serve time.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from .card import TensorInfo
from .features import FeatureSpec, compute_features
from .labels import LabelSpec
from .windows import Dataset, WindowSet, known_rows, labels_at, make_dataset

log = logging.getLogger(__name__)


def intraday_dataset(bars: pd.DataFrame, features: FeatureSpec, labels: LabelSpec, *, days: int | None = 10,
                     bars_per_day: int = 48, fractions: tuple[float, float, float] = (0.7, 0.15, 0.15),
                     embargo: int | None = None) -> Dataset:
    """Samples of shape (days, bars_per_day, F), or (bars_per_day, F) for one day with `days=None`.

    Label horizons count days. Days with fewer than `bars_per_day` bars after the features'
    warm-up (half sessions, the warm-up itself) are skipped and counted in the log.
    """
    if bars_per_day < 1 or (days is not None and days < 1):
        raise ValueError(f"days={days}, bars_per_day={bars_per_day}: expected positive sizes (days may be None)")
    table = compute_features(bars, features).to_numpy(dtype="float32")
    usable = np.arange(len(bars)) >= features.warmup
    day_of = bars.index.normalize()
    blocks, ends = [], []
    for _, positions in pd.Series(np.arange(len(bars)), index=day_of).groupby(level=0):
        rows = positions.to_numpy()[usable[positions.to_numpy()]]
        if len(rows) >= bars_per_day:
            blocks.append(table[rows[-bars_per_day:]])
            ends.append(bars.index[positions.iloc[-1]])
    skipped = day_of.nunique() - len(blocks)
    if skipped:
        log.info("intraday windows: %d of %d days skipped (fewer than %d bars after warm-up)", skipped,
                 day_of.nunique(), bars_per_day)
    span = days or 1
    if len(blocks) < span:
        raise ValueError(f"{len(blocks)} days with {bars_per_day} bars after warm-up: expected at least {span}")
    stacked = np.stack(blocks)
    x = np.lib.stride_tricks.sliding_window_view(stacked, span, axis=0).transpose(0, 3, 1, 2)
    x = np.ascontiguousarray(x if days else x[:, 0])
    times = pd.DatetimeIndex(ends[span - 1:])
    daily = bars.groupby(day_of).tail(1)  # each day's closing bar: labels compare day closes
    y = labels_at(daily, labels, times)
    keep = known_rows(y)
    shape = x.shape[1:]
    info = TensorInfo("features", shape, columns=tuple(features.columns), source="tensor")
    return make_dataset(WindowSet(x[keep], y[keep], times[keep]), features=features, labels=labels, window=span,
                        inputs=[info], embargo=embargo, fractions=fractions)
