"""Prometheus metrics over HTTP, and health statuses that follow the model folder."""

from __future__ import annotations

import re
import urllib.request
from pathlib import Path

import grpc
import pandas as pd
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from signalstack.server import metrics
from signalstack.server.repository import ModelRepository
from signalstack.transport.client import SignalClient

from .support import install, running


def _scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        return response.read().decode()


def _value(text: str, name: str, **labels: str) -> float:
    """The sample `name` whose labels include `labels` (0 when absent)."""
    for line in text.splitlines():
        match = re.fullmatch(rf"{name}\{{(.*)\}} (\S+)", line)
        if match and all(f'{k}="{v}"' in match.group(1) for k, v in labels.items()):
            return float(match.group(2))
    return 0.0


def test_metrics_count_calls_by_model_version_and_code(model_dir: Path, sp500: pd.DataFrame) -> None:
    endpoint = metrics.serve_metrics(0)
    port = endpoint.server_address[1]
    try:
        before = _scrape(port)
        with (
            running(ModelRepository(model_dir)) as server,
            SignalClient(f"127.0.0.1:{server.port}", timeout=10) as client,
        ):
            for _ in range(3):
                client.predict("tiny", [sp500.iloc[-500:]])
            with pytest.raises(grpc.RpcError):
                client.predict("../nope", [sp500.iloc[-500:]])
        after = _scrape(port)
    finally:
        endpoint.shutdown()

    def grew(name: str, **labels: str) -> float:
        return _value(after, name, **labels) - _value(before, name, **labels)

    assert grew("signalstack_requests_total", method="Predict", model="tiny", version="1", code="OK") == 3
    assert grew("signalstack_requests_total", method="Predict", model="", version="", code="NOT_FOUND") == 1
    assert grew("signalstack_request_seconds_count", method="Predict", model="tiny", version="1") == 3
    assert grew("signalstack_batch_windows_sum", model="tiny", version="1") == 3
    assert "signalstack_queue_windows" in after and "../nope" not in after


def test_metrics_port_in_use_is_refused() -> None:
    endpoint = metrics.serve_metrics(0)
    try:
        with pytest.raises(OSError, match=f"cannot serve metrics on 127.0.0.1:{endpoint.server_address[1]}"):
            metrics.serve_metrics(endpoint.server_address[1])
    finally:
        endpoint.shutdown()


def test_health_follows_models_added_and_removed(tmp_path: Path, tiny_model: Path) -> None:
    install(tiny_model, tmp_path, "tiny", 1)
    repository = ModelRepository(tmp_path)
    serving, not_serving = health_pb2.HealthCheckResponse.SERVING, health_pb2.HealthCheckResponse.NOT_SERVING
    with running(repository) as server, grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)

        def status(name: str) -> int:
            return stub.Check(health_pb2.HealthCheckRequest(service=name), timeout=10).status

        install(tiny_model, tmp_path, "other", 1)
        repository.refresh()
        assert (status("tiny"), status("other"), status("inference.GRPCInferenceService")) == (serving,) * 3
        install(tiny_model, tmp_path, "tiny", 2)
        (tmp_path / "tiny" / "1" / "model.onnx").unlink()
        repository.refresh()
        assert status("tiny") == serving
        (tmp_path / "other" / "1" / "model.onnx").unlink()
        repository.refresh()
        assert status("other") == not_serving
        with pytest.raises(grpc.RpcError) as info:
            status("never-loaded")
        assert info.value.code() == grpc.StatusCode.NOT_FOUND
