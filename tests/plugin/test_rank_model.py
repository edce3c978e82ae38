"""The exported ranking scorer drives RankingStrategy from bars alone: each data's newest feature row is scored."""

from __future__ import annotations

from pathlib import Path

import backtrader as bt
import numpy as np
import pandas as pd
import pytest

from signalstack.plugin import OnnxSource, RankingStrategy, bars_feed

from ..support import SMALL


@pytest.fixture(scope="module")
def universe(sp500: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Three 'stocks' on the same dates: the S&P 500 sample's bars of three different years."""
    dates = sp500.index[:400]
    return {f"s{k}": sp500.iloc[400 * k : 400 * (k + 1)].set_axis(dates) for k in range(3)}


@pytest.fixture(scope="module")
def scorer(tmp_path_factory: pytest.TempPathFactory, universe: dict[str, pd.DataFrame]) -> Path:
    from signalstack.models.config import TrainConfig
    from signalstack.models.pairs import rank_pairs
    from signalstack.models.pipeline import train_dataset_and_export

    out = tmp_path_factory.mktemp("rank") / "rank.onnx"
    train_dataset_and_export(
        rank_pairs(universe, SMALL, horizon=5),
        out,
        architecture="rank",
        params={"hidden": (4,)},
        config=TrainConfig(epochs=1, progress=False),
    )
    return out


def test_ranking_strategy_holds_the_data_the_exported_scorer_ranks_first(
    scorer: Path, universe: dict[str, pd.DataFrame]
) -> None:
    source = OnnxSource(scorer)
    assert source.columns == ["score"] and source.tensor_inputs == ()
    assert source.model.bars_input.shape == (len(SMALL.columns),)
    cerebro = bt.Cerebro(stdstats=False)
    for name, bars in universe.items():
        cerebro.adddata(bars_feed(bars, name))
    cerebro.broker.setcash(100_000.0)
    cerebro.addstrategy(RankingStrategy, source=source, top_k=1, rebalance=20, stake=0.9)
    strategy = cerebro.run()[0]
    scores = pd.DataFrame({name: source.predict_series(bars)["score"] for name, bars in universe.items()})
    for name, signal in zip(universe, strategy.signals):
        np.testing.assert_array_equal(signal.probabilities()["score"].dropna(), scores[name].dropna())
    fills = strategy.fill_frame()
    buys = fills.loc[fills["side"] == "buy"]
    assert len(buys) >= 3
    for _, fill in buys.iterrows():  # bought at the open after a rebalance close: the best score that close
        decided = scores.index[scores.index.get_loc(fill["time"]) - 1]
        assert fill["symbol"] == scores.loc[decided].idxmax()
