"""signalstack beside Triton's client, in one environment and one process.

Triton's ``tritonclient.grpc`` registers the Open Inference Protocol's ``inference.*`` messages in
protobuf's default descriptor pool; signalstack's own generated code builds the same names in its
own pool (signalstack.protos.pool), so both import into one interpreter, in either order, and
Triton's client gets from signalstack's server what signalstack's own client gets.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from .triton_support import require_tritonclient

ROOT = Path(__file__).resolve().parents[2]

# Run in a fresh interpreter: Triton's client first, the order that failed with "duplicate symbol
# 'inference.ServerLiveRequest'", then the whole of signalstack, then a server and both clients.
TRITON_FIRST = r"""
import json, sys
import numpy as np
import tritonclient.grpc as triton
from tritonclient.grpc import model_config_pb2
import signalstack.cli, signalstack.core.model, signalstack.models, signalstack.plugin
import signalstack.server.app, signalstack.transport.client, signalstack.server.oip, signalstack.server.triton
from google.protobuf import descriptor_pool, message_factory
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase
import grpc
from signalstack.core.bars import load_bars
from signalstack.core.model import OnnxModel
from signalstack.protos.inference import grpc_predict_v2_pb2 as ours
from signalstack.server.app import SignalServer
from signalstack.transport.client import SignalClient
from signalstack.server.options import ServeOptions
from tests.support import free_port

models = sys.argv[1]
theirs = descriptor_pool.Default().FindMessageTypeByName("inference.ModelInferRequest")
local = OnnxModel(f"{models}/tiny.onnx")
bars = load_bars("sample:sp500")
n = local.bars_required
windows = [bars.iloc[end - n:end] for end in (n, 900, 2500, len(bars))]
x = np.stack([local.featurizer.window(w) for w in windows]).astype(np.float32)
with SignalServer(ServeOptions(models, port=free_port(), grace=0)) as server:
    with SignalClient(server.address, timeout=30) as client:
        predicted = client.predict("tiny", windows)
    triton_client = triton.InferenceServerClient(url=server.address)
    tensor = triton.InferInput("features", list(x.shape), "FP32")
    tensor.set_data_from_numpy(x)
    result = triton_client.infer("tiny", [tensor], outputs=[triton.InferRequestedOutput("probabilities")])
    metadata = triton_client.get_model_metadata("tiny")
    live, ready = triton_client.is_server_live(), triton_client.is_model_ready("tiny")
    triton_client.close()
    with grpc.insecure_channel(server.address) as channel:
        database = ProtoReflectionDescriptorDatabase(channel)
        services = sorted(database.get_services())
        described = database.FindFileContainingSymbol("inference.GRPCInferenceService")
print(json.dumps({
    "predicted": predicted.tolist(), "triton": result.as_numpy("probabilities").tolist(),
    "live": live, "ready": ready, "platform": metadata.platform,
    "inputs": [[t.name, t.datatype, list(t.shape)] for t in metadata.inputs],
    "services": services, "described": [described.name, [m.name for m in described.service[0].method]],
    "theirs": [theirs.file.name, theirs.file.pool is descriptor_pool.Default()],
    "ours": [ours.ModelInferRequest.DESCRIPTOR.file.name, ours.DESCRIPTOR.pool is descriptor_pool.Default()],
    "distinct": ours.ModelInferRequest is not message_factory.GetMessageClass(theirs),
}))
"""

# The other order, imports only: signalstack first, then Triton's and its model config schema.
SIGNALSTACK_FIRST = r"""
import signalstack.server.app, signalstack.server.oip, signalstack.plugin, signalstack.core.model
import tritonclient.grpc, tritonclient.grpc.model_config_pb2, tritonclient.grpc.service_pb2
from signalstack.protos.inference import grpc_predict_v2_pb2 as ours
request = ours.ModelInferRequest(model_name="tiny")
assert ours.ModelInferRequest.FromString(request.SerializeToString()) == request
print("ok")
"""


def _run(code: str, *args: str) -> str:
    run = subprocess.run(
        [sys.executable, "-c", code, *args], cwd=ROOT, check=False, capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stderr[-4000:]
    return run.stdout


def test_tritons_client_gets_from_our_server_what_our_client_gets(model_dir: Path) -> None:
    require_tritonclient()
    out = json.loads(_run(TRITON_FIRST, str(model_dir)).splitlines()[-1])
    assert len(out["predicted"]) == 4
    np.testing.assert_array_equal(np.asarray(out["triton"], np.float32), np.asarray(out["predicted"], np.float32))
    assert out["live"] and out["ready"] and out["platform"] == "onnxruntime_onnx"
    assert out["inputs"] == [["features", "FP32", [-1, 20, 21]]]
    # Both copies of the protocol live in the process: Triton's in the default pool, ours in our own.
    assert out["theirs"] == ["grpc_service.proto", True]
    assert out["ours"] == ["inference/grpc_predict_v2.proto", False] and out["distinct"]
    # Reflection still lists and describes our inference service, not Triton's.
    assert "inference.GRPCInferenceService" in out["services"] and "signalstack.v1.SignalService" in out["services"]
    assert out["described"] == [
        "inference/grpc_predict_v2.proto",
        ["ServerLive", "ServerReady", "ModelReady", "ServerMetadata", "ModelMetadata", "ModelInfer"],
    ]


def test_signalstack_first_then_triton_imports_in_one_process() -> None:
    require_tritonclient()
    assert _run(SIGNALSTACK_FIRST).strip() == "ok"


def test_the_environment_has_no_broken_requirements() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "pip", "check"], check=False, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stdout + run.stderr
