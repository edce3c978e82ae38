"""Dated fundamental factors: loading them, and the as-of rule that says which row a bar sees.

A bar at time t sees the latest row dated <= t, so rows must be dated when they became known
(publication, not period end). Training, serving and backtests all use `fundamentals_at`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import InvalidInput, NotFound


def load_fundamentals(source: str | Path | pd.DataFrame) -> pd.DataFrame:
    """Fundamental factors from a CSV (first column: the date each row became known) or a DataFrame, checked."""
    if isinstance(source, pd.DataFrame):
        frame = source
    else:
        path = Path(source)
        if not path.is_file():
            raise NotFound(f"{path}: no such file (expected a CSV of dated fundamental factors)")
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
            raise InvalidInput(f"fundamentals lack column(s) {missing} (have {', '.join(map(str, frame.columns))})")
        frame = frame[list(columns)]
    return frame.reindex(times, method="ffill").to_numpy(dtype="float32")


def _check_fundamentals(frame: pd.DataFrame) -> None:
    if not isinstance(frame.index, pd.DatetimeIndex):
        raise InvalidInput(f"fundamentals index is {type(frame.index).__name__}: expected a DatetimeIndex of dates")
    if not frame.index.is_monotonic_increasing or frame.index.has_duplicates:
        raise InvalidInput("fundamentals dates: expected strictly increasing dates (one row per date)")
    bad = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
    if bad:
        raise InvalidInput(f"fundamentals column(s) {bad}: expected numbers")
    if frame.shape[1] == 0:
        raise InvalidInput("fundamentals: no columns")
