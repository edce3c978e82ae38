"""The server process: both protocols, health checking, reflection, security, and a graceful stop.

`create_server` wires a repository into a gRPC server: signalstack.v1.SignalService and the Open
Inference Protocol's inference.GRPCInferenceService on one port, gRPC health checking (the server,
each service and each model name), reflection, optional TLS and bearer tokens. `serve` is what
``signalstack serve`` runs: it watches the model folder, exposes Prometheus metrics, optionally
forks worker processes sharing the port, and on SIGTERM or SIGINT reports NOT_SERVING, stops
accepting calls and lets in-flight ones finish within a grace period.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from signalstack.protos.inference import grpc_predict_v2_pb2 as oip_pb
from signalstack.protos.inference import grpc_predict_v2_pb2_grpc as oip_grpc
from signalstack.protos.signalstack.v1 import signals_pb2 as pb
from signalstack.protos.signalstack.v1 import signals_pb2_grpc as pb_grpc

from . import metrics
from .batching import Batchers, BatchPolicy
from .oip import InferenceServicer
from .repository import ModelRepository, Watcher
from .rpc import DecodeErrors, UnaryThreads
from .security import TlsFiles, TokenAuth, read_tokens
from .servicer import SignalServicer

log = logging.getLogger(__name__)

CALL_THREADS = 4
"""Threads that answer unary calls and score streams' bars. That work in Python (decoding, features,
replies) holds the GIL, so more threads contend for it rather than add throughput: with 32
concurrent Predict clients, 4 threads answered 25% more calls/s than 128, at a p99 of 43 ms instead
of 72-75 ms, and 64 streams got 40% more bars/s scored here than on their own threads
(bench/serve.py). Raise it where the model dominates a call (large models, a GPU), so that batches
can fill."""

STREAM_THREADS = 16
"""Threads for streaming calls: each open stream holds one, so this bounds the streams served at once."""

MAX_MESSAGE_BYTES = 256 * 1024 * 1024
"""Largest request or response: a PredictSeries over decades of minute bars runs to tens of MiB."""

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["SignalService"].full_name
INFERENCE_SERVICE_NAME = oip_pb.DESCRIPTOR.services_by_name["GRPCInferenceService"].full_name

CHANNEL_OPTIONS = [
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    # Ping a quiet connection every 30 s so a dead peer or a NAT that forgot it shows up as an error.
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.http2.max_pings_without_data", 0),
]
"""Options of `SignalClient`'s channel: the server's message limits and a keepalive it accepts."""

KEEPALIVE_OPTIONS = [
    ("grpc.keepalive_time_ms", 60_000),  # ping clients quiet for a minute; drop those not answering in 20 s
    ("grpc.keepalive_timeout_ms", 20_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_recv_ping_interval_without_data_ms", 10_000),  # clients may ping every 10 s
    ("grpc.http2.max_ping_strikes", 2),  # then GOAWAY for clients pinging faster
]


@dataclass
class SignalServer:
    """A built, not yet started server, and what it needs to stop gracefully."""

    server: grpc.Server
    port: int
    health: health.HealthServicer
    stopping: threading.Event = field(default_factory=threading.Event)
    pools: tuple[futures.ThreadPoolExecutor, ...] = ()

    def start(self) -> None:
        self.server.start()

    def stop(self, grace: float | None) -> None:
        """Report NOT_SERVING, refuse new calls, let running ones finish within `grace` s, cancel the rest."""
        self.stopping.set()
        self.health.enter_graceful_shutdown()
        self.server.stop(grace).wait()
        for pool in self.pools:
            pool.shutdown(wait=False)


def create_server(repository: ModelRepository, host: str = "127.0.0.1", port: int = 0, *,
                  call_threads: int = CALL_THREADS, stream_threads: int = STREAM_THREADS,
                  batchers: Batchers | None = None, tls: TlsFiles | None = None, tokens: Sequence[str] | None = None,
                  reuse_port: bool = False, max_message_bytes: int = MAX_MESSAGE_BYTES) -> SignalServer:
    """A server for `repository` bound to host:port (0: any free port), not started.

    Unary calls, and the scoring of each bar a stream sends, run on `call_threads` threads (more
    wait their turn). Streaming calls run on `stream_threads`: each open StreamSignals, health Watch
    or reflection stream holds one while it lasts, waiting for its messages.
    `reuse_port` lets several processes share the port (the kernel spreads connections).
    """
    if call_threads < 1 or stream_threads < 1:
        raise ValueError(f"call_threads {call_threads}, stream_threads {stream_threads}: expected >= 1 each")
    # gRPC turns SO_REUSEPORT on by default, which would let a second server share a busy port silently.
    options = [("grpc.max_send_message_length", max_message_bytes),
               ("grpc.max_receive_message_length", max_message_bytes),
               ("grpc.so_reuseport", int(reuse_port)), *KEEPALIVE_OPTIONS]
    calls = futures.ThreadPoolExecutor(call_threads, thread_name_prefix="signalstack-call")
    streams = futures.ThreadPoolExecutor(stream_threads, thread_name_prefix="signalstack-stream")
    interceptors = [*([TokenAuth(tokens)] if tokens else []), UnaryThreads(calls), DecodeErrors()]
    server = grpc.server(streams, options=options, interceptors=interceptors)
    batchers = batchers or Batchers()
    stopping = threading.Event()
    pb_grpc.add_SignalServiceServicer_to_server(SignalServicer(repository, batchers, compute=calls), server)
    oip_grpc.add_GRPCInferenceServiceServicer_to_server(InferenceServicer(repository, batchers, stopping), server)
    health_servicer = _health(repository)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        [SERVICE_NAME, INFERENCE_SERVICE_NAME, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
         reflection.SERVICE_NAME], server)
    address = _address(host, port)
    try:
        bound = server.add_secure_port(address, tls.server_credentials()) if tls else server.add_insecure_port(address)
    except RuntimeError:
        raise OSError(f"cannot listen on {address} (expected a free port on a local address; "
                      "GRPC_VERBOSITY=debug logs why)") from None
    return SignalServer(server, bound, health_servicer, stopping, (calls, streams))


def build_server(repository: ModelRepository, host: str = "127.0.0.1", port: int = 0,
                 **options: object) -> tuple[grpc.Server, int]:
    """`create_server`'s gRPC server and bound port, for callers that stop it themselves."""
    built = create_server(repository, host, port, **options)  # type: ignore[arg-type]
    return built.server, built.port


def _address(host: str, port: int) -> str:
    """host:port, with an IPv6 host in brackets as gRPC expects."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class _Health(health.HealthServicer):
    """grpc's health servicer, with a message when it answers NOT_FOUND."""

    def Check(self, request: health_pb2.HealthCheckRequest,
              context: grpc.ServicerContext) -> health_pb2.HealthCheckResponse:
        response = super().Check(request, context)
        if context.code() == grpc.StatusCode.NOT_FOUND:
            context.set_details(f"no health status for {request.service[:100]!r} (expected '', a service name "
                                "or a loaded model's name)")
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


@dataclass(frozen=True)
class ServeOptions:
    """Everything one serving process needs; picklable, so worker processes get the same."""

    models_dir: Path
    host: str
    port: int
    call_threads: int = CALL_THREADS
    stream_threads: int = STREAM_THREADS
    grace: float = 5.0
    tls: TlsFiles | None = None
    token_file: Path | None = None
    watch_interval: float = 2.0
    batching: BatchPolicy = BatchPolicy()
    model_batching: Mapping[str, BatchPolicy] = field(default_factory=dict)
    intra_op_threads: int = 1
    max_message_bytes: int = MAX_MESSAGE_BYTES
    reuse_port: bool = False


def serve(models_dir: Path, host: str, port: int, *, call_threads: int = CALL_THREADS,
          stream_threads: int = STREAM_THREADS, grace: float = 5.0, workers: int = 1,
          tls_cert: Path | None = None, tls_key: Path | None = None, tls_client_ca: Path | None = None,
          token_file: Path | None = None, metrics_port: int | None = None, metrics_host: str = "127.0.0.1",
          watch_interval: float = 2.0, max_batch_size: int = 64, max_delay_us: int = 0,
          model_batching: Mapping[str, BatchPolicy | str] | None = None, intra_op_threads: int = 1,
          max_message_bytes: int = MAX_MESSAGE_BYTES) -> None:
    """Serve the models of `models_dir` on host:port until SIGTERM or SIGINT, then drain and return.

    `watch_interval` seconds between rescans of the folder (0: never); `max_batch_size` and
    `max_delay_us` are the default batching, `model_batching` overrides it per model name
    (a `BatchPolicy` or its 'SIZE[:DELAY_US[:INSTANCES]]' text); `max_batch_size` 1 turns batching off.
    `workers` > 1 runs that many processes sharing the port. Must run in the main thread.
    """
    if (tls_cert is None) != (tls_key is None):
        raise ValueError(f"tls_cert {tls_cert} and tls_key {tls_key}: expected both or neither")
    if tls_client_ca is not None and tls_cert is None:
        raise ValueError(f"tls_client_ca {tls_client_ca} without tls_cert: client certificates need TLS")
    if workers < 1:
        raise ValueError(f"workers {workers}: expected >= 1")
    options = ServeOptions(
        Path(models_dir), host, port, call_threads=call_threads, stream_threads=stream_threads, grace=grace,
        tls=TlsFiles(Path(tls_cert), Path(tls_key), tls_client_ca and Path(tls_client_ca)) if tls_cert else None,
        token_file=token_file and Path(token_file), watch_interval=watch_interval,
        batching=BatchPolicy(max_batch_size, max_delay_us),
        model_batching={name: p if isinstance(p, BatchPolicy) else BatchPolicy.parse(p)
                        for name, p in (model_batching or {}).items()},
        intra_op_threads=intra_op_threads, max_message_bytes=max_message_bytes, reuse_port=workers > 1)
    if workers > 1:
        from .workers import run_workers

        run_workers(options, workers, metrics_port=metrics_port, metrics_host=metrics_host)
        return
    endpoint = metrics.serve_metrics(metrics_port, metrics_host) if metrics_port is not None else None
    try:
        run(options)
    finally:
        if endpoint is not None:
            endpoint.shutdown()


def run(options: ServeOptions, ready: Callable[[], None] | None = None) -> None:
    """Serve in this process until SIGTERM or SIGINT; call `ready` once serving. Must run in the main thread."""
    repository = ModelRepository(options.models_dir, threads=options.intra_op_threads)
    if not repository.models():
        raise ValueError(f"{options.models_dir}: no loadable models (expected NAME.onnx or NAME/VERSION/model.onnx "
                         "files exported by signalstack train)")
    tokens = read_tokens(options.token_file) if options.token_file else None
    built = create_server(repository, options.host, options.port, call_threads=options.call_threads,
                          stream_threads=options.stream_threads,
                          batchers=Batchers(options.batching, options.model_batching), tls=options.tls,
                          tokens=tokens, reuse_port=options.reuse_port, max_message_bytes=options.max_message_bytes)
    watcher = Watcher(repository, options.watch_interval) if options.watch_interval > 0 else None
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("%s received: stopping", signal.Signals(signum).name)
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        built.start()
        for model in repository.models():
            log.info("model %s v%d on %s", model.name, model.version, model.provider)
        extras = [("TLS" + (" with client certificates" if options.tls.client_ca else "")) if options.tls else "",
                  "bearer tokens" if tokens else ""]
        log.info("serving %s and %s on %s%s", SERVICE_NAME, INFERENCE_SERVICE_NAME,
                 _address(options.host, built.port), "".join(f", {e}" for e in extras if e))
        if ready is not None:
            ready()
        stop.wait()
    finally:
        if watcher is not None:
            watcher.stop()
        built.stop(options.grace)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    log.info("server stopped")
