"""The feature row of each new bar of a live feed, in plain Python at a flat cost per bar.

`feature_matrix` recomputes whole columns through TA-Lib; a live feed needs one new row per bar,
and dozens of numpy/TA-Lib calls on a few bars each cost more than the arithmetic they do. Here
each feature kind computes the newest bar's value from Python floats:

- recursive indicators (EMA ratio, MACD, RSI, ATR) keep their state and take one step, with
  TA-Lib's own seed and recurrence, so a feed pushed from the series' first bar gives TA-Lib's
  numbers to rounding (~1e-15), and a feed started later differs by less than the seed weight the
  spec's warm-up allows (`features.SEED_WEIGHT`);
- windowed indicators (returns, SMA ratios, KDJ, Bollinger, W%R, OBV change, volume z-score,
  volatility) read the last few bars, kept in bounded deques, with TA-Lib's arithmetic and its
  zero rules (a flat range, a flat window), so they equal `feature_matrix` to rounding (TA-Lib's
  running sums carry the rounding of the whole series, these sum the window afresh) and exactly on
  flat prices.

A bar at the time of the last one replaces it (a bar still forming): recursive states step again
from where they stood before that bar, and the windows drop the replaced bar.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

import numpy as np

from .features import FeatureSpec

Bar = tuple[float, float, float, float, float]
"""open, high, low, close, volume of one bar, as Python floats (C doubles: TA-Lib's arithmetic)."""

State = tuple[Any, ...]
"""A recursive indicator's state after a bar; immutable, so the state before a bar is kept for free."""

_NAN = math.nan

_EPSILON = 1e-14
"""TA-Lib's TA_EPSILON: a range within this share of its extremes' magnitude is flat (STOCH, WILLR)."""


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
    """TA-Lib's RSI: Wilder-smoothed gains and losses of close-to-close changes; 0 when both are 0
    (exactly 0: TA-Lib 0.8 dropped its fixed 1e-14 band, which zeroed every series quoted below ~1e-13)."""

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
        rsi = _NAN if math.isnan(total) else 100.0 * (up / total) if total > 0.0 else 0.0
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


class _Window:
    """The last bars of a feed as lists, oldest first, built once per bar for every windowed kind."""

    __slots__ = ("high", "low", "close", "volume", "log_close")

    def __init__(self, high: list[float], low: list[float], close: list[float], volume: list[float],
                 log_close: list[float]) -> None:
        self.high, self.low, self.close, self.volume, self.log_close = high, low, close, volume, log_close


def _ratio(num: float, den: float) -> float:
    """num / den with 0 where den is 0, as `features._ratio` (flat volume, flat range: no signal)."""
    return num / den if den != 0.0 else 0.0


def _std(values: list[float]) -> float:
    """TA-Lib's STDDEV (nbdev 1) of a window, as its VAR computes a window afresh: deviations from
    the window's mean, the mean deviation's square taken off, and 0 where what is left is below
    1e-12 of the mean squared deviation (no spread the mean could resolve: a flat window)."""
    inv = 1.0 / len(values)
    total = 0.0
    for x in values:
        total += x
    shift = total * inv
    total1 = total2 = 0.0
    for x in values:
        d = x - shift
        total1 += d
        total2 += d * d
    mean = total1 * inv
    variance = total2 * inv - mean * mean
    if variance < 1e-12 * (total2 * inv):
        return 0.0
    return math.sqrt(variance)


def _flat(highest: float, lowest: float) -> bool:
    """TA-Lib's test of a flat high-low range (STOCH, WILLR): within TA_EPSILON of its extremes."""
    return abs(highest - lowest) <= _EPSILON * (abs(highest) + abs(lowest))


class _Ret:
    """log(close / close n bars before)."""

    def __init__(self, n: int) -> None:
        self.n = n

    def values(self, w: _Window) -> tuple[float, ...]:
        close = w.close
        if len(close) <= self.n:
            return (_NAN,)
        return (math.log(close[-1] / close[-1 - self.n]),)


class _MaRatio:
    """close / SMA(close, n) - 1."""

    def __init__(self, n: int) -> None:
        self.n = n

    def values(self, w: _Window) -> tuple[float, ...]:
        close = w.close
        if len(close) < self.n:
            return (_NAN,)
        return (close[-1] / (sum(close[-self.n:]) / self.n) - 1.0,)


class _Kdj:
    """TA-Lib's STOCH with SMA smoothing: fast %K of each of the last k + d - 1 bars (0 on a flat
    range), slow %K the mean of the last k of them, slow %D the mean of the last d slow %K."""

    def __init__(self, n: int, k: int, d: int) -> None:
        self.n, self.k, self.d = n, k, d
        self.reads = n + k + d - 2

    def values(self, w: _Window) -> tuple[float, ...]:
        high, low, close = w.high, w.low, w.close
        size = len(close)
        if size < self.reads:
            return (_NAN, _NAN, _NAN)
        n, k, d = self.n, self.k, self.d
        fast = []
        for end in range(size - k - d + 2, size + 1):
            highest, lowest = max(high[end - n:end]), min(low[end - n:end])
            fast.append(0.0 if _flat(highest, lowest) else (close[end - 1] - lowest) / ((highest - lowest) / 100.0))
        slow = [sum(fast[i:i + k]) / k for i in range(d)]
        slow_k, slow_d = slow[-1], sum(slow) / d
        return (slow_k / 100.0 - 0.5, slow_d / 100.0 - 0.5, (3.0 * slow_k - 2.0 * slow_d) / 100.0 - 0.5)


class _Bbands:
    """TA-Lib's BBANDS (SMA middle band): %B (0 within a zero-width band) and the width over the middle."""

    def __init__(self, n: int, dev: float) -> None:
        self.n, self.dev = n, dev

    def values(self, w: _Window) -> tuple[float, ...]:
        close = w.close
        if len(close) < self.n:
            return (_NAN, _NAN)
        recent = close[-self.n:]
        middle = sum(recent) / self.n
        width = _std(recent) * self.dev
        upper, lower = middle + width, middle - width
        return (_ratio(close[-1] - lower, upper - lower) - 0.5, (upper - lower) / middle)


class _Willr:
    """TA-Lib's Williams %R (0 on a flat range), shifted to [-0.5, 0.5]."""

    def __init__(self, n: int) -> None:
        self.n = n

    def values(self, w: _Window) -> tuple[float, ...]:
        if len(w.close) < self.n:
            return (_NAN,)
        highest, lowest = max(w.high[-self.n:]), min(w.low[-self.n:])
        if _flat(highest, lowest):
            return (0.5,)
        return ((highest - w.close[-1]) / ((highest - lowest) / -100.0) / 100.0 + 0.5,)


class _Obv:
    """OBV's change over n bars (each bar's volume, signed by its close's move) over the volume traded."""

    def __init__(self, n: int) -> None:
        self.n = n

    def values(self, w: _Window) -> tuple[float, ...]:
        close, volume = w.close, w.volume
        size = len(close)
        if size <= self.n:
            return (_NAN,)
        change = 0.0
        for i in range(size - self.n, size):
            if close[i] > close[i - 1]:
                change += volume[i]
            elif close[i] < close[i - 1]:
                change -= volume[i]
        return (_ratio(change, sum(volume[-self.n:])),)


class _VolumeZ:
    """(volume - SMA) / STDDEV over n bars; 0 where the deviation is rounding noise of a flat run."""

    def __init__(self, n: int) -> None:
        self.n = n

    def values(self, w: _Window) -> tuple[float, ...]:
        volume = w.volume
        if len(volume) < self.n:
            return (_NAN,)
        recent = volume[-self.n:]
        mean = sum(recent) / self.n
        std = _std(recent)
        if not std > 1e-9 * max(mean, 1.0):
            std = 0.0
        return (_ratio(volume[-1] - mean, std),)


class _Volatility:
    """STDDEV of the last n log returns."""

    def __init__(self, n: int) -> None:
        self.n = n

    def values(self, w: _Window) -> tuple[float, ...]:
        logs = w.log_close
        size = len(logs)
        if size <= self.n:
            return (_NAN,)
        return (_std([logs[i] - logs[i - 1] for i in range(size - self.n, size)]),)


_WINDOWED = {"ret": _Ret, "ma_ratio": _MaRatio, "kdj": _Kdj, "bbands": _Bbands, "willr": _Willr, "obv": _Obv,
             "volume_z": _VolumeZ, "volatility": _Volatility}
"""Feature kinds whose value at a bar reads its last `warmup` + 1 bars only."""


class LiveFeatures:
    """The feature row of each new bar of one feed, from the state of recursive indicators and the
    last bars windowed ones read; the rows equal `feature_matrix` over the whole feed."""

    def __init__(self, spec: FeatureSpec) -> None:
        unknown = sorted({f.kind for f in spec.features} - set(_RECURSIVE) - set(_WINDOWED))
        if unknown:
            raise ValueError(f"LiveFeatures: feature kind(s) {unknown} have no live computation "
                             f"(expected one of {sorted({*_RECURSIVE, *_WINDOWED})})")
        self.spec = spec
        columns = spec.columns
        recursive = [f for f in spec.features if f.kind in _RECURSIVE]
        windowed = [f for f in spec.features if f.kind in _WINDOWED]
        self._steppers = [_RECURSIVE[f.kind](**f.params) for f in recursive]
        self._stepped = [columns.index(c) for f in recursive for c in f.columns]
        self._kinds = [_WINDOWED[f.kind](**f.params) for f in windowed]
        self._windowed = [columns.index(c) for f in windowed for c in f.columns]
        self.lookback = max((f.warmup for f in windowed), default=0) + 1
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
        row = [_NAN] * len(self.spec.columns)
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
            window = _Window(list(highs), list(lows), list(closes), list(volumes), list(logs))
            at = 0
            for kind in self._kinds:
                for x in kind.values(window):
                    row[self._windowed[at]] = x
                    at += 1
        return np.array(row)
