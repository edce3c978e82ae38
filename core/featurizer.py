"""Bars -> the tensor of a model's bars input, by its card's features, window and day rule.

A model reads at most one input made from bars: a (window, features) matrix of the features of
the last bars (the newest feature row alone for a 1-D input), or day x intraday blocks of each
day's last bars (see `days`). The featurizer checks the bars it is given and computes exactly
what the model was trained on, for one prediction (`window`) or for every bar of a series
(`series`, features computed once).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from .bars import COLUMNS, check_values
from .card import ModelCard, TensorInfo
from .days import day_blocks, day_windows
from .errors import InvalidInput
from .features import feature_matrix
from .times import unix_times

Bars = Mapping[str, Any]
"""Anything with open/high/low/close/volume columns: a DataFrame or a dict of 1-D arrays (with
unix seconds in "time" where an intraday model needs bar times)."""


class Featurizer:
    """The bars input of one model; `model` names it in error messages."""

    def __init__(self, card: ModelCard, model: str) -> None:
        self.card = card
        self.model = model
        self.info = card.bars_input
        self.intraday = card.intraday
        self.window_size = card.window
        self.bars_required = card.bars_required
        self._spec = card.features

    def window(self, bars: Bars, what: str = "window") -> np.ndarray:
        """The bars input for the last bar of `bars`, after checking the bars; `what` names them in errors.

        An intraday input reads every bar given (days may hold more bars than a block): its last
        block must end at the last bar, so score a day at its closing bar.
        """
        info = self._info()
        arrays = bar_arrays(bars, what)
        n = len(arrays["close"])
        self._enough(n, what)
        if self.intraday:
            times = _bar_times(bars, n, what)
            check_values(arrays, what)
            blocks, ends = self._day_blocks(feature_matrix(arrays, self._spec).astype(np.float32), times)
            span = self.window_size
            if len(ends) < span or ends[-1] != n - 1:
                raise InvalidInput(
                    f"{what}: {len(ends)} days with {info.shape[-2]} bars after the warm-up "
                    f"ending at the last bar, expected the last {span} days complete up to it"
                )
            return day_windows(blocks[-span:], span if len(info.shape) == 3 else None)[-1]
        tail = {c: a[-self.bars_required :] for c, a in arrays.items()}
        check_values(tail, what)
        return feature_matrix(tail, self._spec)[-self.window_size :].reshape(info.shape)

    def series(self, bars: Bars) -> tuple[int, np.ndarray, np.ndarray]:
        """(bars given, positions, inputs): the bars input of every bar with enough history, and those
        bars' positions.

        Features are computed once over the whole series: the fast path for backtests. An
        intraday model gets one sample per day, at its closing bar.
        """
        info = self._info()
        arrays = bar_arrays(bars, "series")
        n = len(arrays["close"])
        self._enough(n, "series")
        check_values(arrays, "series")
        table = feature_matrix(arrays, self._spec).astype(np.float32)
        if self.intraday:
            blocks, ends = self._day_blocks(table, _bar_times(bars, n, "series"))
            if len(ends) < self.window_size:
                raise InvalidInput(
                    f"series: {len(ends)} days with {info.shape[-2]} bars after the warm-up, "
                    f"expected at least {self.window_size}"
                )
            days = self.window_size if len(info.shape) == 3 else None
            return n, ends[self.window_size - 1 :], day_windows(blocks, days)
        positions = np.arange(self.bars_required - 1, n)
        windows = np.lib.stride_tricks.sliding_window_view(table[self.card.warmup :], self.window_size, axis=0)
        return n, positions, windows.transpose(0, 2, 1).reshape(len(positions), *info.shape)

    def _enough(self, n: int, what: str) -> None:
        if n < self.bars_required:
            needs = (
                f"{self.window_size} days of {self._info().shape[-2]} bars"
                if self.intraday
                else f"window {self.window_size}"
            )
            raise InvalidInput(
                f"{what}: {n} bars, expected at least {self.bars_required} ({needs} + warm-up {self.card.warmup})"
            )

    def _day_blocks(self, table: np.ndarray, times: pd.DatetimeIndex) -> tuple[np.ndarray, np.ndarray]:
        return day_blocks(table, times, self.card.warmup, self._info().shape[-2])

    def _info(self) -> TensorInfo:
        if self.info is None:
            raise InvalidInput(
                f"model {self.model} takes no bars: its inputs are tensors "
                f"({', '.join(i.name for i in self.card.inputs)}); send them as tensors"
            )
        return self.info


def _bar_times(bars: Bars, n: int, what: str) -> pd.DatetimeIndex:
    """Each bar's time: a DataFrame's DatetimeIndex, or a mapping's "time" column of unix seconds."""
    if isinstance(bars, pd.DataFrame) and isinstance(bars.index, pd.DatetimeIndex):
        times = bars.index
    elif not isinstance(bars, pd.DataFrame) and "time" in bars and len(bars["time"]):
        times = unix_times(bars["time"])
    else:
        raise InvalidInput(
            f"{what}: no bar times: an intraday model groups bars into days (expected a "
            "DatetimeIndex, or unix seconds in 'time')"
        )
    if len(times) != n or not times.is_monotonic_increasing:
        raise InvalidInput(f"{what}: {len(times)} bar times for {n} bars, expected one increasing time per bar")
    return times


def _floats(column: Any) -> np.ndarray:
    # A pandas column converts faster through to_numpy than through the array protocol.
    if isinstance(column, pd.Series):
        return column.to_numpy(dtype=np.float64)
    return np.asarray(column, dtype=np.float64)


def bar_arrays(bars: Bars, what: str) -> dict[str, np.ndarray]:
    """The OHLCV columns of `bars` as float64 arrays of one length, or InvalidInput naming `what`."""
    try:
        arrays = {c: _floats(bars[c]) for c in COLUMNS}
    except KeyError as exc:
        raise InvalidInput(f"{what}: missing column {exc.args[0]!r} (expected {', '.join(COLUMNS)})") from None
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"{what}: bar values must be numbers ({exc})") from None
    lengths = {c: a.shape for c, a in arrays.items()}
    if len(set(lengths.values())) != 1 or arrays["close"].ndim != 1:
        raise InvalidInput(f"{what}: columns must be 1-D and of equal length, got shapes {lengths}")
    return arrays
