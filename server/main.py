"""What `signalstack serve` runs: one serving process, or several sharing the port, and the metrics endpoint."""

from __future__ import annotations

from . import metrics
from .options import ServeOptions
from .process import run
from .workers import run_workers


def serve(options: ServeOptions) -> None:
    """Serve the models of `options.models_dir` until SIGTERM or SIGINT, then drain and return.

    `options.workers` > 1 runs that many processes sharing the port, whose metrics the parent
    serves summed. Must run in the main thread.
    """
    if options.workers > 1:
        run_workers(options)
        return
    endpoint = metrics.serve_metrics(options.metrics_port, options.metrics_host) \
        if options.metrics_port is not None else None
    try:
        run(options)
    finally:
        if endpoint is not None:
            endpoint.shutdown()
