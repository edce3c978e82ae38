"""StreamSignals: rolling windows per symbol, an answer per bar, bad bars refused by name."""

from __future__ import annotations

import copy
from pathlib import Path

import grpc
import numpy as np
import pandas as pd
import pytest

from signalstack.core.bars import COLUMNS
from signalstack.core.errors import InvalidInput, LimitExceeded
from signalstack.core.model import OnnxModel
from signalstack.protos.signalstack.v1 import signals_pb2 as pb
from signalstack.server.batching import Batchers
from signalstack.server.streaming import RollingBars, SignalStream
from signalstack.transport.client import SignalClient

from ..support import SMALL, handmade_model, serving, walk_with_flat_volume
from .support import bar_events


def test_rolling_bars_keep_the_latest_bars_in_order() -> None:
    bars = RollingBars(capacity=3)
    for i in range(1, 11):
        bars.append(np.full(len(COLUMNS), float(i)))
        assert len(bars) == min(i, 3) and bars.newest() == (float(i),) * len(COLUMNS)
        assert [bar[3] for bar in bars.bars()] == [float(j) for j in range(max(1, i - 2), i + 1)]
    bars.reserve(5)
    bars.append(np.full(len(COLUMNS), 11.0))
    bars.append(np.full(len(COLUMNS), 12.0))
    assert [bar[0] for bar in bars.bars()] == [8.0, 9.0, 10.0, 11.0, 12.0]


def test_a_symbol_s_input_takes_a_row_per_bar_and_a_new_version_starts_from_the_bars_kept(
    local: OnnxModel, sp500: pd.DataFrame
) -> None:
    n = local.bars_required
    bars = sp500.iloc[: n + 6]
    newer = copy.copy(local)  # the same graph served as the next version
    newer.version = local.version + 1
    stream = SignalStream(Batchers())
    for i, values in enumerate(bars[list(COLUMNS)].itertuples(index=False, name=None)):
        stream.add("tiny", "SPY", i + 1, values, n, f"bar {i}")
        rows = stream.input(local if i < n + 2 else newer, "SPY")  # the version changes at bar n + 2
        if i >= n - 1:  # the window is full: the input is the one the window of the last n bars gives
            want = local.featurizer.window(bars.iloc[i + 1 - n : i + 1])
            np.testing.assert_allclose(rows.input()[0], want, rtol=0, atol=1e-6)


def test_each_stream_keeps_at_most_max_symbols_windows() -> None:
    stream = SignalStream(Batchers(), max_symbols=2)
    bar = (10.0, 11.0, 9.0, 10.5, 100.0)
    stream.add("tiny", "A", 0, bar, 5, "bar 0")
    stream.add("tiny", "B", 0, bar, 5, "bar 1")
    with pytest.raises(LimitExceeded, match="symbol 'C' would be window 3 of this stream, expected at most 2"):
        stream.add("tiny", "C", 0, bar, 5, "bar 2")
    with pytest.raises(InvalidInput, match="bar 3: symbol of 129 characters, expected at most 128"):
        stream.add("tiny", "X" * 129, 0, bar, 5, "bar 3")


def test_stream_answers_every_bar_and_predicts_once_the_window_is_full(
    client: SignalClient, local: OnnxModel, sp500: pd.DataFrame
) -> None:
    n = local.bars_required
    spy, qqq = sp500.iloc[: n + 4], sp500.iloc[100 : 100 + n + 4]
    events = [e for pair in zip(bar_events(spy, symbol="SPY"), bar_events(qqq, symbol="QQQ")) for e in pair]
    signals = list(client.stream_signals(events))
    assert len(signals) == len(events)
    for symbol, bars in (("SPY", spy), ("QQQ", qqq)):
        answers = [s for s in signals if s.symbol == symbol]
        assert [s.time for s in answers] == bars.index.as_unit("s").asi8.tolist()
        assert [s.bars_needed for s in answers[:n]] == list(range(n - 1, -1, -1)) and answers[-1].bars_needed == 0
        assert not any(s.probabilities for s in answers[: n - 1])
        got = np.array([s.probabilities for s in answers[n - 1 :]], dtype=np.float32)
        want = local.predict_windows([bars.iloc[end - n : end] for end in range(n, len(bars) + 1)])
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
        assert {(s.model, s.version, tuple(s.columns)) for s in answers} == {("tiny", 1, ("down", "up"))}


def test_a_signal_carries_every_output_of_a_multi_output_model(tmp_path: Path) -> None:
    model = OnnxModel(handmade_model(tmp_path / "twin.onnx", SMALL, 6, forecast=True, seed=3))
    bars = walk_with_flat_volume(model.bars_required + 5, seed=21)
    with serving(tmp_path) as target, SignalClient(target, timeout=30) as client:
        answers = list(client.stream_signals(bar_events(bars, model="twin")))
    scored = answers[model.bars_required - 1 :]
    assert not any(a.outputs for a in answers[: model.bars_required - 1])
    assert [[(t.name, tuple(t.columns), tuple(t.shape)) for t in a.outputs] for a in scored] == [
        [("probabilities", ("down", "up"), (1, 2)), ("forecast", ("forecast",), (1, 1))]
    ] * len(scored)
    want = model.predict_windows(
        [bars.iloc[end - model.bars_required : end] for end in range(model.bars_required, len(bars) + 1)]
    )
    got = np.array([[*a.outputs[0].values, *a.outputs[1].values] for a in scored], dtype=np.float32)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert [list(a.probabilities) for a in scored] == [list(a.outputs[0].values) for a in scored]  # as before


def _fails(client: SignalClient, events: list[pb.BarEvent]) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        list(client.stream_signals(events))
    return info.value


def test_a_bad_bar_ends_the_stream_naming_the_bar(client: SignalClient, sp500: pd.DataFrame) -> None:
    events = bar_events(sp500.iloc[:5])
    events[3].close = float("nan")
    error = _fails(client, events)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "StreamSignals message 3 (symbol 'SPY')" in error.details() and "close nan" in error.details()


def test_bars_out_of_time_order_are_refused(client: SignalClient, sp500: pd.DataFrame) -> None:
    events = bar_events(sp500.iloc[:3])
    events[2].time = events[0].time
    error = _fails(client, events)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert f"time {events[0].time} of symbol 'SPY' is not after its previous bar's" in error.details()


def test_an_unknown_model_ends_the_stream_with_not_found(client: SignalClient, sp500: pd.DataFrame) -> None:
    error = _fails(client, bar_events(sp500.iloc[:2], model="nope"))
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert "model 'nope' not found" in error.details()


def test_an_empty_stream_ends_cleanly(client: SignalClient) -> None:
    assert list(client.stream_signals([])) == []
