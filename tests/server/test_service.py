"""SignalService against a real server: same numbers as the runtime in process, clear errors."""

from __future__ import annotations

import json
from collections.abc import Callable

import grpc
import numpy as np
import pandas as pd
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

from signalstack.core.model import OnnxModel
from signalstack.protos.signalstack.v1 import signals_pb2 as pb
from signalstack.protos.signalstack.v1 import signals_pb2_grpc as pb_grpc
from signalstack.transport.client import SignalClient


def _windows(sp500: pd.DataFrame, n: int) -> list[pd.DataFrame]:
    return [sp500.iloc[end - n : end] for end in (n, n + 1, 1000, len(sp500))]


def test_list_and_get_model_describe_the_card(client: SignalClient, local: OnnxModel) -> None:
    (info,) = client.list_models()
    assert (info.name, info.version) == ("tiny", 1)
    assert info.bars_required == local.card.bars_required
    assert info.window == local.card.window == 20
    assert info.warmup == local.card.warmup
    assert info.horizon == local.card.horizon
    assert list(info.columns) == local.card.classes
    assert info.provider == local.provider
    assert client.get_model("tiny") == info
    assert client.get_model("tiny", 1) == info
    assert json.loads(info.card_json) == json.loads(local.card.to_json())
    assert client.card("tiny") == local.card


def test_predict_equals_runtime(client: SignalClient, local: OnnxModel, sp500: pd.DataFrame) -> None:
    windows = _windows(sp500, local.bars_required)
    got = client.predict("tiny", windows)
    assert got.dtype == np.float32 and got.shape == (len(windows), len(local.columns))
    assert np.array_equal(got, local.predict_windows(windows))


def test_predict_series_equals_runtime(client: SignalClient, local: OnnxModel, sp500: pd.DataFrame) -> None:
    got = client.predict_series("tiny", sp500)
    want = local.predict_series(sp500)
    assert np.array_equal(got.to_numpy(), want.to_numpy())
    assert got.index.equals(want.index) and list(got.columns) == list(want.columns)


def test_predict_series_echoes_times_of_scored_bars(
    channel: grpc.Channel, local: OnnxModel, sp500: pd.DataFrame
) -> None:
    bars = sp500.iloc[:600]
    times = (bars.index.as_unit("s").asi8).tolist()
    request = pb.PredictSeriesRequest(model="tiny", bars=pb.Bars(time=times, **_columns(bars)))
    response = pb_grpc.SignalServiceStub(channel).PredictSeries(request, timeout=30)
    first = local.bars_required - 1
    assert (response.model, response.version, response.first_index) == ("tiny", 1, first)
    assert list(response.time) == times[first:]
    assert len(response.probabilities) == (len(bars) - first) * len(response.columns)


def _columns(bars: pd.DataFrame) -> dict[str, list[float]]:
    return {c: bars[c].tolist() for c in ("open", "high", "low", "close", "volume")}


def _with(bars: pd.DataFrame, column: str, value: float) -> pd.DataFrame:
    """A copy of `bars` whose last bar has `value` in `column`."""
    bars = bars.copy()
    bars.iloc[-1, bars.columns.get_loc(column)] = value
    return bars


BAD_CALLS: dict[str, tuple[Callable[[SignalClient, pd.DataFrame, int], object], grpc.StatusCode, str]] = {
    "unknown model": (
        lambda c, b, n: c.predict("nope", [b.iloc[:n]]),
        grpc.StatusCode.NOT_FOUND,
        "model 'nope' not found (available: tiny)",
    ),
    "unknown version": (
        lambda c, b, n: c.get_model("tiny", 7),
        grpc.StatusCode.NOT_FOUND,
        "model 'tiny' has no version 7 (available versions: 1)",
    ),
    "too few bars": (
        lambda c, b, n: c.predict("tiny", [b.iloc[: n - 1]]),
        grpc.StatusCode.INVALID_ARGUMENT,
        "window 0: {n1} bars, expected at least {n}",
    ),
    "nan price": (
        lambda c, b, n: c.predict("tiny", [_with(b.iloc[:n], "close", np.nan)]),
        grpc.StatusCode.INVALID_ARGUMENT,
        "close nan, expected a finite number",
    ),
    "negative price": (
        lambda c, b, n: c.predict("tiny", [b.iloc[:n], _with(b.iloc[:n], "low", -1.0)]),
        grpc.StatusCode.INVALID_ARGUMENT,
        "window 1 row {n}: low -1, expected a price > 0",
    ),
    "high below close": (
        lambda c, b, n: c.predict("tiny", [_with(b.iloc[:n], "high", 1.0)]),
        grpc.StatusCode.INVALID_ARGUMENT,
        "high 1, expected high >= max(open, close)",
    ),
    "unequal columns": (
        lambda c, b, n: c.predict("tiny", [{**_columns(b.iloc[:n]), "volume": [1.0] * (n - 3)}]),
        grpc.StatusCode.INVALID_ARGUMENT,
        "columns must be 1-D and of equal length",
    ),
    "no windows": (
        lambda c, b, n: c.predict("tiny", []),
        grpc.StatusCode.INVALID_ARGUMENT,
        "no windows: model tiny needs at least one window of bars",
    ),
    "empty series": (
        lambda c, b, n: c.predict_series("tiny", b.iloc[:0]),
        grpc.StatusCode.INVALID_ARGUMENT,
        "series: 0 bars, expected at least {n}",
    ),
    "series unknown version": (
        lambda c, b, n: c.predict_series("tiny", b, version=2),
        grpc.StatusCode.NOT_FOUND,
        "model 'tiny' has no version 2",
    ),
}


@pytest.mark.parametrize("case", list(BAD_CALLS))
def test_bad_request_gets_status_and_message_then_service_still_works(
    case: str, client: SignalClient, local: OnnxModel, sp500: pd.DataFrame
) -> None:
    call, code, message = BAD_CALLS[case]
    n = local.bars_required
    with pytest.raises(grpc.RpcError) as info:
        call(client, sp500, n)
    assert info.value.code() == code
    assert message.format(n=n, n1=n - 1) in info.value.details()
    assert client.predict("tiny", [sp500.iloc[:n]]).shape == (1, len(local.columns))


def test_series_times_must_match_bars(channel: grpc.Channel, sp500: pd.DataFrame) -> None:
    bars = sp500.iloc[:100]
    request = pb.PredictSeriesRequest(model="tiny", bars=pb.Bars(time=[1, 2, 3], **_columns(bars)))
    with pytest.raises(grpc.RpcError) as info:
        pb_grpc.SignalServiceStub(channel).PredictSeries(request, timeout=30)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert info.value.details() == "series: 3 times for 100 bars (expected one time per bar, or none)"


@pytest.mark.parametrize("service", ["", "signalstack.v1.SignalService", "tiny"])
def test_health_reports_serving(channel: grpc.Channel, service: str) -> None:
    response = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=service), timeout=10)
    assert response.status == health_pb2.HealthCheckResponse.SERVING


def test_reflection_describes_the_service(channel: grpc.Channel) -> None:
    database = ProtoReflectionDescriptorDatabase(channel)
    assert set(database.get_services()) >= {"signalstack.v1.SignalService", "grpc.health.v1.Health"}
    proto = database.FindFileContainingSymbol("signalstack.v1.SignalService")
    assert proto.name == "signalstack/v1/signals.proto"
    assert [m.name for m in proto.service[0].method] == [
        "Predict",
        "PredictSeries",
        "ListModels",
        "GetModel",
        "StreamSignals",
    ]
