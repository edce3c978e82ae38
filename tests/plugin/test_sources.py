"""In process and through the real gRPC server, the plugin sees the same numbers."""

from __future__ import annotations

from pathlib import Path

import grpc
import numpy as np
import pandas as pd
import pytest

from signalstack.plugin import GrpcSource, OnnxSource, PrecomputedSource, open_source, run_backtest
from signalstack.transport.security import ClientSecurity

from ..support import free_port
from .support import indicator_lines


@pytest.fixture(scope="module")
def onnx_lines(onnx_source: OnnxSource, sp500: pd.DataFrame) -> np.ndarray:
    return indicator_lines(onnx_source, sp500)


def test_indicator_lines_are_the_models_series_predictions(
    onnx_lines: np.ndarray, onnx_source: OnnxSource, sp500: pd.DataFrame
) -> None:
    first = onnx_source.card.bars_required - 1
    expected = onnx_source.model.predict_series(sp500)
    assert np.isnan(onnx_lines[:first]).all() and np.isnan(onnx_lines[:, [1, 3, 4]]).all()
    np.testing.assert_array_equal(onnx_lines[first:, [0, 2]], expected[["down", "up"]].to_numpy(np.float64))


def test_grpc_and_in_process_lines_are_identical(
    onnx_lines: np.ndarray, grpc_source: GrpcSource, sp500: pd.DataFrame
) -> None:
    assert np.array_equal(indicator_lines(grpc_source, sp500), onnx_lines, equal_nan=True)


def test_runonce_and_next_modes_give_identical_lines(
    onnx_lines: np.ndarray, onnx_source: OnnxSource, sp500: pd.DataFrame
) -> None:
    assert np.array_equal(indicator_lines(onnx_source, sp500, runonce=False), onnx_lines, equal_nan=True)


def _count_calls(monkeypatch: pytest.MonkeyPatch, owner: object, name: str) -> list[tuple]:
    calls: list[tuple] = []
    method = getattr(owner, name)
    monkeypatch.setattr(owner, name, lambda *a, **k: calls.append(a) or method(*a, **k))
    return calls


def test_live_bars_are_scored_one_at_a_time_like_the_batch(
    onnx_lines: np.ndarray, grpc_source: GrpcSource, sp500: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without preloading, every bar goes through predict_last (one Predict RPC each), and the
    features over a window of bars_required bars match the full history's."""
    series = _count_calls(monkeypatch, grpc_source.client, "predict_series")
    single = _count_calls(monkeypatch, grpc_source.client, "predict")
    n = grpc_source.card.bars_required + 20
    live = indicator_lines(grpc_source, sp500.iloc[:n], runonce=False, preload=False)
    assert (len(series), len(single)) == (0, 21)
    np.testing.assert_allclose(live, onnx_lines[:n], rtol=0, atol=1e-6)


def test_backtests_through_grpc_and_in_process_are_identical(
    onnx_source: OnnxSource, grpc_source: GrpcSource, sp500: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _count_calls(monkeypatch, grpc_source.client, "predict_series")
    remote, local = run_backtest(grpc_source, sp500), run_backtest(onnx_source, sp500)
    assert len(calls) == 1  # one PredictSeries for the whole backtest, not one call per bar
    pd.testing.assert_series_equal(remote.stats, local.stats)
    pd.testing.assert_frame_equal(remote.trades, local.trades)
    pd.testing.assert_frame_equal(remote.fills, local.fills)
    pd.testing.assert_frame_equal(remote.equity, local.equity)
    assert len(local.trades) > 0


def test_grpc_source_pins_the_served_version(grpc_source: GrpcSource) -> None:
    assert grpc_source.version >= 1 and grpc_source.columns == ["down", "up"]
    assert grpc_source.card.bars_required == grpc_source.client.get_model("tiny").bars_required


def test_open_source_understands_each_spec(grpc_target: str, tiny_model: Path, tmp_path: Path) -> None:
    with open_source(f"grpc://{grpc_target}/tiny") as by_url, open_source(grpc_target, model="tiny") as by_address:
        assert by_url.name == by_address.name
    assert isinstance(open_source(str(tiny_model)), OnnxSource)
    csv = tmp_path / "probs.csv"
    pd.DataFrame({"down": [0.4], "up": [0.6]}, index=pd.DatetimeIndex(["2020-01-02"], name="time")).to_csv(csv)
    table = open_source(str(csv))
    assert isinstance(table, PrecomputedSource) and table.columns == ["down", "up"]


@pytest.mark.parametrize("spec", ["model.pt", "127.0.0.1:50051", "grpc://127.0.0.1:50051"])
def test_open_source_names_a_spec_it_cannot_use(spec: str) -> None:
    with pytest.raises(ValueError, match=f"signal source '{spec}'"):
        open_source(spec)


def test_grpc_source_for_an_unknown_model_says_not_found(grpc_target: str) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        GrpcSource(grpc_target, "no_such_model")
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


def test_precomputed_predictions_backtest_like_the_model(onnx_source: OnnxSource, sp500: pd.DataFrame) -> None:
    table = PrecomputedSource(onnx_source.predict_series(sp500), card=onnx_source.card)
    local, stored = run_backtest(onnx_source, sp500), run_backtest(table, sp500)
    pd.testing.assert_series_equal(stored.stats, local.stats)
    pd.testing.assert_frame_equal(stored.trades, local.trades)
    pd.testing.assert_frame_equal(stored.equity, local.equity)


def test_live_mode_trades_like_the_batched_backtest(onnx_source: OnnxSource, sp500: pd.DataFrame) -> None:
    """Fed bar by bar (no preload, one predict_last per bar) the strategy sees the same p_up to 1e-6
    and makes the same trades as with one batched call."""
    bars = sp500.iloc[-(onnx_source.card.bars_required + 250) :]
    start = bars.index[onnx_source.card.bars_required]
    batched = run_backtest(onnx_source, bars, start=start, buy_threshold=0.52, sell_threshold=0.48)
    live = run_backtest(onnx_source, bars, start=start, buy_threshold=0.52, sell_threshold=0.48, preload=False)
    np.testing.assert_allclose(live.probabilities, batched.probabilities, rtol=0, atol=1e-6)
    assert len(batched.trades) > 5
    pd.testing.assert_frame_equal(live.trades, batched.trades)
    pd.testing.assert_frame_equal(live.equity, batched.equity)


def test_grpc_source_sends_its_bearer_token(model_dir: Path, tmp_path: Path) -> None:
    from signalstack.server.app import SignalServer
    from signalstack.server.options import ServeOptions

    tokens = tmp_path / "tokens"
    tokens.write_text("s3cret-token-of-the-test-0123\n")
    with SignalServer(ServeOptions(model_dir, port=free_port(), grace=0, token_file=tokens)) as server:
        with pytest.raises(grpc.RpcError) as caught:
            GrpcSource(server.address, "tiny")
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
        security = ClientSecurity(token="s3cret-token-of-the-test-0123")
        with open_source(f"grpc://{server.address}/tiny", security=security) as source:
            assert source.version >= 1 and source.columns == ["down", "up"]


def test_security_options_are_refused_for_local_sources(tiny_model: Path) -> None:
    with pytest.raises(ValueError, match="token apply to a gRPC server only"):
        open_source(str(tiny_model), security=ClientSecurity(token="s3cret-token-of-the-test-0123"))
