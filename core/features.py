"""Technical features through TA-Lib, declared by a serialisable `FeatureSpec`.

Every feature is scale-free (a ratio, a return or an oscillator divided by its range) so a
model trained on one price level or symbol can be used on another. A feature at bar t reads
bars <= t only: TA-Lib's functions are causal and nothing here shifts data backwards.

This module is imported by the server and the plugin: numpy, pandas and TA-Lib only.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import talib


def _unwrapped(name: str) -> Callable[..., Any]:
    """TA-Lib's function without the pandas/polars type check `talib` wraps it in: the inputs here
    are float64 arrays already, and on a serve-time window that check costs more than the indicator."""
    fn = getattr(talib, name)
    return getattr(fn, "__wrapped__", fn)


_ta = SimpleNamespace(**{name: _unwrapped(name) for name in
                         ("ATR", "BBANDS", "EMA", "MACD", "OBV", "RSI", "SMA", "STDDEV", "STOCH", "SUM", "WILLR")})

# Recursive indicators (EMA, Wilder smoothing) remember their seed forever, with a weight that
# decays geometrically. A serve-time window carries enough extra bars for that weight to fall
# below this bound, so features on a short recent window equal those on the full history.
SEED_WEIGHT = 1e-9

Columns = dict[str, np.ndarray]
_Compute = Callable[..., Columns]


@dataclass(frozen=True)
class _Kind:
    compute: _Compute
    columns: Callable[..., list[str]]
    warmup: Callable[..., int]
    defaults: Mapping[str, Any]


_KINDS: dict[str, _Kind] = {}


def _kind(name: str, columns: Callable[..., list[str]], warmup: Callable[..., int], **defaults: Any):
    def register(fn: _Compute) -> _Compute:
        _KINDS[name] = _Kind(fn, columns, warmup, defaults)
        return fn
    return register


def _converge(period: float, alpha: float | None = None) -> int:
    """Bars after which an exponential smoother's seed weighs less than SEED_WEIGHT."""
    alpha = alpha if alpha is not None else 2.0 / (period + 1.0)
    return math.ceil(math.log(SEED_WEIGHT) / math.log(1.0 - alpha))


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den with 0 where den is 0 (flat volume, flat range): no signal rather than inf."""
    out = np.zeros_like(num)
    np.divide(num, den, out=out, where=den != 0)
    out[np.isnan(num) | np.isnan(den)] = np.nan
    return out


@_kind("ret", lambda n: [f"ret_{n}"], lambda n: n, n=1)
def _ret(b: Columns, n: int) -> Columns:
    close = b["close"]
    out = np.full_like(close, np.nan)
    out[n:] = np.log(close[n:] / close[:-n])
    return {f"ret_{n}": out}


@_kind("ma_ratio", lambda n: [f"ma{n}_ratio"], lambda n: n - 1, n=10)
def _ma_ratio(b: Columns, n: int) -> Columns:
    return {f"ma{n}_ratio": b["close"] / _ta.SMA(b["close"], timeperiod=n) - 1.0}


@_kind("ema_ratio", lambda n: [f"ema{n}_ratio"], lambda n: n - 1 + _converge(n), n=20)
def _ema_ratio(b: Columns, n: int) -> Columns:
    return {f"ema{n}_ratio": b["close"] / _ta.EMA(b["close"], timeperiod=n) - 1.0}


@_kind("macd", lambda fast, slow, signal: ["macd", "macd_signal", "macd_hist"],
       lambda fast, slow, signal: slow + signal - 2 + _converge(slow) + _converge(signal),
       fast=12, slow=26, signal=9)
def _macd(b: Columns, fast: int, slow: int, signal: int) -> Columns:
    line, sig, hist = _ta.MACD(b["close"], fastperiod=fast, slowperiod=slow, signalperiod=signal)
    close = b["close"]
    return {"macd": line / close, "macd_signal": sig / close, "macd_hist": hist / close}


@_kind("rsi", lambda n: [f"rsi{n}"], lambda n: n + _converge(n, 1.0 / n), n=14)
def _rsi(b: Columns, n: int) -> Columns:
    return {f"rsi{n}": _ta.RSI(b["close"], timeperiod=n) / 100.0 - 0.5}


@_kind("kdj", lambda n, k, d: ["kdj_k", "kdj_d", "kdj_j"], lambda n, k, d: n + k + d - 3, n=9, k=3, d=3)
def _kdj(b: Columns, n: int, k: int, d: int) -> Columns:
    slow_k, slow_d = _ta.STOCH(b["high"], b["low"], b["close"], fastk_period=n, slowk_period=k,
                               slowk_matype=0, slowd_period=d, slowd_matype=0)
    return {"kdj_k": slow_k / 100.0 - 0.5, "kdj_d": slow_d / 100.0 - 0.5,
            "kdj_j": (3.0 * slow_k - 2.0 * slow_d) / 100.0 - 0.5}


@_kind("bbands", lambda n, dev: ["bb_pctb", "bb_width"], lambda n, dev: n - 1, n=20, dev=2.0)
def _bbands(b: Columns, n: int, dev: float) -> Columns:
    upper, middle, lower = _ta.BBANDS(b["close"], timeperiod=n, nbdevup=dev, nbdevdn=dev, matype=0)
    return {"bb_pctb": _ratio(b["close"] - lower, upper - lower) - 0.5, "bb_width": (upper - lower) / middle}


@_kind("atr", lambda n: [f"atr{n}"], lambda n: n + _converge(n, 1.0 / n), n=14)
def _atr(b: Columns, n: int) -> Columns:
    return {f"atr{n}": _ta.ATR(b["high"], b["low"], b["close"], timeperiod=n) / b["close"]}


@_kind("willr", lambda n: [f"willr{n}"], lambda n: n - 1, n=14)
def _willr(b: Columns, n: int) -> Columns:
    return {f"willr{n}": _ta.WILLR(b["high"], b["low"], b["close"], timeperiod=n) / 100.0 + 0.5}


@_kind("obv", lambda n: [f"obv{n}_change"], lambda n: n, n=10)
def _obv(b: Columns, n: int) -> Columns:
    """OBV's change over n bars as a share of the volume traded in them (in [-1, 1])."""
    obv = _ta.OBV(b["close"], b["volume"])
    change = np.full_like(obv, np.nan)
    change[n:] = obv[n:] - obv[:-n]
    traded = _ta.SUM(b["volume"], timeperiod=n)
    return {f"obv{n}_change": _ratio(change, traded)}


@_kind("volume_z", lambda n: [f"volume_z{n}"], lambda n: n - 1, n=20)
def _volume_z(b: Columns, n: int) -> Columns:
    volume = b["volume"]
    mean = _ta.SMA(volume, timeperiod=n)
    std = _ta.STDDEV(volume, timeperiod=n, nbdev=1.0)
    # A deviation this small beside the mean is rounding noise (TA-Lib releases before 0.8 gave it for a
    # constant run): treat it as flat.
    std = np.where(std > 1e-9 * np.maximum(mean, 1.0), std, 0.0)
    return {f"volume_z{n}": _ratio(volume - mean, std)}


@_kind("volatility", lambda n: [f"vol{n}"], lambda n: n, n=20)
def _volatility(b: Columns, n: int) -> Columns:
    log_ret = np.full_like(b["close"], np.nan)
    log_ret[1:] = np.diff(np.log(b["close"]))
    return {f"vol{n}": _ta.STDDEV(log_ret, timeperiod=n, nbdev=1.0)}


@dataclass(frozen=True)
class Feature:
    """One TA-Lib feature kind with its parameters; it may produce several columns."""

    kind: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise ValueError(f"unknown feature kind {self.kind!r} (expected one of {', '.join(sorted(_KINDS))})")
        known = _KINDS[self.kind].defaults
        unknown = set(self.params) - set(known)
        if unknown:
            raise ValueError(f"feature {self.kind!r}: unknown parameter(s) {sorted(unknown)} "
                             f"(expected {sorted(known)})")
        object.__setattr__(self, "params", {**known, **self.params})

    @property
    def columns(self) -> list[str]:
        return _KINDS[self.kind].columns(**self.params)

    @property
    def warmup(self) -> int:
        return _KINDS[self.kind].warmup(**self.params)


@dataclass(frozen=True)
class FeatureSpec:
    """An ordered list of features; its columns are the model's input features, in order."""

    features: tuple[Feature, ...]

    @classmethod
    def default(cls) -> FeatureSpec:
        """The reference set: returns, MA/EMA ratios, MACD, RSI, KDJ, Bollinger, ATR, W%R, OBV, volume, volatility."""
        return cls((
            Feature("ret", {"n": 1}), Feature("ret", {"n": 5}), Feature("ret", {"n": 10}),
            Feature("ma_ratio", {"n": 3}), Feature("ma_ratio", {"n": 10}),
            Feature("ema_ratio", {"n": 12}), Feature("ema_ratio", {"n": 26}),
            Feature("macd"), Feature("rsi"), Feature("kdj"), Feature("bbands"), Feature("atr"),
            Feature("willr"), Feature("obv"), Feature("volume_z"), Feature("volatility"),
        ))

    def __post_init__(self) -> None:
        names = self._names
        if len(set(names)) != len(names):
            raise ValueError(f"feature spec repeats a column: {list(names)}")

    @cached_property
    def _names(self) -> tuple[str, ...]:
        return tuple(c for f in self.features for c in f.columns)

    @property
    def columns(self) -> list[str]:
        return list(self._names)

    @property
    def warmup(self) -> int:
        """Bars before the first row whose features match a computation over any longer history."""
        return max(f.warmup for f in self.features)

    def to_dict(self) -> dict[str, Any]:
        return {"features": [{"kind": f.kind, "params": dict(f.params)} for f in self.features],
                "columns": self.columns, "warmup": self.warmup, "seed_weight": SEED_WEIGHT}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureSpec:
        return cls(tuple(Feature(f["kind"], f.get("params", {})) for f in data["features"]))


def compute_features(bars: pd.DataFrame, spec: FeatureSpec) -> pd.DataFrame:
    """Feature columns for every bar (NaN before each indicator's own lookback), float64."""
    return pd.DataFrame(feature_matrix(bars, spec), index=bars.index, columns=spec.columns)


def feature_matrix(bars: Mapping[str, Any], spec: FeatureSpec) -> np.ndarray:
    """(bars, features) float64 array from anything with open/high/low/close/volume columns."""
    arrays = {c: np.ascontiguousarray(np.asarray(bars[c], dtype="float64")) for c in
              ("open", "high", "low", "close", "volume")}
    out: Columns = {}
    for feature in spec.features:
        out.update(_KINDS[feature.kind].compute(arrays, **feature.params))
    return np.column_stack([out[c] for c in spec._names])


def feature_kinds() -> list[str]:
    """Names usable as `Feature.kind`."""
    return sorted(_KINDS)
