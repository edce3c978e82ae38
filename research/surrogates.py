"""Surrogate series: bars like the data's with the dependence a model could learn destroyed.

Rerunning the whole workflow on surrogates gives each metric's distribution when there is no
signal; a real result inside that distribution is indistinguishable from chance, however good it
looks beside zero. Both kinds keep the data's times, first bar, return scale and bar shapes, and
are rebuilt from per-bar moves so that every surrogate bar passes `load_bars`' checks.

- random_walk: a geometric random walk: i.i.d. normal log returns with the data's mean and
  standard deviation; each bar's gap, wicks and volume drawn i.i.d. from the data's bars. It has
  no dependence of any kind: the null for "is there any signal at all".
- block_shuffle: the data's bars (returns with their gaps, wicks and volume) in blocks of `block`
  bars, the blocks in a random order. It keeps fat tails and any dependence shorter than a block
  (volatility clusters, short autocorrelation) and breaks what is longer: the null for "is the
  signal more than short-range structure".
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from signalstack.core.bars import load_bars
from signalstack.core.errors import InvalidInput

SURROGATE_KINDS = ("random_walk", "block_shuffle")

SHAPE_COLUMNS = ("ret", "gap", "upper", "lower", "volume")
"""A bar as moves from the previous close: log return, log gap to the open, log wick above the
body, log wick below the body (both >= 0), and its volume."""


def bar_shapes(bars: pd.DataFrame) -> pd.DataFrame:
    """Each bar after the first as `SHAPE_COLUMNS`, so bars can be reordered or redrawn and rebuilt consistently."""
    o, h, low, c = (bars[k].to_numpy(dtype="float64") for k in ("open", "high", "low", "close"))
    previous = c[:-1]
    o, h, low, c = o[1:], h[1:], low[1:], c[1:]
    return pd.DataFrame(
        {
            "ret": np.log(c / previous),
            "gap": np.log(o / previous),
            # load_bars allows an envelope off by 1e-6 (rounded prices); rebuilt bars are exact.
            "upper": np.maximum(np.log(h / np.maximum(o, c)), 0.0),
            "lower": np.maximum(np.log(np.minimum(o, c) / low), 0.0),
            "volume": bars["volume"].to_numpy(dtype="float64")[1:],
        },
        index=bars.index[1:],
    )


def rebuild(first: pd.Series, shapes: pd.DataFrame, index: pd.DatetimeIndex) -> pd.DataFrame:
    """Bars at `index`: the bar `first`, then one bar per row of `shapes` (`SHAPE_COLUMNS`), checked by load_bars."""
    close = float(first["close"]) * np.exp(np.cumsum(shapes["ret"].to_numpy()))
    previous = np.r_[float(first["close"]), close[:-1]]
    open_ = previous * np.exp(shapes["gap"].to_numpy())
    high = np.maximum(open_, close) * np.exp(shapes["upper"].to_numpy())
    low = np.minimum(open_, close) * np.exp(-shapes["lower"].to_numpy())
    frame = pd.DataFrame(
        {
            "open": np.r_[first["open"], open_],
            "high": np.r_[first["high"], high],
            "low": np.r_[first["low"], low],
            "close": np.r_[first["close"], close],
            "volume": np.r_[first["volume"], shapes["volume"].to_numpy()],
        },
        index=index,
    )
    return load_bars(frame)


def random_walk(bars: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """A geometric random walk with the data's log-return mean and volatility; shapes and volumes resampled."""
    shapes = bar_shapes(bars)
    returns = shapes["ret"].to_numpy()
    drawn = shapes.iloc[rng.integers(0, len(shapes), len(shapes))].reset_index(drop=True)
    drawn["ret"] = rng.normal(returns.mean(), returns.std(ddof=1), len(shapes))
    return rebuild(bars.iloc[0], drawn, bars.index)


def block_shuffle(bars: pd.DataFrame, block: int, rng: np.random.Generator) -> pd.DataFrame:
    """The data's bars in blocks of `block`, the blocks shuffled (the last block may be shorter)."""
    if block < 1:
        raise ValueError(f"surrogate block {block}: expected at least 1 bar")
    shapes = bar_shapes(bars)
    starts = np.arange(0, len(shapes), block)
    order = np.concatenate([np.arange(s, min(s + block, len(shapes))) for s in rng.permutation(starts)])
    return rebuild(bars.iloc[0], shapes.iloc[order].reset_index(drop=True), bars.index)


def make_surrogate(bars: pd.DataFrame, kind: str, number: int, *, block: int = 20, seed: int = 0) -> pd.DataFrame:
    """Surrogate `number` of `bars`: the same (kind, number, block, seed) always gives the same bars."""
    if kind not in SURROGATE_KINDS:
        raise ValueError(f"surrogate kind {kind!r}: expected one of {', '.join(SURROGATE_KINDS)}")
    if len(bars) < 3:
        raise InvalidInput(f"{len(bars)} bars: a surrogate needs at least 3")
    rng = np.random.default_rng([seed, number])
    return random_walk(bars, rng) if kind == "random_walk" else block_shuffle(bars, block, rng)
