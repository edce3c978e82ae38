"""Universes of stocks whose trading days differ, as A-shares' do: one suspended for months, one listed late,
one delisted early (with a short hole of its own). Built from seeded random walks, so a test always runs, and
from ../shared/data's Oracle, Yahoo and NVIDIA files (the tests that use them skip without the folder)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .support import shared_csv, walk_bars

SUSPENDED, LATE, GONE = "susp", "late", "gone"
"""The symbols, in the order they are given: the first is the suspended one, so a clock of the first symbol's
bars would stop deciding for months."""


def cut(bars: pd.DataFrame, *spans: tuple[str | pd.Timestamp | None, str | pd.Timestamp | None]) -> pd.DataFrame:
    """`bars` without the rows of each (first, last) span, both ends included (None: open-ended)."""
    kept = np.ones(len(bars), dtype=bool)
    for first, last in spans:
        kept &= ~(
            (bars.index >= pd.Timestamp(first or bars.index[0])) & (bars.index <= pd.Timestamp(last or bars.index[-1]))
        )
    return bars.loc[kept]


def walk_universe(days: int = 300, start: str = "2020-01-01", seed: int = 3) -> dict[str, pd.DataFrame]:
    """Three random walks over `days` business days: SUSPENDED misses the days from 27% to 50% of them (70 of
    300), LATE lists at 20%, GONE is delisted after 77% and misses 5 days from 33%."""
    index = pd.bdate_range(start, periods=days)
    at = [index[int(days * share)] for share in (0.27, 0.5, 0.2, 0.33, 0.35, 0.77)]
    walks = {symbol: walk_bars(index, seed + i) * (1.0 + i) for i, symbol in enumerate((SUSPENDED, LATE, GONE))}
    return {
        SUSPENDED: cut(walks[SUSPENDED], (at[0], at[1])),
        LATE: cut(walks[LATE], (None, at[2])),
        GONE: cut(walks[GONE], (at[3], at[4]), (at[5], None)),
    }


def shared_universe() -> dict[str, pd.DataFrame]:
    """Oracle suspended from March to June 2011, Yahoo listed in June 2009, NVIDIA delisted after 2012 with two
    weeks missing in 2010: 2008-2013 daily bars (skips the test without ../shared/data)."""
    from signalstack.core.bars import load_bars

    files = {SUSPENDED: "orcl-1995-2014.csv", LATE: "yhoo-1996-2014.csv", GONE: "nvda-1999-2014.csv"}
    bars = {symbol: load_bars(shared_csv(name)).loc["2008":"2013"] for symbol, name in files.items()}
    return {
        SUSPENDED: cut(bars[SUSPENDED], ("2011-03-01", "2011-06-30")),
        LATE: cut(bars[LATE], (None, "2009-05-31")),
        GONE: cut(bars[GONE], ("2010-05-03", "2010-05-14"), ("2013-01-01", None)),
    }


def expected_holdings(
    universe: dict[str, pd.DataFrame], scores: dict[str, pd.Series], start: pd.Timestamp, rebalance: int
) -> list[tuple[pd.Timestamp, set[str]]]:
    """What `RankingStrategy` top 1 must hold, worked out on its own: [(the step after a rebalance, the symbols held
    once its fills are in)]. At each rebalance the best score among the symbols with a bar then (ties: the first
    given) is chosen; each other symbol with a bar then is sold and the chosen one bought, where the symbol has a
    bar at the next step (else its order is cancelled); a symbol without a bar at the rebalance is not touched."""
    clock = pd.DatetimeIndex(sorted(set().union(*(bars.index for bars in universe.values()))))
    steps = clock[clock >= start]
    held: set[str] = set()
    after = []
    for number, (time, following) in enumerate(zip(steps[:-1], steps[1:])):
        if number % rebalance:
            continue
        fresh = [s for s in universe if time in universe[s].index and not np.isnan(scores[s].get(time, np.nan))]
        chosen = max(fresh, key=lambda s: (scores[s][time], -list(universe).index(s)), default=None)
        trades = {s for s in universe if time in universe[s].index and following in universe[s].index}
        held = {s for s in held if s not in trades or s == chosen} | ({chosen} & trades)
        after.append((following, set(held)))
    return after


def held_after(fills: pd.DataFrame, time: pd.Timestamp) -> set[str]:
    """The symbols with a position once the fills up to `time` are in."""
    sizes = fills.loc[fills["time"] <= time].groupby("symbol")["size"].sum()
    return set(sizes.index[sizes.abs() > 0])
