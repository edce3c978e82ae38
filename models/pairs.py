"""Pairs of stocks for the ranking net: each stock's factors on one date, labelled by who does better.

A pair (a, b) at date t holds both stocks' factor rows at t (bars <= t) and is labelled 1 when
a's return over the next `horizon` bars beats b's (bars > t); ties are dropped. Splits are by
date, so a date's pairs never straddle two splits.
"""

from __future__ import annotations

from collections.abc import Mapping
from itertools import permutations

import numpy as np
import pandas as pd

from signalstack.core.card import TensorInfo
from signalstack.core.errors import InvalidInput
from signalstack.core.features import FeatureSpec, compute_features
from signalstack.core.labels import LabelSpec, forward_returns

from .windows import Dataset, WindowSet, make_dataset


def rank_pairs(
    assets: Mapping[str, pd.DataFrame],
    features: FeatureSpec,
    horizon: int = 5,
    *,
    pairs_per_date: int | None = None,
    seed: int = 0,
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15),
    embargo: int | None = None,
) -> Dataset:
    """Pairs with inputs `stock_a`, `stock_b` (factor rows) and pair labels, on dates all stocks share.

    Every ordered pair of distinct stocks per date, or `pairs_per_date` of them drawn with
    `seed`. Both inputs share one scaler, fitted on the training dates' factor rows, so the
    scorer the ranking net exports sees any stock's factors on the same scale.
    """
    if len(assets) < 2:
        raise InvalidInput(f"{len(assets)} stock(s): a pair needs at least 2")
    names = list(assets)
    tables = {n: compute_features(bars, features).iloc[features.warmup :] for n, bars in assets.items()}
    returns = {
        n: pd.Series(forward_returns(bars["close"].to_numpy("float64"), horizon), index=bars.index)
        for n, bars in assets.items()
    }
    common = tables[names[0]].index
    for table in tables.values():
        common = common.intersection(table.index)
    factors = np.stack([tables[n].loc[common].to_numpy("float32") for n in names], axis=1)  # (dates, stocks, F)
    ahead = np.stack([returns[n].reindex(common).to_numpy() for n in names], axis=1)  # (dates, stocks)
    valid = np.isfinite(factors).all(axis=(1, 2)) & np.isfinite(ahead).all(axis=1)
    order = np.array(list(permutations(range(len(names)), 2)))
    rng = np.random.default_rng(seed)
    rows_a, rows_b, ys, times = [], [], [], []
    for d in np.flatnonzero(valid):
        chosen = (
            order
            if pairs_per_date is None
            else order[rng.choice(len(order), min(pairs_per_date, len(order)), replace=False)]
        )
        a, b = chosen[:, 0], chosen[:, 1]
        untied = ahead[d, a] != ahead[d, b]
        rows_a.append(factors[d, a[untied]])
        rows_b.append(factors[d, b[untied]])
        ys.append((ahead[d, a[untied]] > ahead[d, b[untied]]).astype("float32"))
        times.append(np.full(int(untied.sum()), common[d].to_datetime64()))
    if not ys:
        raise InvalidInput(f"no date where all of {', '.join(names)} have factors and a {horizon}-bar future")
    x = {"stock_a": np.concatenate(rows_a), "stock_b": np.concatenate(rows_b)}
    shape = (len(features.columns),)
    inputs = [TensorInfo(n, shape, columns=tuple(features.columns), origin="bars") for n in x]
    return make_dataset(
        WindowSet(x, np.concatenate(ys), pd.DatetimeIndex(np.concatenate(times))),
        features=features,
        labels=LabelSpec("pair", horizon),
        window=1,
        inputs=inputs,
        embargo=embargo,
        fractions=fractions,
        shared_scaler=True,
    )
