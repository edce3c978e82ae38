"""The Open Inference Protocol v2 (inference.GRPCInferenceService) over the same models as SignalService.

Standard clients (Triton's ``tritonclient.grpc``, KServe's ``InferenceServerClient``) work unchanged.
Model names and versions are SignalService's (versions travel as decimal strings; empty means the
newest). Tensors are the ONNX graph's, named as in the model card, all FP32 with the batch first:

- inputs: every input of the graph. The one made from bars in SignalService (``features``,
  [N, window, features]) is sent here as the model's raw feature windows, as its
  ``Featurizer.window`` computes them; other inputs (fundamentals, images, ...) as they are.
  The scalers fitted at training time are part of the graph, so clients send unscaled values.
- outputs: ``probabilities`` (or ``forecast``, ``score``...), [N, columns]; every output of the
  graph unless the request names some.

Input data may come as ``raw_input_contents`` (little-endian bytes, what standard clients send) or
as typed ``contents.fp32_contents``; the response answers in the same form. This module only
decodes and encodes tensors; the `DataPlane` checks them against the model and runs it.
"""

from __future__ import annotations

import logging
import math
import re

import grpc
import numpy as np

from signalstack import __version__
from signalstack.core.errors import InvalidInput
from signalstack.core.model import OnnxModel
from signalstack.protos.inference import grpc_predict_v2_pb2 as pb
from signalstack.protos.inference import grpc_predict_v2_pb2_grpc as pb_grpc

from . import rpc
from .dataplane import DataPlane

log = logging.getLogger(__name__)

PLATFORM = "onnxruntime_onnx"
DATATYPE = "FP32"
_VERSION = re.compile(r"^[0-9]{1,18}$")


class InferenceServicer(pb_grpc.GRPCInferenceServiceServicer):
    """Answers Open Inference Protocol calls through a `DataPlane`."""

    def __init__(self, plane: DataPlane) -> None:
        self.plane = plane

    @rpc.unary
    def ServerLive(
        self, request: pb.ServerLiveRequest, context: grpc.ServicerContext, call: rpc.Call
    ) -> pb.ServerLiveResponse:
        return pb.ServerLiveResponse(live=True)

    @rpc.unary
    def ServerReady(
        self, request: pb.ServerReadyRequest, context: grpc.ServicerContext, call: rpc.Call
    ) -> pb.ServerReadyResponse:
        return pb.ServerReadyResponse(ready=self.plane.ready())

    @rpc.unary
    def ModelReady(
        self, request: pb.ModelReadyRequest, context: grpc.ServicerContext, call: rpc.Call
    ) -> pb.ModelReadyResponse:
        return pb.ModelReadyResponse(ready=self.plane.model_ready(request.name, _version(request.version)))

    @rpc.unary
    def ServerMetadata(
        self, request: pb.ServerMetadataRequest, context: grpc.ServicerContext, call: rpc.Call
    ) -> pb.ServerMetadataResponse:
        return pb.ServerMetadataResponse(name="signalstack", version=__version__)

    @rpc.unary
    def ModelMetadata(
        self, request: pb.ModelMetadataRequest, context: grpc.ServicerContext, call: rpc.Call
    ) -> pb.ModelMetadataResponse:
        model = call.model = self.plane.model(request.name, _version(request.version))
        tensor = pb.ModelMetadataResponse.TensorMetadata
        return pb.ModelMetadataResponse(
            name=model.name,
            versions=[str(v) for v in self.plane.versions(model.name)],
            platform=PLATFORM,
            inputs=[tensor(name=i.name, datatype=DATATYPE, shape=[-1, *i.shape]) for i in model.inputs],
            outputs=[
                tensor(name=name, datatype=DATATYPE, shape=[-1, len(columns)])
                for name, columns in model.output_columns.items()
            ],
        )

    @rpc.unary
    def ModelInfer(
        self, request: pb.ModelInferRequest, context: grpc.ServicerContext, call: rpc.Call
    ) -> pb.ModelInferResponse:
        model = call.model = self.plane.model(request.model_name, _version(request.model_version))
        wanted = _wanted_outputs(request, model)
        outputs = self.plane.infer(model, _inputs(request, model))
        response = pb.ModelInferResponse(model_name=model.name, model_version=str(model.version), id=request.id)
        for name in wanted:
            out = outputs[name]
            tensor = response.outputs.add(name=name, datatype=DATATYPE, shape=out.shape)
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


def _wanted_outputs(request: pb.ModelInferRequest, model: OnnxModel) -> list[str]:
    """The outputs to answer with: those the request names (once each), else all of the model's."""
    names = [o.name for o in request.outputs]
    for name in names:
        if name not in model.output_columns:
            raise InvalidInput(f"requested output {name[:80]!r}: model {model.name} has outputs {model.output_names}")
    if len(set(names)) != len(names):
        raise InvalidInput(f"requested outputs {names[:8]}: expected each at most once")
    return names or model.output_names


def _inputs(request: pb.ModelInferRequest, model: OnnxModel) -> dict[str, np.ndarray]:
    """The request's input tensors as float32 arrays by name, decoded as their shapes and datatypes claim."""
    expected = [i.name for i in model.inputs]
    got = [t.name for t in request.inputs]
    if sorted(got) != sorted(expected):
        raise InvalidInput(f"inputs {[g[:80] for g in got[:8]]}: model {model.name} takes {expected}")
    if request.raw_input_contents and len(request.raw_input_contents) != len(request.inputs):
        raise InvalidInput(
            f"{len(request.raw_input_contents)} raw_input_contents for {len(request.inputs)} "
            "inputs: expected one raw entry per input, in order"
        )
    shapes = {i.name: i.shape for i in model.inputs}
    arrays = {}
    for k, tensor in enumerate(request.inputs):
        raw = request.raw_input_contents[k] if request.raw_input_contents else None
        arrays[tensor.name] = _tensor(tensor, shapes[tensor.name], raw)
    return arrays


def _tensor(tensor: pb.ModelInferRequest.InferInputTensor, shape: tuple[int, ...], raw: bytes | None) -> np.ndarray:
    """One input tensor as float32 of its claimed shape, from raw bytes or typed contents.

    The claimed shape must be the model's before any bytes are read, so a huge claimed batch is
    refused by its shape, not by the memory it would take.
    """
    name = f"input {tensor.name[:80]!r}"
    if tensor.datatype != DATATYPE:
        raise InvalidInput(f"{name}: datatype {tensor.datatype[:20]!r}, expected {DATATYPE}")
    got = tuple(tensor.shape)
    if len(got) != len(shape) + 1 or got[0] < 1 or got[1:] != shape:
        raise InvalidInput(f"{name}: shape {list(got)[:8]}, expected [N >= 1, {', '.join(map(str, shape))}]")
    count = math.prod(got)  # exact: a huge claimed batch must not wrap around
    if raw is not None:
        if tensor.HasField("contents"):
            raise InvalidInput(f"{name}: typed contents beside raw_input_contents: expected one form only")
        if len(raw) != 4 * count:
            raise InvalidInput(f"{name}: {len(raw)} raw bytes, expected {4 * count} for shape {list(got)} of FP32")
        return np.frombuffer(raw, dtype="<f4").reshape(got)
    values = tensor.contents.fp32_contents
    if len(values) != count:
        raise InvalidInput(
            f"{name}: {len(values)} fp32_contents, expected {count} for shape {list(got)} "
            "(or the data in raw_input_contents)"
        )
    return np.asarray(values, dtype=np.float32).reshape(got)
