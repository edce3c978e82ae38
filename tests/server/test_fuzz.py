"""Bad inputs on every RPC, generated: no crash, a client-error status with a message, service intact.

Each property sends generated requests to the session's real server and accepts only OK or the
status codes that blame the request. Afterwards the server must not have counted a single
INTERNAL or UNKNOWN answer, and must still answer a valid request.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pandas as pd
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from signalstack.core.bars import COLUMNS
from signalstack.core.model import OnnxModel
from signalstack.protos.inference import grpc_predict_v2_pb2 as oip
from signalstack.protos.inference import grpc_predict_v2_pb2_grpc as oip_grpc
from signalstack.protos.signalstack.v1 import signals_pb2 as pb
from signalstack.protos.signalstack.v1 import signals_pb2_grpc as pb_grpc
from signalstack.server import metrics
from signalstack.server.repository import ModelRepository

from .support import bar_events, running

CLIENT_ERRORS = {grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND, grpc.StatusCode.RESOURCE_EXHAUSTED}
FUZZ = settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

names = st.one_of(
    st.sampled_from(["tiny", "", "nope", "../tiny", "tiny/1", "TINY", "tiny\x00", "a" * 300]), st.text(max_size=40)
)
versions = st.one_of(st.sampled_from([0, 1, 2, -1]), st.integers(-(2**63), 2**63 - 1))
odd_numbers = st.sampled_from([np.nan, np.inf, -np.inf, 0.0, -1.0, 1e308, -1e308, 5e-324, 1e9])
odd_features = st.sampled_from([np.nan, np.inf, -np.inf, 3e38, -3e38, 1e-45])


def _server_faults() -> float:
    """INTERNAL and UNKNOWN answers counted by this process's servers so far."""
    return sum(
        s.value
        for s in metrics.REQUESTS.collect()[0].samples
        if s.name.endswith("_total") and s.labels["code"] in ("INTERNAL", "UNKNOWN")
    )


@pytest.fixture(autouse=True)
def server_stays_healthy(channel: grpc.Channel, sp500: pd.DataFrame, local: OnnxModel) -> Iterator[None]:
    """Around each property: no server fault counted, and a valid Predict still answered afterwards."""
    faults = _server_faults()
    yield
    assert _server_faults() == faults, "the server answered INTERNAL or UNKNOWN to a generated request"
    window = sp500.iloc[-local.bars_required :]
    request = pb.PredictRequest(model="tiny", windows=[pb.Bars(**{c: window[c].tolist() for c in COLUMNS})])
    assert len(pb_grpc.SignalServiceStub(channel).Predict(request, timeout=30).predictions) == 1


def _answers(call: Callable[[], Any]) -> None:
    """Run `call`; a failure must carry a client-error code and a message."""
    try:
        call()
    except grpc.RpcError as error:
        assert error.code() in CLIENT_ERRORS, (error.code(), error.details())
        assert error.details(), error.code()


@st.composite
def bars(draw: st.DrawFn, sp500: pd.DataFrame, longest: int = 600) -> pb.Bars:
    """Real bars, cut at a generated place and length, then spoiled in generated ways."""
    start = draw(st.integers(0, len(sp500) - 1))
    length = draw(st.integers(0, longest))
    columns = {c: sp500[c].to_numpy()[start : start + length].copy() for c in COLUMNS}
    for _ in range(draw(st.integers(0, 3))):
        column = draw(st.sampled_from(COLUMNS))
        if len(columns[column]) and draw(st.booleans()):
            columns[column][draw(st.integers(0, len(columns[column]) - 1))] = draw(odd_numbers)
        else:
            columns[column] = columns[column][: draw(st.integers(0, len(columns[column])))]
    times = draw(st.sampled_from([[], list(range(length)), list(range(length + 1)), [1, 1, 1]]))
    return pb.Bars(time=times, **{c: v.tolist() for c, v in columns.items()})


def test_predict_fuzzed(channel: grpc.Channel, sp500: pd.DataFrame) -> None:
    stub = pb_grpc.SignalServiceStub(channel)

    @FUZZ
    @given(name=names, version=versions, windows=st.lists(bars(sp500), max_size=3))
    def check(name: str, version: int, windows: list[pb.Bars]) -> None:
        _answers(lambda: stub.Predict(pb.PredictRequest(model=name, version=version, windows=windows), timeout=30))
        _answers(lambda: stub.Predict(pb.PredictRequest(model="tiny", windows=windows), timeout=30))

    check()


@st.composite
def tensors(draw: st.DrawFn) -> pb.Tensor:
    """A named tensor whose claimed shape may disagree with its values, overflow, or be negative or empty."""
    shape = draw(st.lists(st.one_of(st.integers(-2, 8), st.sampled_from([2**31, 2**40, 2**62])), max_size=10))
    values = draw(st.lists(st.one_of(st.floats(width=32), odd_features), max_size=64))
    name = draw(st.sampled_from(["fundamentals", "features", "", "x" * 200]))
    return pb.Tensor(name=name, shape=shape, values=values)


def test_tensor_inputs_fuzzed(channel: grpc.Channel, sp500: pd.DataFrame, local: OnnxModel) -> None:
    stub = pb_grpc.SignalServiceStub(channel)
    window = sp500.iloc[-local.bars_required :]
    good = pb.Bars(**{c: window[c].tolist() for c in COLUMNS})

    @FUZZ
    @given(inputs=st.lists(tensors(), max_size=3), windowed=st.booleans())
    def check(inputs: list[pb.Tensor], windowed: bool) -> None:
        windows = [good] if windowed else []
        _answers(lambda: stub.Predict(pb.PredictRequest(model="tiny", windows=windows, inputs=inputs), timeout=30))
        series = pb.PredictSeriesRequest(model="tiny", bars=good, inputs=inputs)
        _answers(lambda: stub.PredictSeries(series, timeout=30))

    check()


def test_predict_series_fuzzed(channel: grpc.Channel, sp500: pd.DataFrame) -> None:
    stub = pb_grpc.SignalServiceStub(channel)

    @FUZZ
    @given(name=names, version=versions, series=bars(sp500, longest=1200))
    def check(name: str, version: int, series: pb.Bars) -> None:
        _answers(
            lambda: stub.PredictSeries(pb.PredictSeriesRequest(model=name, version=version, bars=series), timeout=30)
        )
        _answers(lambda: stub.PredictSeries(pb.PredictSeriesRequest(model="tiny", bars=series), timeout=30))

    check()


def test_model_lookups_fuzzed(channel: grpc.Channel) -> None:
    stub, inference = pb_grpc.SignalServiceStub(channel), oip_grpc.GRPCInferenceServiceStub(channel)
    health = health_pb2_grpc.HealthStub(channel)

    @FUZZ
    @given(
        name=names,
        version=versions,
        text_version=st.one_of(st.sampled_from(["", "1", "01", "2", "-1", "1.0"]), st.text(max_size=30)),
    )
    def check(name: str, version: int, text_version: str) -> None:
        _answers(lambda: stub.GetModel(pb.GetModelRequest(model=name, version=version), timeout=10))
        _answers(lambda: stub.ListModels(pb.ListModelsRequest(), timeout=10))
        _answers(lambda: inference.ModelReady(oip.ModelReadyRequest(name=name, version=text_version), timeout=10))
        _answers(lambda: inference.ModelMetadata(oip.ModelMetadataRequest(name=name, version=text_version), timeout=10))
        _answers(lambda: inference.ServerLive(oip.ServerLiveRequest(), timeout=10))
        _answers(lambda: inference.ServerReady(oip.ServerReadyRequest(), timeout=10))
        _answers(lambda: inference.ServerMetadata(oip.ServerMetadataRequest(), timeout=10))
        _answers(lambda: health.Check(health_pb2.HealthCheckRequest(service=name), timeout=10))

    check()


shapes = st.one_of(
    st.just([2, 20, 21]),
    st.just([1, 20, 21]),
    st.lists(st.one_of(st.integers(-3, 30), st.sampled_from([2**40, 2**62, -(2**63)])), max_size=5),
)


@st.composite
def infer_requests(draw: st.DrawFn) -> oip.ModelInferRequest:
    """Inference requests whose every field may be wrong: names, versions, datatypes, shapes, data."""
    shape = draw(shapes)
    count = int(np.prod(shape)) if shape and all(0 <= d < 10_000 for d in shape) else draw(st.integers(0, 900))
    x = np.random.default_rng(draw(st.integers(0, 2**32 - 1))).normal(size=count).astype(np.float32)
    if count and draw(st.booleans()):
        x[draw(st.integers(0, count - 1))] = draw(odd_features)
    tensor = oip.ModelInferRequest.InferInputTensor(
        name=draw(st.sampled_from(["features", "input", ""])),
        datatype=draw(st.sampled_from(["FP32", "FP32", "FP64", "INT32", "BYTES", "fp32", ""])),
        shape=shape,
    )
    request = oip.ModelInferRequest(
        model_name=draw(names), model_version=draw(st.sampled_from(["", "1", "2", "x"])), id=draw(st.text(max_size=10))
    )
    form = draw(st.sampled_from(["raw", "typed", "both", "raw-cut", "none"]))
    if form in ("typed", "both"):
        tensor.contents.fp32_contents.extend(x.tolist())
    if form in ("raw", "both", "raw-cut"):
        data = x.tobytes()
        request.raw_input_contents.append(data[: draw(st.integers(0, len(data)))] if form == "raw-cut" else data)
    request.inputs.extend([tensor] * draw(st.sampled_from([1, 1, 0, 2])))
    for name in draw(st.lists(st.sampled_from(["probabilities", "logits", ""]), max_size=2)):
        request.outputs.add(name=name)
    return request


def test_model_infer_fuzzed(channel: grpc.Channel) -> None:
    stub = oip_grpc.GRPCInferenceServiceStub(channel)

    @FUZZ
    @given(request=infer_requests(), name_tiny=st.booleans())
    def check(request: oip.ModelInferRequest, name_tiny: bool) -> None:
        if name_tiny:
            request.model_name = "tiny"
        _answers(lambda: stub.ModelInfer(request, timeout=30))

    check()


@st.composite
def bar_streams(draw: st.DrawFn, sp500: pd.DataFrame) -> list[pb.BarEvent]:
    """Real bars for a few symbols, some spoiled, some out of order, some for unknown models."""
    start = draw(st.integers(0, len(sp500) - 40))
    events = bar_events(sp500.iloc[start : start + draw(st.integers(0, 30))])
    for event in events:
        event.symbol = draw(st.sampled_from(["SPY", "QQQ", "", "x" * 200]))
        if draw(st.integers(0, 9)) == 0:
            field = draw(st.sampled_from([*COLUMNS, "time"]))
            setattr(event, field, draw(st.integers(-5, 5)) if field == "time" else draw(odd_numbers))
        if draw(st.integers(0, 19)) == 0:
            event.model = draw(names)
        if draw(st.integers(0, 19)) == 0:
            event.version = draw(versions)
    return events


def test_stream_signals_fuzzed(channel: grpc.Channel, sp500: pd.DataFrame) -> None:
    stub = pb_grpc.SignalServiceStub(channel)

    @FUZZ
    @given(events=bar_streams(sp500))
    def check(events: list[pb.BarEvent]) -> None:
        _answers(lambda: list(stub.StreamSignals(iter(events), timeout=30)))

    check()


METHODS = (
    [f"/signalstack.v1.SignalService/{m}" for m in ("Predict", "PredictSeries", "ListModels", "GetModel")]
    + [
        f"/inference.GRPCInferenceService/{m}"
        for m in ("ServerLive", "ServerReady", "ModelReady", "ServerMetadata", "ModelMetadata", "ModelInfer")
    ]
    + ["/grpc.health.v1.Health/Check"]
)


def test_arbitrary_bytes_on_every_method(channel: grpc.Channel) -> None:
    @FUZZ
    @given(method=st.sampled_from(METHODS), payload=st.binary(max_size=300))
    def check(method: str, payload: bytes) -> None:
        _answers(lambda: channel.unary_unary(method)(payload, timeout=10))

    @FUZZ
    @given(payloads=st.lists(st.binary(max_size=100), max_size=5))
    def check_stream(payloads: list[bytes]) -> None:
        call = channel.stream_stream("/signalstack.v1.SignalService/StreamSignals")
        _answers(lambda: list(call(iter(payloads), timeout=10)))

    check()
    check_stream()


def test_huge_requests_are_refused_with_resource_exhausted(model_dir: Path, local: OnnxModel) -> None:
    with (
        running(ModelRepository(model_dir), max_message_bytes=1 << 20) as server,
        grpc.insecure_channel(f"127.0.0.1:{server.port}") as small,
    ):
        x = np.zeros((1000, *local.inputs[0].shape), np.float32)  # 1.7 MB of features, over the 1 MiB limit
        request = oip.ModelInferRequest(
            model_name="tiny",
            raw_input_contents=[x.tobytes()],
            inputs=[oip.ModelInferRequest.InferInputTensor(name="features", datatype="FP32", shape=x.shape)],
        )
        with pytest.raises(grpc.RpcError) as info:
            oip_grpc.GRPCInferenceServiceStub(small).ModelInfer(request, timeout=30)
        assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert oip_grpc.GRPCInferenceServiceStub(small).ServerLive(oip.ServerLiveRequest(), timeout=10).live
