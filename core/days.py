"""The day rule of day x intraday models: which intraday bars make each day's block.

Training (`signalstack.models.intraday`) and serving (`model.OnnxModel`) both cut days with
these two functions, so a served day block is the block the model was trained on.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def day_blocks(
    table: np.ndarray, times: pd.DatetimeIndex, first: int, bars_per_day: int
) -> tuple[np.ndarray, np.ndarray]:
    """(blocks (kept days, bars_per_day, F), position of each kept day's last bar): each day's final
    `bars_per_day` feature rows at positions >= `first`; days with fewer such rows are skipped.

    The one day rule for training and serving (`times` in order; a day is a calendar date).
    """
    day = times.normalize().asi8
    starts = np.flatnonzero(np.r_[True, day[1:] != day[:-1]])
    ends = np.r_[starts[1:], len(day)] - 1
    ends = ends[ends - np.maximum(starts, first) + 1 >= bars_per_day]
    if not len(ends):
        return np.empty((0, bars_per_day, table.shape[1]), table.dtype), ends
    rows = np.lib.stride_tricks.sliding_window_view(table, bars_per_day, axis=0)[ends - bars_per_day + 1]
    return rows.transpose(0, 2, 1), ends


def day_windows(blocks: np.ndarray, days: int | None) -> np.ndarray:
    """Samples of `days` consecutive kept days (N, days, bars_per_day, F), or the blocks themselves for None."""
    if days is None:
        return np.ascontiguousarray(blocks)
    x = np.lib.stride_tricks.sliding_window_view(blocks, days, axis=0).transpose(0, 3, 1, 2)
    return np.ascontiguousarray(x)
