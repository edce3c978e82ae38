"""Technical features declared by a serialisable `FeatureSpec`, from one registry of feature kinds.

Every feature is scale-free (a ratio, a return or an oscillator divided by its range) so a
model trained on one price level or symbol can be used on another. A feature at bar t reads
bars <= t only: TA-Lib's functions are causal and nothing here shifts data backwards.

A kind is one class: its name, its parameters (its `__init__`'s keywords, with their defaults and
checks), its columns and warm-up, and its two forms side by side:

- `batch`: whole columns through TA-Lib, for `feature_matrix` (training, backtests, a served window);
- the newest bar's values in plain Python, for `LiveFeatures` (a live feed's row per bar, where numpy
  and TA-Lib calls on a few values cost more than their arithmetic). A recursive kind (EMA ratio,
  MACD, RSI, ATR) `step`s its state with TA-Lib's own seed and recurrence, so a feed pushed from the
  series' first bar gives TA-Lib's numbers to rounding (~1e-15), and one started later differs by
  less than the seed weight the warm-up allows (`SEED_WEIGHT`); a windowed kind computes its
  `values` from the last `warmup` + 1 bars with TA-Lib's arithmetic and zero rules (TA-Lib 0.8.1: a
  flat range, a flat window), equal to the batch form to rounding (TA-Lib's running sums carry the
  whole series' rounding, these sum the window afresh) and exactly on flat prices.

This module is imported by the server and the plugin: numpy, pandas and TA-Lib only.
"""

from __future__ import annotations

import inspect
import math
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from numbers import Integral, Real
from types import SimpleNamespace
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import talib

from .errors import SettingsError


def _unwrapped(name: str) -> Callable[..., Any]:
    """TA-Lib's function without the pandas/polars type check `talib` wraps it in: the inputs here
    are float64 arrays already, and on a serve-time window that check costs more than the indicator."""
    fn = getattr(talib, name)
    return getattr(fn, "__wrapped__", fn)


_ta = SimpleNamespace(
    **{
        name: _unwrapped(name)
        for name in ("ATR", "BBANDS", "EMA", "MACD", "OBV", "RSI", "SMA", "STDDEV", "STOCH", "SUM", "WILLR")
    }
)

# Recursive indicators (EMA, Wilder smoothing) remember their seed forever, with a weight that
# decays geometrically. A serve-time window carries enough extra bars for that weight to fall
# below this bound, so features on a short recent window equal those on the full history.
SEED_WEIGHT = 1e-9

Arrays = dict[str, np.ndarray]
"""Whole bar columns by name (open, high, low, close, volume), float64: what `batch` reads."""
Columns = tuple[np.ndarray, ...]
"""A kind's feature columns, in the order of its `columns`."""
Bar = tuple[float, float, float, float, float]
"""open, high, low, close, volume of one bar, as Python floats (C doubles: TA-Lib's arithmetic)."""
State = tuple[Any, ...]
"""A recursive indicator's state after a bar; immutable, so the state before a bar is kept for free."""
Values = tuple[float, ...]
"""A kind's features at the newest bar, in the order of its `columns`."""

_NAN = math.nan

_EPSILON = 1e-14
"""TA-Lib's TA_EPSILON: a range within this share of its extremes' magnitude is flat (STOCH, WILLR)."""


class Window:
    """The last bars of a feed as lists, oldest first, built once per bar for every windowed kind."""

    __slots__ = ("high", "low", "close", "volume", "log_close")

    def __init__(
        self, high: list[float], low: list[float], close: list[float], volume: list[float], log_close: list[float]
    ) -> None:
        self.high, self.low, self.close, self.volume, self.log_close = high, low, close, volume, log_close


_KINDS: dict[str, type[FeatureKind]] = {}


class FeatureKind(ABC):
    """A feature kind with its parameters: its columns, its warm-up, and its batch form beside its
    incremental one (`RecursiveKind.step` or `WindowedKind.values`). A subclass named in its class
    line (`class _Rsi(RecursiveKind, name="rsi")`) is registered under that name."""

    name: ClassVar[str]
    defaults: ClassVar[dict[str, Any]]
    """The kind's parameters, its `__init__`'s keywords, with their defaults."""
    columns: list[str]
    warmup: int
    """Bars before the first value that matches a computation over any longer history."""

    def __init_subclass__(cls, name: str = "", **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if name:
            cls.name = name
            cls.defaults = {p.name: p.default for p in inspect.signature(cls).parameters.values()}
            _KINDS[name] = cls

    @abstractmethod
    def batch(self, b: Arrays) -> Columns:
        """The kind's columns for every bar (NaN before its lookback), through TA-Lib."""


class RecursiveKind(FeatureKind):
    """A kind whose value at a bar depends on every bar before it (with a decaying weight): stepped
    one bar at a time from the state `start`."""

    start: State

    @abstractmethod
    def step(self, state: State, bar: Bar, prev: Bar | None) -> tuple[State, Values]:
        """The state after `bar` and the kind's values at it, from the state before it (`prev`: the bar before)."""


class WindowedKind(FeatureKind):
    """A kind whose value at a bar reads that bar and the `warmup` bars before it only."""

    @abstractmethod
    def values(self, w: Window) -> Values:
        """The kind's values at the newest bar of `w`, which holds that bar and at least the `warmup` before it
        (with fewer, the values are NaN, as the batch form's)."""


def _period(name: str, value: Any, least: int) -> int:
    """`value` when it is an integer >= `least` (TA-Lib's bound for the period, or the one a warm-up needs)."""
    if isinstance(value, bool) or not isinstance(value, Integral) or value < least:
        raise SettingsError(f"{name} {value!r}, expected an integer >= {least}")
    return int(value)


def _converge(period: float, alpha: float | None = None) -> int:
    """Bars after which an exponential smoother's seed weighs less than SEED_WEIGHT."""
    alpha = alpha if alpha is not None else 2.0 / (period + 1.0)
    return math.ceil(math.log(SEED_WEIGHT) / math.log(1.0 - alpha))


def _ratios(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den with 0 where den is 0 (flat volume, flat range): no signal rather than inf."""
    out = np.zeros_like(num)
    np.divide(num, den, out=out, where=den != 0)
    out[np.isnan(num) | np.isnan(den)] = np.nan
    return out


def _ratio(num: float, den: float) -> float:
    """num / den with 0 where den is 0, as `_ratios` does for whole columns."""
    return num / den if den != 0.0 else 0.0


def _mean(values: tuple[float, ...]) -> float:
    total = 0.0
    for x in values:  # TA-Lib's order of summation
        total += x
    return total / len(values)


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


class _Smoother:
    """TA-Lib's EMA (value += k (x - value), k = 2 / (n + 1)) or, `wilder`, its Wilder smoothing (RSI,
    ATR: value = (value (n - 1) + x) / n), in TA-Lib's order of operations, seeded by the mean of the
    first `n` values."""

    start: State = (0, 0.0, _NAN)  # values seen, their sum until the seed, the smoothed value

    def __init__(self, n: int, wilder: bool = False) -> None:
        self.n, self.k, self.wilder = n, 2.0 / (n + 1), wilder

    def step(self, state: State, x: float) -> tuple[State, float]:
        seen, total, value = state
        seen += 1
        if seen < self.n:
            return (seen, total + x, _NAN), _NAN
        if seen == self.n:
            value = (total + x) / self.n
        else:
            value = (value * (self.n - 1) + x) / self.n if self.wilder else (x - value) * self.k + value
        return (seen, total, value), value


class _Ret(WindowedKind, name="ret"):
    """ret_{n}: log(close / close n bars before)."""

    def __init__(self, n: int = 1) -> None:
        self.n = _period("n", n, 1)
        self.columns, self.warmup = [f"ret_{n}"], n

    def batch(self, b: Arrays) -> Columns:
        close, n = b["close"], self.n
        out = np.full_like(close, np.nan)
        out[n:] = np.log(close[n:] / close[:-n])
        return (out,)

    def values(self, w: Window) -> Values:
        return (math.log(w.close[-1] / w.close[-1 - self.n]),)


class _MaRatio(WindowedKind, name="ma_ratio"):
    """ma{n}_ratio: close / SMA(close, n) - 1."""

    def __init__(self, n: int = 10) -> None:
        self.n = _period("n", n, 1)
        self.columns, self.warmup = [f"ma{n}_ratio"], n - 1

    def batch(self, b: Arrays) -> Columns:
        return (b["close"] / _ta.SMA(b["close"], timeperiod=self.n) - 1.0,)

    def values(self, w: Window) -> Values:
        return (w.close[-1] / (sum(w.close[-self.n :]) / self.n) - 1.0,)


class _EmaRatio(RecursiveKind, name="ema_ratio"):
    """ema{n}_ratio: close / EMA(close, n) - 1."""

    def __init__(self, n: int = 20) -> None:
        self.n = _period("n", n, 2)
        self.columns, self.warmup = [f"ema{n}_ratio"], n - 1 + _converge(n)
        self.ema = _Smoother(n)
        self.start = self.ema.start

    def batch(self, b: Arrays) -> Columns:
        return (b["close"] / _ta.EMA(b["close"], timeperiod=self.n) - 1.0,)

    def step(self, state: State, bar: Bar, prev: Bar | None) -> tuple[State, Values]:
        state, ema = self.ema.step(state, bar[3])
        return state, (bar[3] / ema - 1.0,)


class _Macd(RecursiveKind, name="macd"):
    """macd, macd_signal, macd_hist: TA-Lib's MACD over the close. Both EMAs start at bar slow - 1
    (the fast one seeded by the mean of its last `fast` closes there), the signal EMA runs over the
    MACD line from that bar, and all three outputs start where the signal does."""

    def __init__(self, fast: int = 12, slow: int = 26, signal: int = 9) -> None:
        # 2 bars at least: TA-Lib's bound for fast and slow, and a warm-up's for the signal EMA
        checked = [_period(name, value, 2) for name, value in (("fast", fast), ("slow", slow), ("signal", signal))]
        self.columns = ["macd", "macd_signal", "macd_hist"]
        self.warmup = slow + signal - 2 + _converge(slow) + _converge(signal)
        self.fast, self.slow = sorted(checked[:2])  # TA-Lib swaps them
        self.k_fast, self.k_slow = 2.0 / (self.fast + 1), 2.0 / (self.slow + 1)
        self.signal = _Smoother(checked[2])
        # seen, the last `slow` closes until both EMAs start, fast EMA, slow EMA, signal state
        self.start = (0, (), _NAN, _NAN, self.signal.start)

    def batch(self, b: Arrays) -> Columns:
        close = b["close"]
        line, sig, hist = _ta.MACD(close, fastperiod=self.fast, slowperiod=self.slow, signalperiod=self.signal.n)
        return line / close, sig / close, hist / close

    def step(self, state: State, bar: Bar, prev: Bar | None) -> tuple[State, Values]:
        seen, closes, fast, slow, signal = state
        close = bar[3]
        seen += 1
        if seen < self.slow:
            return (seen, (*closes, close), fast, slow, signal), (_NAN, _NAN, _NAN)
        if seen == self.slow:
            closes = (*closes, close)
            fast, slow = _mean(closes[-self.fast :]), _mean(closes)
            closes = ()
        else:
            fast = (close - fast) * self.k_fast + fast
            slow = (close - slow) * self.k_slow + slow
        line = fast - slow
        signal, smooth = self.signal.step(signal, line)
        if math.isnan(smooth):
            return (seen, closes, fast, slow, signal), (_NAN, _NAN, _NAN)
        return (seen, closes, fast, slow, signal), (line / close, smooth / close, (line - smooth) / close)


class _Rsi(RecursiveKind, name="rsi"):
    """rsi{n}: TA-Lib's RSI / 100 - 0.5, from Wilder-smoothed gains and losses of close-to-close
    changes; 0 when both are 0 (exactly 0: TA-Lib 0.8 dropped its fixed 1e-14 band, which zeroed
    every series quoted below ~1e-13)."""

    def __init__(self, n: int = 14) -> None:
        self.n = _period("n", n, 2)
        self.columns, self.warmup = [f"rsi{n}"], n + _converge(n, 1.0 / n)
        self.gain, self.loss = _Smoother(n, wilder=True), _Smoother(n, wilder=True)
        self.start = (self.gain.start, self.loss.start)

    def batch(self, b: Arrays) -> Columns:
        return (_ta.RSI(b["close"], timeperiod=self.n) / 100.0 - 0.5,)

    def step(self, state: State, bar: Bar, prev: Bar | None) -> tuple[State, Values]:
        if prev is None:
            return state, (_NAN,)
        change = bar[3] - prev[3]
        gain, up = self.gain.step(state[0], change if change > 0 else 0.0)
        loss, down = self.loss.step(state[1], -change if change < 0 else 0.0)
        total = up + down
        rsi = _NAN if math.isnan(total) else 100.0 * (up / total) if total > 0.0 else 0.0
        return (gain, loss), (rsi / 100.0 - 0.5,)


class _Kdj(WindowedKind, name="kdj"):
    """kdj_k, kdj_d, kdj_j: TA-Lib's STOCH with SMA smoothing, /100 - 0.5: fast %K of each of the
    last k + d - 1 bars (0 on a flat range), slow %K the mean of the last k of them, slow %D the
    mean of the last d slow %K; J = 3 K - 2 D."""

    def __init__(self, n: int = 9, k: int = 3, d: int = 3) -> None:
        self.n, self.k, self.d = _period("n", n, 1), _period("k", k, 1), _period("d", d, 1)
        self.columns, self.warmup = ["kdj_k", "kdj_d", "kdj_j"], n + k + d - 3

    def batch(self, b: Arrays) -> Columns:
        slow_k, slow_d = _ta.STOCH(
            b["high"],
            b["low"],
            b["close"],
            fastk_period=self.n,
            slowk_period=self.k,
            slowk_matype=0,
            slowd_period=self.d,
            slowd_matype=0,
        )
        return slow_k / 100.0 - 0.5, slow_d / 100.0 - 0.5, (3.0 * slow_k - 2.0 * slow_d) / 100.0 - 0.5

    def values(self, w: Window) -> Values:
        high, low, close = w.high, w.low, w.close
        size, n, k, d = len(close), self.n, self.k, self.d
        fast = []
        for end in range(size - k - d + 2, size + 1):
            highest, lowest = max(high[end - n : end]), min(low[end - n : end])
            fast.append(0.0 if _flat(highest, lowest) else (close[end - 1] - lowest) / ((highest - lowest) / 100.0))
        slow = [sum(fast[i : i + k]) / k for i in range(d)]
        slow_k, slow_d = slow[-1], sum(slow) / d
        return (slow_k / 100.0 - 0.5, slow_d / 100.0 - 0.5, (3.0 * slow_k - 2.0 * slow_d) / 100.0 - 0.5)


class _Bbands(WindowedKind, name="bbands"):
    """bb_pctb, bb_width: TA-Lib's BBANDS (SMA middle band, `dev` deviations): %B - 0.5 (0 within
    a zero-width band) and the width over the middle band."""

    def __init__(self, n: int = 20, dev: float = 2.0) -> None:
        self.n = _period("n", n, 2)
        if isinstance(dev, bool) or not isinstance(dev, Real) or not math.isfinite(dev):
            raise SettingsError(f"dev {dev!r}, expected a finite number")
        self.dev: float = float(dev)
        self.columns, self.warmup = ["bb_pctb", "bb_width"], n - 1

    def batch(self, b: Arrays) -> Columns:
        upper, middle, lower = _ta.BBANDS(b["close"], timeperiod=self.n, nbdevup=self.dev, nbdevdn=self.dev, matype=0)
        return _ratios(b["close"] - lower, upper - lower) - 0.5, (upper - lower) / middle

    def values(self, w: Window) -> Values:
        close = w.close
        recent = close[-self.n :]
        middle = sum(recent) / self.n
        width = _std(recent) * self.dev
        upper, lower = middle + width, middle - width
        return (_ratio(close[-1] - lower, upper - lower) - 0.5, (upper - lower) / middle)


class _Atr(RecursiveKind, name="atr"):
    """atr{n}: TA-Lib's ATR (the Wilder-smoothed true range, from the second bar on) over the close."""

    def __init__(self, n: int = 14) -> None:
        self.n = _period("n", n, 2)
        self.columns, self.warmup = [f"atr{n}"], n + _converge(n, 1.0 / n)
        self.average = _Smoother(n, wilder=True)
        self.start = self.average.start

    def batch(self, b: Arrays) -> Columns:
        return (_ta.ATR(b["high"], b["low"], b["close"], timeperiod=self.n) / b["close"],)

    def step(self, state: State, bar: Bar, prev: Bar | None) -> tuple[State, Values]:
        if prev is None:
            return state, (_NAN,)
        _, high, low, close, _ = bar
        true_range = max(high - low, abs(prev[3] - high), abs(prev[3] - low))
        state, atr = self.average.step(state, true_range)
        return state, (atr / close,)


class _Willr(WindowedKind, name="willr"):
    """willr{n}: TA-Lib's Williams %R (0 on a flat range), shifted to [-0.5, 0.5]."""

    def __init__(self, n: int = 14) -> None:
        self.n = _period("n", n, 2)
        self.columns, self.warmup = [f"willr{n}"], n - 1

    def batch(self, b: Arrays) -> Columns:
        return (_ta.WILLR(b["high"], b["low"], b["close"], timeperiod=self.n) / 100.0 + 0.5,)

    def values(self, w: Window) -> Values:
        highest, lowest = max(w.high[-self.n :]), min(w.low[-self.n :])
        if _flat(highest, lowest):
            return (0.5,)
        return ((highest - w.close[-1]) / ((highest - lowest) / -100.0) / 100.0 + 0.5,)


class _Obv(WindowedKind, name="obv"):
    """obv{n}_change: OBV's change over n bars (each bar's volume, signed by its close's move) as a
    share of the volume traded in them (in [-1, 1])."""

    def __init__(self, n: int = 10) -> None:
        self.n = _period("n", n, 2)
        self.columns, self.warmup = [f"obv{n}_change"], n

    def batch(self, b: Arrays) -> Columns:
        obv, n = _ta.OBV(b["close"], b["volume"]), self.n
        change = np.full_like(obv, np.nan)
        change[n:] = obv[n:] - obv[:-n]
        return (_ratios(change, _ta.SUM(b["volume"], timeperiod=n)),)

    def values(self, w: Window) -> Values:
        close, volume = w.close, w.volume
        size, change = len(close), 0.0
        for i in range(size - self.n, size):
            if close[i] > close[i - 1]:
                change += volume[i]
            elif close[i] < close[i - 1]:
                change -= volume[i]
        return (_ratio(change, sum(volume[-self.n :])),)


class _VolumeZ(WindowedKind, name="volume_z"):
    """volume_z{n}: (volume - SMA) / STDDEV over n bars; 0 where the deviation is rounding noise of a
    flat run (TA-Lib releases before 0.8 gave it for a constant run)."""

    def __init__(self, n: int = 20) -> None:
        self.n = _period("n", n, 2)
        self.columns, self.warmup = [f"volume_z{n}"], n - 1

    def batch(self, b: Arrays) -> Columns:
        volume = b["volume"]
        mean = _ta.SMA(volume, timeperiod=self.n)
        std = _ta.STDDEV(volume, timeperiod=self.n, nbdev=1.0)
        std = np.where(std > 1e-9 * np.maximum(mean, 1.0), std, 0.0)
        return (_ratios(volume - mean, std),)

    def values(self, w: Window) -> Values:
        volume = w.volume
        recent = volume[-self.n :]
        mean = sum(recent) / self.n
        std = _std(recent)
        if not std > 1e-9 * max(mean, 1.0):
            std = 0.0
        return (_ratio(volume[-1] - mean, std),)


class _Volatility(WindowedKind, name="volatility"):
    """vol{n}: STDDEV of the last n log returns."""

    def __init__(self, n: int = 20) -> None:
        self.n = _period("n", n, 2)
        self.columns, self.warmup = [f"vol{n}"], n

    def batch(self, b: Arrays) -> Columns:
        log_ret = np.full_like(b["close"], np.nan)
        log_ret[1:] = np.diff(np.log(b["close"]))
        return (_ta.STDDEV(log_ret, timeperiod=self.n, nbdev=1.0),)

    def values(self, w: Window) -> Values:
        logs, size = w.log_close, len(w.log_close)
        return (_std([logs[i] - logs[i - 1] for i in range(size - self.n, size)]),)


@dataclass(frozen=True)
class Feature:
    """One feature kind with its parameters (checked, defaults filled in); it may produce several columns."""

    kind: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise SettingsError(f"unknown feature kind {self.kind!r} (expected one of {', '.join(sorted(_KINDS))})")
        known = _KINDS[self.kind].defaults
        unknown = set(self.params) - set(known)
        if unknown:
            raise SettingsError(
                f"feature {self.kind!r}: unknown parameter(s) {sorted(unknown)} (expected {sorted(known)})"
            )
        object.__setattr__(self, "params", {**known, **self.params})
        try:
            self.maths  # noqa: B018 - made now, so that a bad value fails where the feature is declared
        except ValueError as exc:
            raise SettingsError(f"feature {self.kind!r}: {exc}") from None

    @cached_property
    def maths(self) -> FeatureKind:
        """The kind's maths for these parameters: columns, warm-up, batch and incremental forms."""
        return _KINDS[self.kind](**self.params)

    @property
    def columns(self) -> list[str]:
        return list(self.maths.columns)

    @property
    def warmup(self) -> int:
        return self.maths.warmup


@dataclass(frozen=True)
class FeatureSpec:
    """An ordered list of features; its columns are the model's input features, in order."""

    features: tuple[Feature, ...]

    @classmethod
    def default(cls) -> FeatureSpec:
        """The reference set: returns, MA/EMA ratios, MACD, RSI, KDJ, Bollinger, ATR, W%R, OBV, volume, volatility."""
        return cls(
            (
                Feature("ret", {"n": 1}),
                Feature("ret", {"n": 5}),
                Feature("ret", {"n": 10}),
                Feature("ma_ratio", {"n": 3}),
                Feature("ma_ratio", {"n": 10}),
                Feature("ema_ratio", {"n": 12}),
                Feature("ema_ratio", {"n": 26}),
                Feature("macd"),
                Feature("rsi"),
                Feature("kdj"),
                Feature("bbands"),
                Feature("atr"),
                Feature("willr"),
                Feature("obv"),
                Feature("volume_z"),
                Feature("volatility"),
            )
        )

    def __post_init__(self) -> None:
        names = self.columns
        if len(set(names)) != len(names):
            raise SettingsError(f"feature spec repeats a column: {names}")

    @property
    def columns(self) -> list[str]:
        return [c for f in self.features for c in f.columns]

    @property
    def warmup(self) -> int:
        """Bars before the first row whose features match a computation over any longer history."""
        return max(f.warmup for f in self.features)

    def to_dict(self) -> dict[str, Any]:
        return {
            "features": [{"kind": f.kind, "params": dict(f.params)} for f in self.features],
            "columns": self.columns,
            "warmup": self.warmup,
            "seed_weight": SEED_WEIGHT,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureSpec:
        return cls(tuple(Feature(f["kind"], f.get("params", {})) for f in data["features"]))


def compute_features(bars: pd.DataFrame, spec: FeatureSpec) -> pd.DataFrame:
    """Feature columns for every bar (NaN before each indicator's own lookback), float64."""
    return pd.DataFrame(feature_matrix(bars, spec), index=bars.index, columns=spec.columns)


def feature_matrix(bars: pd.DataFrame | Mapping[str, Any], spec: FeatureSpec) -> np.ndarray:
    """(bars, features) float64 array from anything with open/high/low/close/volume columns."""
    arrays = {
        c: np.ascontiguousarray(np.asarray(bars[c], dtype="float64"))
        for c in ("open", "high", "low", "close", "volume")
    }
    return np.column_stack([column for feature in spec.features for column in feature.maths.batch(arrays)])


class LiveFeatures:
    """The feature row of each new bar of one feed, from the states of recursive kinds and the last
    bars windowed ones read; the rows equal `feature_matrix` over the whole feed. A bar replacing the
    last one (a bar still forming) steps the states again from where they stood before that bar."""

    def __init__(self, spec: FeatureSpec) -> None:
        self.spec = spec
        maths = [f.maths for f in spec.features]
        # in the spec's order, so that each kind's values in turn make the row; True: a RecursiveKind
        self._kinds: list[tuple[Any, bool]] = [(m, isinstance(m, RecursiveKind)) for m in maths]
        lookbacks = [m.warmup + 1 for m in maths if isinstance(m, WindowedKind)]
        self._windowed = bool(lookbacks)
        self.lookback = max(lookbacks, default=1)
        """Bars the windowed features read: the newest and their longest lookback."""
        # The last `lookback` bars' columns: bounded, and a replaced bar is popped off the end.
        self._columns: tuple[deque[float], ...] = tuple(deque(maxlen=self.lookback) for _ in range(5))
        self._states: list[State] = [m.start for m in maths if isinstance(m, RecursiveKind)]
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
        size, before, prev = len(closes), self._before, self._prev
        window = Window(list(highs), list(lows), list(closes), list(volumes), list(logs)) if self._windowed else None
        row: list[float] = []
        states: list[State] = []
        for kind, recursive in self._kinds:
            if recursive:
                state, values = kind.step(before[len(states)], bar, prev)
                states.append(state)
            elif size > kind.warmup:
                values = kind.values(window)
            else:  # too few bars yet
                values = (_NAN,) * len(kind.columns)
            row += values
        self._states = states
        return np.array(row)


def feature_kinds() -> list[str]:
    """Names usable as `Feature.kind`."""
    return sorted(_KINDS)
