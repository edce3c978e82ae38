"""Day x intraday windows from minute bars: (days, bars per day, features) samples for hierarchical nets.

A sample is named by the last bar of its newest day t: it holds each of the last `days` days'
final `bars_per_day` feature rows (bars <= t) and its label compares the close of the day
`horizon` days later with the close at t (bars > t). Features run over the whole minute series,
so indicators carry across the overnight gap exactly as they do at serve time.
"""

from __future__ import annotations

import logging

import pandas as pd

from signalstack.core.card import TensorInfo
from signalstack.core.days import day_blocks, day_windows
from signalstack.core.errors import InvalidInput, SettingsError
from signalstack.core.features import FeatureSpec, compute_features
from signalstack.core.labels import LabelSpec

from .windows import Dataset, WindowSet, known_rows, labels_at, make_dataset

log = logging.getLogger(__name__)


def intraday_dataset(
    bars: pd.DataFrame,
    features: FeatureSpec,
    labels: LabelSpec,
    *,
    days: int | None = 10,
    bars_per_day: int = 48,
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15),
    embargo: int | None = None,
) -> Dataset:
    """Samples of shape (days, bars_per_day, F), or (bars_per_day, F) for one day with `days=None`.

    Label horizons count days. Days with fewer than `bars_per_day` bars after the features'
    warm-up (half sessions, the warm-up itself) are skipped and counted in the log.
    """
    if bars_per_day < 1 or (days is not None and days < 1):
        raise SettingsError(f"days={days}, bars_per_day={bars_per_day}: expected positive sizes (days may be None)")
    table = compute_features(bars, features).to_numpy(dtype="float32")
    blocks, ends = day_blocks(table, pd.DatetimeIndex(bars.index), features.warmup, bars_per_day)
    total = bars.index.normalize().nunique()
    if total > len(blocks):
        log.info(
            "intraday windows: %d of %d days skipped (fewer than %d bars after warm-up)",
            total - len(blocks),
            total,
            bars_per_day,
        )
    span = days or 1
    if len(blocks) < span:
        raise InvalidInput(f"{len(blocks)} days with {bars_per_day} bars after warm-up: expected at least {span}")
    x = day_windows(blocks, days)
    times = bars.index[ends[span - 1 :]]
    daily = bars.groupby(bars.index.normalize()).tail(1)  # each day's closing bar: labels compare day closes
    y = labels_at(daily, labels, times)
    keep = known_rows(y)
    info = TensorInfo("features", x.shape[1:], columns=tuple(features.columns), origin="intraday")
    return make_dataset(
        WindowSet(x[keep], y[keep], times[keep]),
        features=features,
        labels=labels,
        window=span,
        inputs=[info],
        embargo=embargo,
        fractions=fractions,
    )
