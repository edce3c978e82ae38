"""The gRPC server: both protocols over one data plane, health checking, reflection, security.

`SignalServer` wires a model repository into a gRPC server: signalstack.v1.SignalService and the
Open Inference Protocol's inference.GRPCInferenceService on one port, gRPC health checking (the
server, each service and each model name), reflection, optional TLS and bearer tokens. It is the
one server object of the CLI, the demo, the benchmarks and the tests, with one lifecycle:

    with SignalServer(ServeOptions(models_dir)) as server:   # bound and started
        client = SignalClient(server.address)
    # stopped: NOT_SERVING reported, new calls refused, running ones given `options.grace` s

Running it as a process (signals, the folder watcher, workers, metrics) is `process` and `main`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from concurrent import futures
from types import TracebackType
from typing import cast

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from signalstack.protos.inference import grpc_predict_v2_pb2 as oip_pb
from signalstack.protos.inference import grpc_predict_v2_pb2_grpc as oip_grpc
from signalstack.protos.pool import for_services
from signalstack.protos.signalstack.v1 import signals_pb2 as pb
from signalstack.protos.signalstack.v1 import signals_pb2_grpc as pb_grpc
from signalstack.transport.channel import KEEPALIVE_OPTIONS
from signalstack.transport.guard import TokenAuth, read_tokens, server_credentials

from . import metrics
from .batching import Batchers
from .dataplane import DataPlane
from .oip import InferenceServicer
from .options import ServeOptions, address
from .repository import ModelRepository
from .rpc import served
from .servicer import SignalServicer

log = logging.getLogger(__name__)

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["SignalService"].full_name
INFERENCE_SERVICE_NAME = oip_pb.DESCRIPTOR.services_by_name["GRPCInferenceService"].full_name


class SignalServer:
    """A gRPC server for the models of `options.models_dir` (or of `repository`), bound at once, started by `start`.

    Unary calls, and the scoring of each bar a stream sends, run on `options.call_threads`
    threads (more wait their turn). Streaming calls run on `options.stream_threads`: each open
    StreamSignals, health Watch or reflection stream holds one while it lasts. One process: several
    sharing a port are `serve`'s (`options.workers`).
    """

    def __init__(self, options: ServeOptions, repository: ModelRepository | None = None) -> None:
        self.options = options
        self.repository = repository or ModelRepository(
            options.models_dir, threads=options.intra_op_threads, device=options.device
        )
        self.tokens = read_tokens(options.token_file) if options.token_file else None
        self.stopping = threading.Event()
        # gRPC turns SO_REUSEPORT on by default, which would let a second server share a busy port silently.
        grpc_options = [
            ("grpc.max_send_message_length", options.max_message_bytes),
            ("grpc.max_receive_message_length", options.max_message_bytes),
            ("grpc.so_reuseport", int(options.reuse_port)),
            *KEEPALIVE_OPTIONS,
        ]
        calls = futures.ThreadPoolExecutor(options.call_threads, thread_name_prefix="signalstack-call")
        streams = futures.ThreadPoolExecutor(options.stream_threads, thread_name_prefix="signalstack-stream")
        self._pools = (calls, streams)
        self._server = grpc.server(
            streams, options=grpc_options, interceptors=[TokenAuth(self.tokens)] if self.tokens else None
        )
        plane = DataPlane(self.repository, Batchers(options.batching, options.model_batching), self.stopping)
        methods = _Methods()
        # The generated functions take a server and call only the two methods `_Methods` has.
        registry = cast(grpc.Server, methods)
        pb_grpc.add_SignalServiceServicer_to_server(SignalServicer(plane, compute=calls), registry)
        oip_grpc.add_GRPCInferenceServiceServicer_to_server(InferenceServicer(plane), registry)
        self.health = _health(self.repository)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, registry)
        # signalstack's messages live in their own descriptor pool (so Triton's and KServe's generated
        # code can share the process): reflection describes the services from a pool holding all four.
        described = [
            SERVICE_NAME,
            INFERENCE_SERVICE_NAME,
            health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
            reflection.SERVICE_NAME,
        ]
        reflection.enable_server_reflection(described, registry, pool=for_services(described))
        for service, handlers in methods.services.items():
            handlers = served(handlers, calls)
            self._server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service, handlers),))
            self._server.add_registered_method_handlers(service, handlers)
        where = options.address
        try:
            if options.tls is not None:
                self.port = self._server.add_secure_port(where, server_credentials(options.tls))
            else:
                self.port = self._server.add_insecure_port(where)
        except RuntimeError:
            self._shutdown_pools()
            raise OSError(
                f"cannot listen on {where} (expected a free port on a local address; GRPC_VERBOSITY=debug logs why)"
            ) from None

    @property
    def address(self) -> str:
        """host:port the server is bound to, for a client to dial."""
        return address(self.options.host, self.port)

    def start(self) -> SignalServer:
        self._server.start()
        return self

    def stop(self, grace: float | None = None) -> None:
        """Report NOT_SERVING, refuse new calls, let running ones finish within `grace` s
        (default `options.grace`), cancel the rest."""
        self.stopping.set()
        self.health.enter_graceful_shutdown()
        self._server.stop(self.options.grace if grace is None else grace).wait()
        self._shutdown_pools()

    def _shutdown_pools(self) -> None:
        for pool in self._pools:
            pool.shutdown(wait=False)

    def __enter__(self) -> SignalServer:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()


class _Methods:
    """Takes the place of the server while generated `add_*_to_server` functions register their handlers,
    so that the server registers them as `rpc.served` makes them."""

    def __init__(self) -> None:
        self.services: dict[str, Mapping[str, grpc.RpcMethodHandler]] = {}

    def add_registered_method_handlers(self, service: str, handlers: Mapping[str, grpc.RpcMethodHandler]) -> None:
        self.services[service] = handlers

    def add_generic_rpc_handlers(self, handlers: object) -> None:
        """Generated code registers the same methods here too; `SignalServer` does both with the served ones."""


class _Health(health.HealthServicer):
    """grpc's health servicer, with a message when it answers NOT_FOUND."""

    def Check(
        self, request: health_pb2.HealthCheckRequest, context: grpc.ServicerContext
    ) -> health_pb2.HealthCheckResponse:
        response = super().Check(request, context)
        # code() is gRPC's (experimental) reading of the status set so far; types-grpcio does not declare it.
        if context.code() == grpc.StatusCode.NOT_FOUND:  # type: ignore[attr-defined]
            context.set_details(
                f"no health status for {request.service[:100]!r} (expected '', a service name or a loaded model's name)"
            )
        return response


def _health(repository: ModelRepository) -> health.HealthServicer:
    """Health statuses for the server (""), both services and each model name, kept in step with reloads."""
    servicer = _Health()
    for name in ("", SERVICE_NAME, INFERENCE_SERVICE_NAME):
        servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    served: set[str] = set()

    def sync() -> None:
        names = {m.name for m in repository.models()}
        for name in sorted(names):
            servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
        for name in sorted(served - names):
            servicer.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
        served.clear()
        served.update(names)
        metrics.LOADED.set(len(repository.models()))

    sync()
    repository.on_change(sync)
    return servicer
