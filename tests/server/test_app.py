"""The server process: binding, startup and a clean exit on SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from signalstack.server.app import build_server, serve
from signalstack.server.repository import ModelRepository

from ..support import free_port

SERVE = ("import logging, sys\n"
         "from pathlib import Path\n"
         "from signalstack.server.app import serve\n"
         "logging.basicConfig(level=logging.INFO)\n"
         "serve(Path(sys.argv[1]), '127.0.0.1', int(sys.argv[2]), grace=2.0)\n")


def test_busy_port_is_refused(model_dir: Path, grpc_target: str) -> None:
    busy = int(grpc_target.rsplit(":", 1)[1])
    with pytest.raises(OSError, match=f"cannot listen on 127.0.0.1:{busy}"):
        build_server(ModelRepository(model_dir), port=busy)


def test_serve_refuses_a_folder_without_models(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no loadable models"):
        serve(tmp_path, "127.0.0.1", free_port())


def _wait_until_serving(target: str, process: subprocess.Popen, seconds: float) -> None:
    """Poll the health service until SERVING, failing if the process dies or time runs out."""
    deadline = time.monotonic() + seconds
    with grpc.insecure_channel(target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            assert process.poll() is None, f"server exited early with {process.returncode}"
            try:
                response = stub.Check(health_pb2.HealthCheckRequest(), timeout=1)
                if response.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                time.sleep(0.1)
    pytest.fail(f"server on {target} not SERVING after {seconds} s")


def test_serve_exits_cleanly_on_sigterm(model_dir: Path, tmp_path: Path) -> None:
    port = free_port()
    log_path = tmp_path / "serve.log"
    with log_path.open("w") as log_file:
        process = subprocess.Popen([sys.executable, "-c", SERVE, str(model_dir), str(port)],
                                   stdout=log_file, stderr=subprocess.STDOUT)
        try:
            _wait_until_serving(f"127.0.0.1:{port}", process, seconds=60)
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=10) == 0, log_path.read_text()
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
    output = log_path.read_text()
    assert "model tiny v1 on " in output and f"on 127.0.0.1:{port}" in output, output
    assert "SIGTERM received" in output and "server stopped" in output, output
