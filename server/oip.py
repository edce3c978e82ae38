"""The Open Inference Protocol v2 (inference.GRPCInferenceService) over the same models as SignalService.

Standard clients (Triton's ``tritonclient.grpc``, KServe's ``InferenceServerClient``) work unchanged.
Model names and versions are SignalService's (versions travel as decimal strings; empty means the
newest). A model has one input and one output:

- input ``features`` (its name in the ONNX graph), FP32, shape [N, window, features]: N windows of
  the model's raw feature matrix, as ``OnnxModel.window_features`` computes it from bars. The
  scaler fitted at training time is part of the ONNX graph, so clients send unscaled features.
- output ``probabilities`` (or ``forecast`` for a regressor), FP32, shape [N, classes].

Input data may come as ``raw_input_contents`` (little-endian bytes, what standard clients send) or
as typed ``contents.fp32_contents``; the response answers in the same form.
"""

from __future__ import annotations

import importlib.metadata
import logging
import re
import threading

import grpc
import numpy as np

from signalstack.protos.inference import grpc_predict_v2_pb2 as pb
from signalstack.protos.inference import grpc_predict_v2_pb2_grpc as pb_grpc

from . import rpc
from .batching import Batchers
from .repository import ModelNotFound, ModelRepository
from .runtime import InvalidInput, OnnxModel

log = logging.getLogger(__name__)

PLATFORM = "onnxruntime_onnx"
DATATYPE = "FP32"
_VERSION = re.compile(r"^[0-9]{1,18}$")

try:
    SERVER_VERSION = importlib.metadata.version("signalstack")
except importlib.metadata.PackageNotFoundError:  # running from a source tree that was never installed
    SERVER_VERSION = "unknown"


class InferenceServicer(pb_grpc.GRPCInferenceServiceServicer):
    """Answers Open Inference Protocol calls with the models of a `ModelRepository`."""

    def __init__(self, repository: ModelRepository, batchers: Batchers | None = None,
                 stopping: threading.Event | None = None) -> None:
        self.repository = repository
        self.batchers = batchers or Batchers()
        self.stopping = stopping or threading.Event()

    @rpc.unary
    def ServerLive(self, request: pb.ServerLiveRequest, context: grpc.ServicerContext,
                   call: rpc.Call) -> pb.ServerLiveResponse:
        return pb.ServerLiveResponse(live=True)

    @rpc.unary
    def ServerReady(self, request: pb.ServerReadyRequest, context: grpc.ServicerContext,
                    call: rpc.Call) -> pb.ServerReadyResponse:
        return pb.ServerReadyResponse(ready=not self.stopping.is_set() and bool(self.repository.models()))

    @rpc.unary
    def ModelReady(self, request: pb.ModelReadyRequest, context: grpc.ServicerContext,
                   call: rpc.Call) -> pb.ModelReadyResponse:
        version = _version(request.version)
        try:
            call.model = self.repository.get(request.name, version)
        except ModelNotFound:
            return pb.ModelReadyResponse(ready=False)
        return pb.ModelReadyResponse(ready=not self.stopping.is_set())

    @rpc.unary
    def ServerMetadata(self, request: pb.ServerMetadataRequest, context: grpc.ServicerContext,
                       call: rpc.Call) -> pb.ServerMetadataResponse:
        return pb.ServerMetadataResponse(name="signalstack", version=SERVER_VERSION)

    @rpc.unary
    def ModelMetadata(self, request: pb.ModelMetadataRequest, context: grpc.ServicerContext,
                      call: rpc.Call) -> pb.ModelMetadataResponse:
        model = call.model = self.repository.get(request.name, _version(request.version))
        tensor = pb.ModelMetadataResponse.TensorMetadata
        return pb.ModelMetadataResponse(
            name=model.name, versions=[str(v) for v in self.repository.versions(model.name)], platform=PLATFORM,
            inputs=[tensor(name=model.input_name, datatype=DATATYPE, shape=[-1, *model.input_shape])],
            outputs=[tensor(name=model.output_name, datatype=DATATYPE, shape=[-1, len(model.outputs)])])

    @rpc.unary
    def ModelInfer(self, request: pb.ModelInferRequest, context: grpc.ServicerContext,
                   call: rpc.Call) -> pb.ModelInferResponse:
        model = call.model = self.repository.get(request.model_name, _version(request.model_version))
        _check_outputs(request, model)
        out = self.batchers.predict(model, _input(request, model))
        response = pb.ModelInferResponse(model_name=model.name, model_version=str(model.version), id=request.id)
        tensor = response.outputs.add(name=model.output_name, datatype=DATATYPE, shape=out.shape)
        if request.raw_input_contents:
            response.raw_output_contents.append(out.astype("<f4", copy=False).tobytes())
        else:
            tensor.contents.fp32_contents.extend(out.ravel().tolist())
        return response


def _version(text: str) -> int:
    """A protocol version string as SignalService's integer version; '' is 0, the newest."""
    if not text:
        return 0
    if not _VERSION.match(text):
        raise InvalidInput(f"model version {text[:40]!r}: expected a positive integer, or empty for the newest")
    return int(text)


def _check_outputs(request: pb.ModelInferRequest, model: OnnxModel) -> None:
    for output in request.outputs:
        if output.name != model.output_name:
            raise InvalidInput(f"requested output {output.name[:80]!r}: model {model.name} has only "
                               f"{model.output_name!r}")


def _input(request: pb.ModelInferRequest, model: OnnxModel) -> np.ndarray:
    """The request's one input tensor as float32 (N, window, features), after checking all it claims."""
    if len(request.inputs) != 1:
        raise InvalidInput(f"{len(request.inputs)} inputs: expected exactly one, {model.input_name!r}")
    tensor = request.inputs[0]
    name = f"input {tensor.name[:80]!r}"
    if tensor.name != model.input_name:
        raise InvalidInput(f"{name}: model {model.name} has one input, {model.input_name!r}")
    if tensor.datatype != DATATYPE:
        raise InvalidInput(f"{name}: datatype {tensor.datatype[:20]!r}, expected {DATATYPE}")
    shape = tuple(tensor.shape)
    if len(shape) != 3 or shape[0] < 1 or shape[1:] != model.input_shape:
        window, features = model.input_shape
        raise InvalidInput(f"{name}: shape {list(shape)[:8]}, expected [N >= 1, {window}, {features}]")
    count = shape[0] * shape[1] * shape[2]
    if request.raw_input_contents:
        if len(request.raw_input_contents) != 1 or tensor.HasField("contents"):
            raise InvalidInput(f"{len(request.raw_input_contents)} raw_input_contents with typed contents "
                               f"{tensor.HasField('contents')}: expected one raw entry per input and no typed contents")
        raw = request.raw_input_contents[0]
        if len(raw) != 4 * count:
            raise InvalidInput(f"{name}: {len(raw)} raw bytes, expected {4 * count} for shape {list(shape)} of FP32")
        x = np.frombuffer(raw, dtype="<f4").reshape(shape)
    else:
        values = tensor.contents.fp32_contents
        if len(values) != count:
            raise InvalidInput(f"{name}: {len(values)} fp32_contents, expected {count} for shape {list(shape)} "
                               "(or the data in raw_input_contents)")
        x = np.asarray(values, dtype=np.float32).reshape(shape)
    if not np.isfinite(x).all():
        raise InvalidInput(f"{name}: NaN or infinite values, expected finite features")
    return x
