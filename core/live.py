"""A model's bars input kept up to date bar by bar: a live feed scored at a flat cost per bar.

Scoring a live bar the plain way rebuilds the last `bars_required` bars and recomputes all their
features (hundreds of bars for a default spec, whose EMAs need a long warm-up) to use one new
row. Here each new bar costs one feature row:

- recursive indicators (EMA ratio, MACD, RSI, ATR) keep their state and take one step, with
  TA-Lib's own seed and recurrence, so a feed pushed from the series' first bar gives TA-Lib's
  numbers to rounding (~1e-15), and a feed started later differs by less than the seed weight the
  spec's warm-up allows (`features.SEED_WEIGHT`), as a window of recent bars does;
- windowed indicators (returns, SMA ratios, KDJ, Bollinger, W%R, OBV change, volume z-score,
  volatility) are the same TA-Lib code (`feature_matrix`) run over their own lookback only, the
  few bars they read.

The model's (window, features) input is shifted by one row per bar, and `LiveWindow` runs it
through `OnnxModel.predict` (the checks, the scaler inside the graph, the session) once per bar.
A bar at the time of the last one replaces it (a bar still forming): recursive states step again
from where they stood before that bar.

numpy and onnxruntime only per bar: no DataFrame is built.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from .bars import COLUMNS, BarsError, bar_problem
from .errors import InvalidInput
from .features import FeatureSpec, feature_matrix
from .inputs import check_finite, check_names
from .model import OnnxModel
from .outputs import join_outputs

Bar = tuple[float, float, float, float, float]
"""open, high, low, close, volume of one bar, as Python floats (C doubles: TA-Lib's arithmetic)."""

State = tuple[Any, ...]
"""A recursive indicator's state after a bar; immutable, so the state before a bar is kept for free."""

_NAN = math.nan


class _Ema:
    """TA-Lib's EMA: the mean of the first `n` values, then value += k (x - value), k = 2 / (n + 1)."""

    start: State = (0, 0.0, _NAN)  # values seen, their sum until the seed, the EMA

    def __init__(self, n: int) -> None:
        self.n, self.k = n, 2.0 / (n + 1)

    def step(self, state: State, x: float) -> tuple[State, float]:
        seen, total, value = state
        seen += 1
        if seen < self.n:
            return (seen, total + x, _NAN), _NAN
        value = (total + x) / self.n if seen == self.n else (x - value) * self.k + value
        return (seen, total, value), value


class _Wilder:
    """TA-Lib's Wilder smoothing (RSI, ATR): the mean of the first `n` values, then
    value = (value (n - 1) + x) / n, in TA-Lib's order of operations."""

    start: State = (0, 0.0, _NAN)

    def __init__(self, n: int) -> None:
        self.n = n

    def step(self, state: State, x: float) -> tuple[State, float]:
        seen, total, value = state
        seen += 1
        if seen < self.n:
            return (seen, total + x, _NAN), _NAN
        value = (total + x) / self.n if seen == self.n else (value * (self.n - 1) + x) / self.n
        return (seen, total, value), value


class _EmaRatio:
    def __init__(self, n: int) -> None:
        self.ema = _Ema(n)
        self.start = self.ema.start

    def step(self, state: State, bar: Bar, prev: Bar | None) -> tuple[State, tuple[float, ...]]:
        state, ema = self.ema.step(state, bar[3])
        return state, (bar[3] / ema - 1.0,)


class _Macd:
    """TA-Lib's MACD: both EMAs start at bar slow - 1 (the fast one seeded by the mean of its last
    `fast` closes there), the signal EMA runs over the MACD line from that bar, and all three
    outputs start where the signal does."""

    def __init__(self, fast: int, slow: int, signal: int) -> None:
        fast, slow = sorted((fast, slow))  # TA-Lib swaps them
        self.fast, self.slow = fast, slow
        self.k_fast, self.k_slow = 2.0 / (fast + 1), 2.0 / (slow + 1)
        self.signal = _Ema(signal)
        # seen, the last `slow` closes until both EMAs start, fast EMA, slow EMA, signal state
        self.start: State = (0, (), _NAN, _NAN, self.signal.start)

    def step(self, state: State, bar: Bar, prev: Bar | None) -> tuple[State, tuple[float, ...]]:
        seen, closes, fast, slow, signal = state
        close = bar[3]
        seen += 1
        if seen < self.slow:
            return (seen, (*closes, close), fast, slow, signal), (_NAN, _NAN, _NAN)
        if seen == self.slow:
            closes = (*closes, close)
            fast, slow = _mean(closes[-self.fast:]), _mean(closes)
            closes = ()
        else:
            fast = (close - fast) * self.k_fast + fast
            slow = (close - slow) * self.k_slow + slow
        line = fast - slow
        signal, smooth = self.signal.step(signal, line)
        if math.isnan(smooth):
            return (seen, closes, fast, slow, signal), (_NAN, _NAN, _NAN)
        return (seen, closes, fast, slow, signal), (line / close, smooth / close, (line - smooth) / close)


class _Rsi:
    """TA-Lib's RSI: Wilder-smoothed gains and losses of close-to-close changes; 0 when both are 0."""

    def __init__(self, n: int) -> None:
        self.gain, self.loss = _Wilder(n), _Wilder(n)
        self.start: State = (self.gain.start, self.loss.start)

    def step(self, state: State, bar: Bar, prev: Bar | None) -> tuple[State, tuple[float, ...]]:
        if prev is None:
            return state, (_NAN,)
        change = bar[3] - prev[3]
        gain, up = self.gain.step(state[0], change if change > 0 else 0.0)
        loss, down = self.loss.step(state[1], -change if change < 0 else 0.0)
        total = up + down
        rsi = _NAN if math.isnan(total) else 0.0 if abs(total) < 1e-14 else 100.0 * (up / total)
        return (gain, loss), (rsi / 100.0 - 0.5,)


class _Atr:
    """TA-Lib's ATR: the Wilder-smoothed true range, from the second bar on."""

    def __init__(self, n: int) -> None:
        self.wilder = _Wilder(n)
        self.start = self.wilder.start

    def step(self, state: State, bar: Bar, prev: Bar | None) -> tuple[State, tuple[float, ...]]:
        if prev is None:
            return state, (_NAN,)
        _, high, low, close, _ = bar
        true_range = max(high - low, abs(prev[3] - high), abs(prev[3] - low))
        state, atr = self.wilder.step(state, true_range)
        return state, (atr / close,)


def _mean(values: tuple[float, ...]) -> float:
    total = 0.0
    for x in values:  # TA-Lib's order of summation
        total += x
    return total / len(values)


_RECURSIVE = {"ema_ratio": _EmaRatio, "macd": _Macd, "rsi": _Rsi, "atr": _Atr}
"""Feature kinds whose value at a bar depends on every bar before it (with a decaying weight):
stepped one bar at a time. Every other kind reads a fixed lookback of `warmup` + 1 bars."""


class LiveFeatures:
    """The feature row of each new bar of one feed, from the state of recursive indicators and the
    last bars windowed ones read; the rows equal `feature_matrix` over the whole feed."""

    def __init__(self, spec: FeatureSpec) -> None:
        self.spec = spec
        columns = spec.columns
        recursive = [f for f in spec.features if f.kind in _RECURSIVE]
        windowed = [f for f in spec.features if f.kind not in _RECURSIVE]
        self._steppers = [_RECURSIVE[f.kind](**f.params) for f in recursive]
        self._stepped = [columns.index(c) for f in recursive for c in f.columns]
        self._windowed_spec = FeatureSpec(tuple(windowed)) if windowed else None
        self._windowed = [columns.index(c) for f in windowed for c in f.columns]
        self.lookback = max((f.warmup for f in windowed), default=0) + 1
        """Bars the windowed features read: the newest and their longest lookback."""
        # Bars in column arrays with room to append; compacted to the last `lookback` when full.
        self._room = max(4 * self.lookback, 64)
        self._columns = np.empty((len(COLUMNS), self._room))
        self._end = 0
        self._states: list[State] = [s.start for s in self._steppers]
        self._before: list[State] = list(self._states)
        self._last: Bar | None = None
        self._prev: Bar | None = None
        self.count = 0
        """Bars pushed (a replaced bar counts once)."""

    def push(self, bar: Bar, replace: bool = False) -> np.ndarray:
        """The feature row (float64, the spec's columns) of `bar`, the feed's new last bar; `replace`:
        it replaces the last bar pushed instead."""
        if replace:
            if self._last is None:
                raise ValueError("LiveFeatures.push(replace=True): no bar to replace yet, expected a bar pushed first")
            self._end -= 1
        else:
            self._prev = self._last
            self._before = self._states
            self.count += 1
        self._append(bar)
        self._last = bar
        row = np.empty(len(self.spec.columns))
        states = []
        at = 0
        for stepper, state in zip(self._steppers, self._before):
            state, values = stepper.step(state, bar, self._prev)
            states.append(state)
            row[self._stepped[at:at + len(values)]] = values
            at += len(values)
        self._states = states
        if self._windowed_spec is not None:
            start = max(0, self._end - self.lookback)
            recent = {c: self._columns[i, start:self._end] for i, c in enumerate(COLUMNS)}
            row[self._windowed] = feature_matrix(recent, self._windowed_spec)[-1]
        return row

    def _append(self, bar: Bar) -> None:
        if self._end == self._room:
            keep = self.lookback - 1
            self._columns[:, :keep] = self._columns[:, self._end - keep:self._end]
            self._end = keep
        self._columns[:, self._end] = bar
        self._end += 1


class LiveWindow:
    """Scores one live feed of a model with a bars input, bar by bar, at a flat cost per bar.

    `push` keeps the model's (window, features) input up to date and runs the model once: the
    outputs equal `model.predict_series` over the bars pushed so far (to the seed weight of the
    recursive indicators, ~1e-9, where the feed starts after the series does). Day x intraday
    models read whole days of intraday bars and stay with the plain path (a window rebuilt per
    day's close); so do tensors-only models, which read no bars.
    """

    def __init__(self, model: OnnxModel) -> None:
        info = model.bars_input
        if info is None or model.intraday:
            raise ValueError(f"model {model.name}: a live window needs a bars input of one window of feature rows, "
                             f"got {'none' if info is None else 'day x intraday blocks'}")
        self.model = model
        self.version: int | None = None
        """The model version behind the outputs: None, as for the plain in-process path (a file has no
        served version)."""
        self.gap: str | None = None  # the model runs here: a bar with its history always gets outputs
        self._info = info
        self._features = LiveFeatures(model.card.features)
        self._rows = np.full((model.window, len(model.card.features.columns)), np.nan, dtype=np.float32)
        self._time: Any = None

    def push(self, time: pd.Timestamp, bar: np.ndarray, tensors: Mapping[str, np.ndarray] | None = None, *,
             score: bool = True) -> np.ndarray | None:
        """Outputs (the model's `columns`) for the bar that closed at `time` (`bar`: open, high, low, close,
        volume), `tensors` its other inputs (one row each); a bar at the last one's time replaces it.
        None while fewer than `bars_required` bars were pushed, or when `score` is False (the bar is
        history only). Bad bar values and tensors raise InvalidInput naming them."""
        values = np.asarray(bar, dtype=np.float64).reshape(len(COLUMNS))
        problem = bar_problem(*values.tolist())
        if problem is not None:
            raise BarsError(f"live bar {time}: {problem}")
        replace = self._time is not None and time == self._time
        row = self._features.push(tuple(values.tolist()), replace=replace)
        if not replace:
            self._rows[:-1] = self._rows[1:]
        self._rows[-1] = row
        self._time = time
        if not score or self._features.count < self.model.bars_required:
            return None
        return self._run(tensors or {})

    def _run(self, tensors: Mapping[str, np.ndarray]) -> np.ndarray:
        model = self.model
        check_names(model.tensor_inputs, tensors, model.name, f" besides bars for {self._info.name!r}")
        inputs = {name: np.asarray(x, dtype=np.float32)[-1:] for name, x in tensors.items()}
        check_finite(inputs)
        inputs[self._info.name] = self._rows.reshape(1, *self._info.shape)
        try:
            return join_outputs(model.predict(inputs))[0]
        except InvalidInput as exc:
            raise InvalidInput(f"live bar {self._time}: {exc}") from None

