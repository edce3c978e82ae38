"""The server process: SignalService plus standard health checking and reflection, and shutdown.

`build_server` wires a repository into a gRPC server; `serve` is what ``signalstack serve`` runs:
it blocks until SIGTERM or SIGINT, then lets in-flight calls finish within a grace period.
"""

from __future__ import annotations

import logging
import signal
import threading
from concurrent import futures
from pathlib import Path
from types import FrameType

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from signalstack.protos.signalstack.v1 import signals_pb2 as pb
from signalstack.protos.signalstack.v1 import signals_pb2_grpc as pb_grpc

from .repository import ModelRepository
from .servicer import SignalServicer

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 256 * 1024 * 1024
"""Largest request or response: a PredictSeries over decades of minute bars runs to tens of MiB."""

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["SignalService"].full_name

CHANNEL_OPTIONS = [
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
]
"""Message limits shared by the server and `SignalClient`."""


def build_server(repository: ModelRepository, host: str = "127.0.0.1", port: int = 0, *,
                 max_workers: int = 8) -> tuple[grpc.Server, int]:
    """A server for `repository` bound to host:port (0: any free port), not started, and the bound port."""
    # gRPC turns SO_REUSEPORT on by default, which would let a second server share a busy port silently.
    options = [*CHANNEL_OPTIONS, ("grpc.so_reuseport", 0)]
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="signalstack-rpc"),
                         options=options)
    pb_grpc.add_SignalServiceServicer_to_server(SignalServicer(repository), server)
    health_pb2_grpc.add_HealthServicer_to_server(_health(repository), server)
    reflection.enable_server_reflection(
        [SERVICE_NAME, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME], server)
    address = _address(host, port)
    try:
        return server, server.add_insecure_port(address)
    except RuntimeError:
        raise OSError(f"cannot listen on {address} (expected a free port on a local address; "
                      "GRPC_VERBOSITY=debug logs why)") from None


def _address(host: str, port: int) -> str:
    """host:port, with an IPv6 host in brackets as gRPC expects."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _health(repository: ModelRepository) -> health.HealthServicer:
    """Health statuses for the server (""), the service and each model name, all SERVING."""
    servicer = health.HealthServicer()
    for name in ["", SERVICE_NAME, *sorted({m.name for m in repository.models()})]:
        servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    return servicer


def serve(models_dir: Path, host: str, port: int, *, max_workers: int = 8, grace: float = 5.0) -> None:
    """Serve the models of `models_dir` on host:port until SIGTERM or SIGINT, then drain and return.

    Must run in the main thread (signal handlers can only be set there).
    """
    repository = ModelRepository(models_dir)
    if not repository.models():
        raise ValueError(f"{models_dir}: no loadable models (expected NAME.onnx files exported by signalstack train)")
    server, bound = build_server(repository, host, port, max_workers=max_workers)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("%s received: stopping", signal.Signals(signum).name)
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        server.start()
        for model in repository.models():
            log.info("model %s v%d on %s", model.name, model.version, model.provider)
        log.info("serving %s on %s", SERVICE_NAME, _address(host, bound))
        stop.wait()
    finally:
        # stop() refuses new calls at once and cancels those still running after `grace` seconds.
        server.stop(grace).wait()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    log.info("server stopped")
