"""Two-input, two-output models in Backtrader: fundamentals as a DataFrame or a second data, in
process, through the server and live, with the as-of rule of training."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import backtrader as bt
import numpy as np
import pandas as pd
import pytest

from signalstack.core.labels import LabelSpec
from signalstack.plugin import (
    GrpcSource,
    OnnxSource,
    SignalIndicator,
    SignalSource,
    bars_feed,
    fundamentals_feed,
    run_backtest,
)

from ..support import SMALL, serving

LINES = ["p_down", "p_flat", "p_up", "forecast"]


def quarterly(bars: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """Random factors dated every 60 calendar days from the 200th bar, after the model's warm-up."""
    index = pd.date_range(bars.index[200], bars.index[-1], freq="60D")
    values = np.random.default_rng(seed).normal(size=(len(index), 3))
    return pd.DataFrame(values, index=index, columns=["pe", "pb", "roe"])


@pytest.fixture(scope="module")
def bars(sp500: pd.DataFrame) -> pd.DataFrame:
    return sp500.iloc[:900]


@pytest.fixture(scope="module")
def fundamentals(bars: pd.DataFrame) -> pd.DataFrame:
    return quarterly(bars)


@pytest.fixture(scope="module")
def multitask(tmp_path_factory: pytest.TempPathFactory, bars: pd.DataFrame, fundamentals: pd.DataFrame) -> Path:
    """Example 8's multitask net (fundamentals + technical windows -> classes and a forecast), trained briefly."""
    from signalstack.models.config import TrainConfig
    from signalstack.models.pipeline import train_and_export

    out = tmp_path_factory.mktemp("two_inputs") / "multitask.onnx"
    train_and_export(
        bars,
        out,
        architecture="multitask",
        labels=LabelSpec.three_class(5),
        features=SMALL,
        window=8,
        params={"hidden": 4},
        config=TrainConfig(epochs=1, progress=False),
        fundamentals=fundamentals,
    )
    return out


@pytest.fixture(scope="module")
def target(multitask: Path) -> Iterator[str]:
    with serving(multitask.parent) as served:
        yield served


class _Watch(bt.Strategy):
    params = (("source", None), ("fundamentals", None))

    def __init__(self) -> None:
        datas = self.datas[:2] if self.p.fundamentals is None else self.datas[:1]
        self.signal = SignalIndicator(*datas, source=self.p.source, fundamentals=self.p.fundamentals)


def lines(
    source: SignalSource,
    bars: pd.DataFrame,
    *,
    fundamentals: pd.DataFrame | None = None,
    feed: pd.DataFrame | None = None,
    preload: bool = True,
) -> pd.DataFrame:
    """The indicator's four lines after a Cerebro run: fundamentals as a frame, or `feed` as a second data."""
    cerebro = bt.Cerebro(stdstats=False, preload=preload, runonce=preload)
    cerebro.adddata(bars_feed(bars))
    if feed is not None:
        cerebro.adddata(fundamentals_feed(feed, bars))
    cerebro.addstrategy(_Watch, source=source, fundamentals=fundamentals)
    signal = cerebro.run()[0].signal
    table = np.column_stack([np.asarray(getattr(signal.lines, name).array) for name in LINES])
    return pd.DataFrame(table, index=bars.index, columns=LINES)


@pytest.fixture(scope="module")
def onnx_lines(multitask: Path, bars: pd.DataFrame, fundamentals: pd.DataFrame) -> pd.DataFrame:
    return lines(OnnxSource(multitask), bars, fundamentals=fundamentals)


def test_a_two_output_model_fills_the_lines_of_both_heads(onnx_lines: pd.DataFrame, multitask: Path) -> None:
    source = OnnxSource(multitask)
    assert source.columns == ["down", "flat", "up", "forecast"]
    assert [i.name for i in source.tensor_inputs] == ["fundamentals"]
    scored = onnx_lines.dropna()
    assert len(scored) > 500
    np.testing.assert_allclose(scored[["p_down", "p_flat", "p_up"]].sum(axis=1), 1.0, rtol=1e-5)
    assert scored["forecast"].std() > 0


def test_bars_before_the_first_fundamentals_row_get_no_signal(
    onnx_lines: pd.DataFrame, multitask: Path, fundamentals: pd.DataFrame
) -> None:
    first = fundamentals.index[0]
    assert OnnxSource(multitask).card.bars_required < 200
    assert onnx_lines.loc[onnx_lines.index < first].isna().all().all()
    assert onnx_lines.loc[onnx_lines.index >= first].notna().all().all()


def test_a_second_data_feed_gives_the_lines_a_dataframe_gives(
    onnx_lines: pd.DataFrame, multitask: Path, bars: pd.DataFrame, fundamentals: pd.DataFrame
) -> None:
    fed = lines(OnnxSource(multitask), bars, feed=fundamentals)
    pd.testing.assert_frame_equal(fed, onnx_lines)


def test_a_live_second_data_feed_gives_the_batched_lines(
    onnx_lines: pd.DataFrame, multitask: Path, bars: pd.DataFrame, fundamentals: pd.DataFrame
) -> None:
    # Live, only the newest fundamentals row is read per bar: the lines must not change for it.
    recent, source = bars.iloc[-150:], OnnxSource(multitask)
    live = lines(source, recent, feed=fundamentals, preload=False)
    scored = live.dropna()
    assert len(scored) == len(recent) - source.card.bars_required + 1
    np.testing.assert_allclose(scored, onnx_lines.loc[scored.index], rtol=0, atol=1e-6)


def test_grpc_live_and_in_process_lines_agree(
    onnx_lines: pd.DataFrame, target: str, multitask: Path, bars: pd.DataFrame, fundamentals: pd.DataFrame
) -> None:
    with GrpcSource(target, "multitask") as served:
        assert served.columns == OnnxSource(multitask).columns
        batched = lines(served, bars, fundamentals=fundamentals)
        live = lines(served, bars.iloc[-150:], fundamentals=fundamentals, preload=False)
    pd.testing.assert_frame_equal(batched, onnx_lines, rtol=0, atol=1e-6)
    np.testing.assert_allclose(live.dropna(), onnx_lines.iloc[-len(live.dropna()) :], rtol=0, atol=1e-6)


def test_fundamentals_published_later_do_not_change_earlier_signals(
    onnx_lines: pd.DataFrame, multitask: Path, bars: pd.DataFrame, fundamentals: pd.DataFrame
) -> None:
    cut = fundamentals.index[len(fundamentals) // 2]
    rewritten = fundamentals.copy()
    rewritten.loc[rewritten.index > cut] *= -3.0
    after = lines(OnnxSource(multitask), bars, fundamentals=rewritten)
    pd.testing.assert_frame_equal(after.loc[:cut], onnx_lines.loc[:cut])
    assert not np.allclose(
        after.loc[after.index > cut + pd.Timedelta(days=60)].dropna(),
        onnx_lines.loc[onnx_lines.index > cut + pd.Timedelta(days=60)].dropna(),
    )


def test_backtest_trades_a_two_input_model_and_refuses_one_without_fundamentals(
    multitask: Path, bars: pd.DataFrame, fundamentals: pd.DataFrame
) -> None:
    source = OnnxSource(multitask)
    result = run_backtest(source, bars, fundamentals=fundamentals, buy_threshold=0.34, sell_threshold=0.3)
    assert result.probabilities.columns.tolist() == ["down", "flat", "up", "forecast"]
    assert result.probabilities.notna().all().all() and len(result.fills) > 0
    with pytest.raises(ValueError, match=r"takes \{'fundamentals': \['pe', 'pb', 'roe'\]\} besides bars"):
        run_backtest(source, bars)


def test_a_missing_column_of_the_second_data_is_named(
    multitask: Path, bars: pd.DataFrame, fundamentals: pd.DataFrame
) -> None:
    with pytest.raises(ValueError, match=r"lacks lines \['roe'\]"):
        lines(OnnxSource(multitask), bars, feed=fundamentals.drop(columns="roe"))


def test_the_server_names_a_missing_tensor_input_and_refuses_streams_for_it(target: str, bars: pd.DataFrame) -> None:
    import grpc

    from signalstack.protos.signalstack.v1 import signals_pb2 as pb
    from signalstack.transport.client import SignalClient

    with SignalClient(target) as client:
        with pytest.raises(grpc.RpcError) as info:
            client.predict("multitask", [bars.iloc[-100:]])
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "tensor inputs []: model multitask takes ['fundamentals']" in info.value.details()
        event = pb.BarEvent(model="multitask", symbol="SPY", open=1, high=1, low=1, close=1, volume=1)
        with pytest.raises(grpc.RpcError) as info:
            list(client.stream_signals([event]))
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "also takes tensor inputs (fundamentals)" in info.value.details()
