"""Prometheus metrics of the server, and the HTTP endpoint that exposes them.

Labels are bounded: `model` and `version` are only ever a loaded model's (a request naming an
unknown model counts under model=""), so fuzzed names cannot grow the label set. With several
worker processes, each writes its samples to a shared folder (prometheus_client's multiprocess
mode) and the parent process serves the sum.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from wsgiref.simple_server import WSGIServer

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, multiprocess, start_http_server

log = logging.getLogger(__name__)

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"

_LATENCY_BUCKETS = (0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)

REQUESTS = Counter(
    "signalstack_requests",
    "RPCs finished, by method, model, version and status code",
    ["method", "model", "version", "code"],
)
LATENCY = Histogram(
    "signalstack_request_seconds",
    "Time from a call's arrival in its handler to its answer",
    ["method", "model", "version"],
    buckets=_LATENCY_BUCKETS,
)
BATCH = Histogram(
    "signalstack_batch_windows", "Windows per onnxruntime run", ["model", "version"], buckets=_BATCH_BUCKETS
)
QUEUE = Gauge(
    "signalstack_queue_windows",
    "Windows waiting for their batch to run",
    ["model", "version"],
    multiprocess_mode="livesum",
)
STREAMS = Gauge("signalstack_streams", "StreamSignals calls open", multiprocess_mode="livesum")
LOADED = Gauge("signalstack_models_loaded", "Model versions loaded", multiprocess_mode="livemax")


def serve_metrics(port: int, host: str = "127.0.0.1", multiprocess_dir: Path | None = None) -> WSGIServer:
    """An HTTP server answering /metrics on host:port (0: any free port) from a daemon thread.

    With `multiprocess_dir` it serves the sum of the worker processes writing there. Stop it with
    `.shutdown()`; `.server_address[1]` is its port.
    """
    registry = REGISTRY
    if multiprocess_dir is not None:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=str(multiprocess_dir))
    try:
        server, _ = start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        raise OSError(f"cannot serve metrics on {host}:{port} ({exc.strerror}; expected a free port)") from None
    log.info("metrics on http://%s:%d/metrics", host, server.server_address[1])
    return server


def worker_exited(pid: int) -> None:
    """Drop the live gauges of a worker process that ended (multiprocess mode only)."""
    if os.environ.get(MULTIPROCESS_ENV):
        multiprocess.mark_process_dead(pid)
