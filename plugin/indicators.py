"""`SignalIndicator`: a model's class probabilities as Backtrader lines."""

from __future__ import annotations

import logging
from array import array

import backtrader as bt
import numpy as np
import pandas as pd

from signalstack.models.data import COLUMNS

from .feeds import bar_times
from .sources import SignalSource

log = logging.getLogger(__name__)

CLASSES = ("down", "flat", "up")
"""Class names a source may output, in line order: line `p_<class>` carries its probability."""


class SignalIndicator(bt.Indicator):
    """p_down, p_flat, p_up of a `SignalSource` for every bar; p_flat stays NaN for binary models.

    Backtest path (preloaded data): on the first bar it can score, it reads the whole preloaded
    series once and asks the source for all bars in one call, then serves lines from memory.
    Reading the full arrays only batches the work: `predict_series` is causal, so the value at
    bar t depends on bars <= t alone. runonce and next modes make the same single call.

    Live path (data not preloaded): bars beyond what the first call covered are scored one at a
    time with `predict_last` over the last `bars_required` bars. Those values can differ from the
    batch ones in the last float digits (features over a window instead of the whole history).
    """

    lines = tuple(f"p_{c}" for c in CLASSES)
    params = (("source", None),)

    def __init__(self) -> None:
        source: SignalSource | None = self.p.source
        if source is None:
            raise ValueError("SignalIndicator: source is None, expected a SignalSource")
        unknown = [c for c in source.outputs if c not in CLASSES]
        if unknown or "up" not in source.outputs:
            raise ValueError(f"{source.name}: outputs {source.outputs}, expected classes among "
                             f"{', '.join(CLASSES)} including 'up' (a classifier, not a regressor)")
        self._columns = [CLASSES.index(c) for c in source.outputs]
        self._scores: np.ndarray | None = None
        self.addminperiod(source.card.bars_required)

    def once(self, start: int, end: int) -> None:
        end = min(end, len(self.data.close.array))
        if start >= end:
            return
        scores = self._score_loaded()
        for k in range(len(CLASSES)):
            self.lines[k].array[start:end] = array("d", scores[start:end, k].tolist())

    def next(self) -> None:
        scores = self._score_loaded()
        i = len(self) - 1
        row = scores[i] if i < len(scores) else self._score_last()
        for k in range(len(CLASSES)):
            self.lines[k][0] = row[k]

    def probabilities(self) -> pd.DataFrame:
        """The lines so far as a frame indexed by bar time, one column per class of the source."""
        n = self.buflen()
        table = {CLASSES[k]: np.asarray(self.lines[k].array[:n]) for k in self._columns}
        return pd.DataFrame(table, index=bar_times(self.data.datetime.array[:n]))

    def _score_loaded(self) -> np.ndarray:
        """(bars, 3) probabilities for every bar the data holds, NaN where the source gave none; once."""
        if self._scores is None:
            bars = self._frame()
            scored = self.p.source.predict_series(bars).reindex(index=bars.index, columns=self.p.source.outputs)
            self._scores = self._to_lines(scored.to_numpy(dtype=np.float64))
            log.debug("%s: scored %d bars in one call", self.p.source.name, len(bars))
        return self._scores

    def _score_last(self) -> np.ndarray:
        bars = self._frame(last=self.p.source.card.bars_required)
        return self._to_lines(self.p.source.predict_last(bars).reshape(1, -1))[0]

    def _frame(self, last: int | None = None) -> pd.DataFrame:
        """The data as a bars frame: all the buffer holds, or the `last` bars up to the current one."""
        def values(line: bt.LineBuffer) -> np.ndarray:
            return np.asarray(line.array if last is None else line.get(size=last), dtype=np.float64)

        return pd.DataFrame({c: values(getattr(self.data, c)) for c in COLUMNS},
                            index=bar_times(values(self.data.datetime)))

    def _to_lines(self, probs: np.ndarray) -> np.ndarray:
        out = np.full((len(probs), len(CLASSES)), np.nan)
        out[:, self._columns] = probs
        return out
