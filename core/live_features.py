"""The feature row of each new bar of a live feed, in plain Python at a flat cost per bar.

`feature_matrix` recomputes whole columns through TA-Lib; a live feed needs one new row per bar.
`LiveFeatures` runs each feature kind's incremental form (core.features, beside its batch form):
recursive kinds take one step from their state, windowed kinds read the last bars, kept in bounded
deques, so the rows equal `feature_matrix` over the whole feed to rounding.

A bar at the time of the last one replaces it (a bar still forming): recursive states step again
from where they stood before that bar, and the windows drop the replaced bar.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from .features import Bar, FeatureSpec, RecursiveKind, State, Window, WindowedKind


class LiveFeatures:
    """The feature row of each new bar of one feed, from the state of recursive indicators and the
    last bars windowed ones read; the rows equal `feature_matrix` over the whole feed."""

    def __init__(self, spec: FeatureSpec) -> None:
        self.spec = spec
        columns = spec.columns
        maths = [f.maths for f in spec.features]
        self._steppers = [m for m in maths if isinstance(m, RecursiveKind)]
        self._stepped = [columns.index(c) for m in self._steppers for c in m.columns]
        self._kinds = [m for m in maths if isinstance(m, WindowedKind)]
        self._windowed = [columns.index(c) for m in self._kinds for c in m.columns]
        self._width = len(columns)
        self.lookback = max((m.warmup for m in self._kinds), default=0) + 1
        """Bars the windowed features read: the newest and their longest lookback."""
        # The last `lookback` bars' columns: bounded, and a replaced bar is popped off the end.
        self._columns: tuple[deque[float], ...] = tuple(deque(maxlen=self.lookback) for _ in range(5))
        self._states: list[State] = [s.start for s in self._steppers]
        self._before: list[State] = list(self._states)
        self._last: Bar | None = None
        self._prev: Bar | None = None
        self.count = 0
        """Bars pushed (a replaced bar counts once)."""

    def push(self, bar: Bar, replace: bool = False) -> np.ndarray:
        """The feature row (float64, the spec's columns) of `bar`, the feed's new last bar; `replace`:
        it replaces the last bar pushed instead."""
        highs, lows, closes, volumes, logs = self._columns
        if replace:
            if self._last is None:
                raise ValueError("LiveFeatures.push(replace=True): no bar to replace yet, expected a bar pushed first")
            for column in self._columns:
                column.pop()
        else:
            self._prev = self._last
            self._before = self._states
            self.count += 1
        self._last = bar
        _, high, low, close, volume = bar
        highs.append(high)
        lows.append(low)
        closes.append(close)
        volumes.append(volume)
        logs.append(math.log(close))
        row = [math.nan] * self._width
        states = []
        at = 0
        for stepper, state in zip(self._steppers, self._before):
            state, values = stepper.step(state, bar, self._prev)
            states.append(state)
            for x in values:
                row[self._stepped[at]] = x
                at += 1
        self._states = states
        if self._kinds:
            window = Window(list(highs), list(lows), list(closes), list(volumes), list(logs))
            at = 0
            for kind in self._kinds:
                for x in kind.values(window):
                    row[self._windowed[at]] = x
                    at += 1
        return np.array(row)
