"""`run_ranking`: RankingStrategy over a universe in one account, against the universe held equally weighted."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from signalstack.plugin import PrecomputedSource, run_ranking, write_ranking
from signalstack.plugin.ranking import format_ranking
from signalstack.plugin.stats import buy_and_hold

from .support import hand_bars

SCALE = {"a": 1.0, "b": 2.0, "c": 0.5}
SCORES = {"a": [0.9, 0.1, 0.5, 0.2], "b": [0.8, 0.7, 0.1, 0.3], "c": [0.1, 0.9, 0.6, 0.9]}  # per 3-bar period


def _universe() -> dict[str, pd.DataFrame]:
    return {name: hand_bars(12) * scale for name, scale in SCALE.items()}


def _sources(universe: dict[str, pd.DataFrame]) -> dict[str, PrecomputedSource]:
    return {name: PrecomputedSource(pd.DataFrame({"score": np.repeat(SCORES[name], 3)}, index=universe[name].index),
                                    horizon=3) for name in SCORES}


def test_ranking_holds_the_best_scored_symbol_and_fills_at_the_next_open(tmp_path) -> None:
    universe = _universe()
    result = run_ranking(_sources(universe), universe, top_k=1, cash=10_000.0, commission=0.0, slippage=0.0)
    index = universe["a"].index
    assert result.params["rebalance"] == 3 and result.params["line"] == "score"  # the model's horizon, its score
    held, best = {}, ["a", "c", "c", "c"]
    for period, time in enumerate(index[1::3]):
        for _, fill in result.fills.loc[result.fills["time"] == time].iterrows():
            assert fill["price"] == pytest.approx(universe[fill["symbol"]].loc[time, "open"])
            held[fill["symbol"]] = held.get(fill["symbol"], 0.0) + fill["size"]
        assert {name for name, size in held.items() if size} == {best[period]}
    sleeves = [buy_and_hold(bars, index[0], 10_000.0, 0.0) for bars in universe.values()]
    expected = sum(curve / curve.iloc[0] for curve in sleeves) * 10_000.0 / 3
    np.testing.assert_allclose(result.equity["equal_weight"], expected, rtol=1e-12)
    assert result.stats["total_return"] == pytest.approx(result.equity["strategy"].iloc[-1] / 10_000.0 - 1)
    assert "top 1 by score" in format_ranking(result)
    paths = write_ranking(result, tmp_path / "report")
    assert [p.name for p in paths] == ["equity.png", "equity.csv", "trades.csv", "fills.csv", "stats.json"]
    assert json.loads(paths[-1].read_text())["params"]["symbols"] == ["a", "b", "c"]


def test_ranking_decides_from_start_and_refuses_a_universe_of_one() -> None:
    universe = _universe()
    index = universe["a"].index
    result = run_ranking(_sources(universe), universe, top_k=2, start=index[6], cash=10_000.0)
    assert result.fills["time"].min() == index[7] and result.equity.index[0] == index[6]
    with pytest.raises(ValueError, match="ranking over 1 symbol"):
        run_ranking(_sources(universe), {"a": universe["a"]})
