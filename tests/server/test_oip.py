"""The Open Inference Protocol v2 service, called with a client generated from the same .proto."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import grpc
import numpy as np
import pandas as pd
import pytest
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

from signalstack.core.model import OnnxModel
from signalstack.protos.inference import grpc_predict_v2_pb2 as oip
from signalstack.protos.inference import grpc_predict_v2_pb2_grpc as oip_grpc
from signalstack.transport.client import SignalClient

from .support import infer_request


@pytest.fixture(scope="module")
def stub(grpc_target: str) -> Iterator[oip_grpc.GRPCInferenceServiceStub]:
    with grpc.insecure_channel(grpc_target) as channel:
        yield oip_grpc.GRPCInferenceServiceStub(channel)


@pytest.fixture(scope="module")
def windows(local: OnnxModel, sp500: pd.DataFrame) -> list[pd.DataFrame]:
    n = local.bars_required
    return [sp500.iloc[end - n : end] for end in (n, 900, 2500, len(sp500))]


def test_server_and_model_readiness(stub: oip_grpc.GRPCInferenceServiceStub) -> None:
    assert stub.ServerLive(oip.ServerLiveRequest(), timeout=10).live
    assert stub.ServerReady(oip.ServerReadyRequest(), timeout=10).ready
    assert stub.ModelReady(oip.ModelReadyRequest(name="tiny"), timeout=10).ready
    assert stub.ModelReady(oip.ModelReadyRequest(name="tiny", version="1"), timeout=10).ready
    assert not stub.ModelReady(oip.ModelReadyRequest(name="tiny", version="2"), timeout=10).ready
    assert not stub.ModelReady(oip.ModelReadyRequest(name="nope"), timeout=10).ready
    metadata = stub.ServerMetadata(oip.ServerMetadataRequest(), timeout=10)
    assert metadata.name == "signalstack" and metadata.version


def test_model_metadata_describes_the_feature_window_tensor(
    stub: oip_grpc.GRPCInferenceServiceStub, local: OnnxModel
) -> None:
    metadata = stub.ModelMetadata(oip.ModelMetadataRequest(name="tiny"), timeout=10)
    assert (metadata.name, list(metadata.versions), metadata.platform) == ("tiny", ["1"], "onnxruntime_onnx")
    (tensor_in,), (tensor_out,) = metadata.inputs, metadata.outputs
    assert (tensor_in.name, tensor_in.datatype, list(tensor_in.shape)) == ("features", "FP32", [-1, 20, 21])
    assert (tensor_out.name, tensor_out.datatype, list(tensor_out.shape)) == ("probabilities", "FP32", [-1, 2])


@pytest.mark.parametrize("raw", [True, False], ids=["raw_input_contents", "typed_contents"])
def test_model_infer_gives_the_same_probabilities_as_predict(
    stub: oip_grpc.GRPCInferenceServiceStub, grpc_target: str, local: OnnxModel, windows: list[pd.DataFrame], raw: bool
) -> None:
    x = np.stack([local.featurizer.window(w) for w in windows]).astype(np.float32)
    response = stub.ModelInfer(infer_request(x, raw=raw, id="req-7", model_version="1"), timeout=30)
    (tensor,) = response.outputs
    assert (response.model_name, response.model_version, response.id) == ("tiny", "1", "req-7")
    assert (tensor.name, tensor.datatype, list(tensor.shape)) == ("probabilities", "FP32", [len(windows), 2])
    if raw:
        got = np.frombuffer(response.raw_output_contents[0], dtype="<f4").reshape(tensor.shape)
    else:
        assert not response.raw_output_contents
        got = np.asarray(tensor.contents.fp32_contents, dtype=np.float32).reshape(tensor.shape)
    with SignalClient(grpc_target, timeout=30) as client:
        np.testing.assert_array_equal(got, client.predict("tiny", windows))


def _request(local: OnnxModel, **fields: object) -> oip.ModelInferRequest:
    """A valid request for two windows of zeros, but for `fields`."""
    return infer_request(np.zeros((2, *local.inputs[0].shape), np.float32), **fields)


def _input(local: OnnxModel, **fields: object) -> oip.ModelInferRequest:
    """A valid request for two windows of zeros, but for `fields` of its input tensor."""
    request = _request(local)
    for key, value in fields.items():
        setattr(request.inputs[0], key, value)
    return request


def _with_nan(local: OnnxModel) -> oip.ModelInferRequest:
    x = np.zeros((1, *local.inputs[0].shape), np.float32)
    x[0, 3, 4] = np.nan
    return infer_request(x)


def _shape(local: OnnxModel, shape: list[int]) -> oip.ModelInferRequest:
    request = _request(local)
    request.inputs[0].ClearField("shape")
    request.inputs[0].shape.extend(shape)
    return request


BAD_INFERS: dict[str, tuple[Callable[[OnnxModel], oip.ModelInferRequest], grpc.StatusCode, str]] = {
    "unknown model": (
        lambda m: _request(m, model="nope"),
        grpc.StatusCode.NOT_FOUND,
        "model 'nope' not found (available: tiny)",
    ),
    "unknown version": (
        lambda m: _request(m, model_version="3"),
        grpc.StatusCode.NOT_FOUND,
        "model 'tiny' has no version 3",
    ),
    "bad version": (
        lambda m: _request(m, model_version="latest"),
        grpc.StatusCode.INVALID_ARGUMENT,
        "model version 'latest': expected a positive integer",
    ),
    "input name": (
        lambda m: _input(m, name="x"),
        grpc.StatusCode.INVALID_ARGUMENT,
        "inputs ['x']: model tiny takes ['features']",
    ),
    "datatype": (
        lambda m: _input(m, datatype="FP64"),
        grpc.StatusCode.INVALID_ARGUMENT,
        "input 'features': datatype 'FP64', expected FP32",
    ),
    "shape": (
        lambda m: _shape(m, [2, 21, 20]),
        grpc.StatusCode.INVALID_ARGUMENT,
        "input 'features': shape [2, 21, 20], expected [N >= 1, 20, 21]",
    ),
    "empty batch": (lambda m: _shape(m, [0, 20, 21]), grpc.StatusCode.INVALID_ARGUMENT, "expected [N >= 1, 20, 21]"),
    "byte count": (
        lambda m: _shape(m, [3, 20, 21]),
        grpc.StatusCode.INVALID_ARGUMENT,
        "input 'features': 3360 raw bytes, expected 5040 for shape [3, 20, 21] of FP32",
    ),
    "nan": (
        _with_nan,
        grpc.StatusCode.INVALID_ARGUMENT,
        "input 'features': NaN or infinite values, expected finite numbers",
    ),
    "output name": (
        lambda m: _request(m, outputs=[oip.ModelInferRequest.InferRequestedOutputTensor(name="logits")]),
        grpc.StatusCode.INVALID_ARGUMENT,
        "requested output 'logits': model tiny has outputs ['probabilities']",
    ),
    "no input": (
        lambda m: oip.ModelInferRequest(model_name="tiny"),
        grpc.StatusCode.INVALID_ARGUMENT,
        "inputs []: model tiny takes ['features']",
    ),
}


@pytest.mark.parametrize("case", list(BAD_INFERS))
def test_bad_infer_requests_get_a_status_and_a_message(
    stub: oip_grpc.GRPCInferenceServiceStub, local: OnnxModel, case: str
) -> None:
    make, code, message = BAD_INFERS[case]
    with pytest.raises(grpc.RpcError) as info:
        stub.ModelInfer(make(local), timeout=10)
    assert info.value.code() == code
    assert message in info.value.details()


def test_typed_contents_must_hold_one_value_per_element(stub: oip_grpc.GRPCInferenceServiceStub) -> None:
    request = infer_request(np.zeros((1, 20, 21), np.float32), raw=False)
    del request.inputs[0].contents.fp32_contents[-1]
    with pytest.raises(grpc.RpcError) as info:
        stub.ModelInfer(request, timeout=10)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "419 fp32_contents, expected 420 for shape [1, 20, 21]" in info.value.details()


def test_reflection_lists_the_inference_service(grpc_target: str) -> None:
    with grpc.insecure_channel(grpc_target) as channel:
        database = ProtoReflectionDescriptorDatabase(channel)
        assert "inference.GRPCInferenceService" in set(database.get_services())
        proto = database.FindFileContainingSymbol("inference.GRPCInferenceService")
    assert proto.name == "inference/grpc_predict_v2.proto"
    assert [m.name for m in proto.service[0].method] == [
        "ServerLive",
        "ServerReady",
        "ModelReady",
        "ServerMetadata",
        "ModelMetadata",
        "ModelInfer",
    ]
