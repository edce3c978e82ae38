"""In process and through the real gRPC server, the plugin sees the same numbers."""

from __future__ import annotations

from pathlib import Path

import grpc
import numpy as np
import pandas as pd
import pytest

from signalstack.plugin import GrpcSource, OnnxSource, PrecomputedSource, open_source, run_backtest

from .support import indicator_lines


@pytest.fixture(scope="module")
def onnx_lines(onnx_source: OnnxSource, sp500: pd.DataFrame) -> np.ndarray:
    return indicator_lines(onnx_source, sp500)


def test_indicator_lines_are_the_models_series_predictions(onnx_lines: np.ndarray, onnx_source: OnnxSource,
                                                           sp500: pd.DataFrame) -> None:
    first = onnx_source.card.bars_required - 1
    expected = onnx_source.model.predict_series(sp500)
    assert np.isnan(onnx_lines[:first]).all() and np.isnan(onnx_lines[:, 1]).all()
    np.testing.assert_array_equal(onnx_lines[first:, [0, 2]], expected[["down", "up"]].to_numpy(np.float64))


def test_grpc_and_in_process_lines_are_identical(onnx_lines: np.ndarray, grpc_source: GrpcSource,
                                                 sp500: pd.DataFrame) -> None:
    assert np.array_equal(indicator_lines(grpc_source, sp500), onnx_lines, equal_nan=True)


def test_runonce_and_next_modes_give_identical_lines(onnx_lines: np.ndarray, onnx_source: OnnxSource,
                                                     sp500: pd.DataFrame) -> None:
    assert np.array_equal(indicator_lines(onnx_source, sp500, runonce=False), onnx_lines, equal_nan=True)


def _count_calls(monkeypatch: pytest.MonkeyPatch, owner: object, name: str) -> list[tuple]:
    calls: list[tuple] = []
    method = getattr(owner, name)
    monkeypatch.setattr(owner, name, lambda *a, **k: calls.append(a) or method(*a, **k))
    return calls


def test_live_bars_are_scored_one_at_a_time_like_the_batch(onnx_lines: np.ndarray, grpc_source: GrpcSource,
                                                           sp500: pd.DataFrame,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Without preloading, bars after the first scored one go through predict_last (Predict RPCs);
    features over a window of bars_required bars match the full history's to float32 noise."""
    series = _count_calls(monkeypatch, grpc_source.client, "predict_series")
    single = _count_calls(monkeypatch, grpc_source.client, "predict")
    n = grpc_source.card.bars_required + 20
    live = indicator_lines(grpc_source, sp500.iloc[:n], runonce=False, preload=False)
    assert (len(series), len(single)) == (1, 20)
    np.testing.assert_allclose(live, onnx_lines[:n], rtol=0, atol=1e-5)


def test_backtests_through_grpc_and_in_process_are_identical(onnx_source: OnnxSource, grpc_source: GrpcSource,
                                                             sp500: pd.DataFrame,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _count_calls(monkeypatch, grpc_source.client, "predict_series")
    remote, local = run_backtest(grpc_source, sp500), run_backtest(onnx_source, sp500)
    assert len(calls) == 1  # one PredictSeries for the whole backtest, not one call per bar
    pd.testing.assert_series_equal(remote.stats, local.stats)
    pd.testing.assert_frame_equal(remote.trades, local.trades)
    pd.testing.assert_frame_equal(remote.fills, local.fills)
    pd.testing.assert_frame_equal(remote.equity, local.equity)
    assert len(local.trades) > 0


def test_grpc_source_pins_the_served_version(grpc_source: GrpcSource) -> None:
    assert grpc_source.version >= 1 and grpc_source.outputs == ["down", "up"]
    assert grpc_source.card.bars_required == grpc_source.client.get_model("tiny").bars_required


def test_open_source_understands_each_spec(grpc_target: str, tiny_model: Path, tmp_path: Path) -> None:
    with open_source(f"grpc://{grpc_target}/tiny") as by_url, open_source(grpc_target, model="tiny") as by_address:
        assert by_url.name == by_address.name
    assert isinstance(open_source(str(tiny_model)), OnnxSource)
    csv = tmp_path / "probs.csv"
    pd.DataFrame({"down": [0.4], "up": [0.6]}, index=pd.DatetimeIndex(["2020-01-02"], name="time")).to_csv(csv)
    table = open_source(str(csv))
    assert isinstance(table, PrecomputedSource) and table.outputs == ["down", "up"]


@pytest.mark.parametrize("spec", ["model.pt", "127.0.0.1:50051", "grpc://127.0.0.1:50051"])
def test_open_source_names_a_spec_it_cannot_use(spec: str) -> None:
    with pytest.raises(ValueError, match=f"signal source '{spec}'"):
        open_source(spec)


def test_grpc_source_for_an_unknown_model_says_not_found(grpc_target: str) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        GrpcSource(grpc_target, "no_such_model")
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
