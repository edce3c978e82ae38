"""`run_ranking`: RankingStrategy over a universe in one account, against the universe held equally weighted."""

from __future__ import annotations

import json
from pathlib import Path

import backtrader as bt
import numpy as np
import pandas as pd
import pytest

from signalstack.cli import main
from signalstack.plugin import PrecomputedSource, RankingStrategy, bars_feed, run_ranking, write_ranking
from signalstack.plugin.ranking import format_ranking
from signalstack.plugin.sources import TailScorer
from signalstack.plugin.stats import buy_and_hold

from ..calendars import LATE, SUSPENDED, expected_holdings, held_after, shared_universe, walk_universe
from .support import hand_bars

SCALE = {"a": 1.0, "b": 2.0, "c": 0.5}
SCORES = {"a": [0.9, 0.1, 0.5, 0.2], "b": [0.8, 0.7, 0.1, 0.3], "c": [0.1, 0.9, 0.6, 0.9]}  # per 3-bar period


def _universe() -> dict[str, pd.DataFrame]:
    return {name: hand_bars(12) * scale for name, scale in SCALE.items()}


def _sources(universe: dict[str, pd.DataFrame]) -> dict[str, PrecomputedSource]:
    return {
        name: PrecomputedSource(
            pd.DataFrame({"score": np.repeat(SCORES[name], 3)}, index=universe[name].index), horizon=3
        )
        for name in SCORES
    }


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


def _random_scores(universe: dict[str, pd.DataFrame], seed: int = 5) -> dict[str, pd.Series]:
    rng = np.random.default_rng(seed)
    return {name: pd.Series(rng.random(len(bars)), index=bars.index) for name, bars in universe.items()}


def _check_union_clock(
    universe: dict[str, pd.DataFrame],
    equity: pd.DataFrame,
    fills: pd.DataFrame,
    scores: dict[str, pd.Series],
    start: pd.Timestamp,
    rebalance: int,
) -> None:
    """The run decided on every time some symbol traded, ranked only the symbols trading then, and filled each
    order at its symbol's next bar of the clock."""
    clock = pd.DatetimeIndex(sorted(set().union(*(bars.index for bars in universe.values()))))
    assert list(equity.index) == list(clock[clock >= start])  # one value per time of the union, none twice
    for _, fill in fills.iterrows():
        assert fill["price"] == pytest.approx(
            universe[fill["symbol"]].loc[fill["time"], "open"], rel=1e-12
        )  # its own bar
    expected = expected_holdings(universe, scores, start, rebalance)
    assert set(fills["time"]) <= {time for time, _ in expected}
    for time, held in expected:
        assert held_after(fills, time) == held, time
    suspended = universe[SUSPENDED].index
    gap = clock[(clock >= start) & (clock > suspended[0]) & (clock < suspended[-1]) & ~clock.isin(suspended)]
    assert fills["time"].between(gap[0], gap[-1]).sum() >= 2  # ranked while the first symbol did not trade


def test_ranking_over_stocks_with_suspensions_listings_and_delistings_runs_on_the_union_of_their_days() -> None:
    universe = walk_universe()
    scores = _random_scores(universe)
    sources = {name: PrecomputedSource(score.to_frame("score"), horizon=3) for name, score in scores.items()}
    start = universe[SUSPENDED].index[20]
    result = run_ranking(sources, universe, top_k=1, start=start, cash=100_000.0, slippage=0.0)
    assert result.params["end"] == universe[SUSPENDED].index[-1].isoformat()  # the last bar of any symbol
    _check_union_clock(universe, result.equity, result.fills, scores, start, rebalance=3)
    assert len(result.fills) >= 40
    listed = universe[LATE].index[0]
    assert result.sleeves[LATE].loc[result.sleeves.index < listed].isna().all()  # no sleeve before it lists
    assert result.sleeves[LATE].loc[listed] == 100_000.0 and result.equity["equal_weight"].notna().all()


def test_a_ranking_backtest_of_real_stocks_with_holes_cut_out(tmp_path: Path) -> None:
    """`backtest --top-k 1` over Oracle (suspended for months), Yahoo (listed late) and NVIDIA (delisted early)."""
    universe = shared_universe()
    files = []
    for name, bars in universe.items():
        bars.to_csv(tmp_path / f"{name}.csv")
        files += ["--data", f"{name}={tmp_path / f'{name}.csv'}"]
    clock = pd.DatetimeIndex(sorted(set().union(*(bars.index for bars in universe.values()))))
    table = pd.Series(np.random.default_rng(9).random(len(clock)), index=clock.rename("time"))
    table.to_frame("score").to_csv(tmp_path / "scores.csv")  # one score per date: ties go to the first given
    assert (
        main(
            [
                "backtest",
                "--model",
                str(tmp_path / "scores.csv"),
                *files,
                "--top-k",
                "1",
                "--rebalance",
                "5",
                "--start",
                "2009-01-02",
                "--slippage",
                "0",
                "--out",
                str(tmp_path / "out"),
            ]
        )
        == 0
    )
    equity = pd.read_csv(tmp_path / "out" / "equity.csv", index_col="time", parse_dates=True)
    fills = pd.read_csv(tmp_path / "out" / "fills.csv", parse_dates=["time"])
    scores = {name: table.reindex(bars.index) for name, bars in universe.items()}
    _check_union_clock(universe, equity, fills, scores, pd.Timestamp("2009-01-02"), rebalance=5)


class _Counted(PrecomputedSource):
    """Precomputed scores whose live scorer counts the bars pushed to it, by time."""

    def live(self) -> TailScorer:
        scorer = TailScorer(self)
        push = scorer.push

        def counted(time: pd.Timestamp, *args: object, **kwargs: object) -> object:
            self.pushed.append(time)
            return push(time, *args, **kwargs)

        scorer.push = counted  # type: ignore[method-assign]
        self.pushed: list[pd.Timestamp] = []
        return scorer


def test_bar_by_bar_each_symbol_is_scored_once_a_bar_and_trades_as_preloaded() -> None:
    """Live feeds run Backtrader bar by bar, stepping every data's indicator at each time of the clock: a symbol
    without a bar then is not scored again (a served model's stream would be reopened for a repeated bar)."""
    universe = walk_universe(days=120)
    scores = _random_scores(universe)
    fills = {}
    for preload in (True, False):
        sources = {name: _Counted(score.to_frame("score"), horizon=3) for name, score in scores.items()}
        cerebro = bt.Cerebro(stdstats=False, preload=preload, runonce=preload)
        for name, bars in universe.items():
            cerebro.adddata(bars_feed(bars, name))
        cerebro.addstrategy(RankingStrategy, source=sources, top_k=1, rebalance=3, stake=0.9)
        fills[preload] = cerebro.run()[0].fill_frame()
        if not preload:
            for name, source in sources.items():
                assert source.pushed == list(universe[name].index), name
    assert len(fills[True]) >= 10
    pd.testing.assert_frame_equal(fills[False], fills[True])
