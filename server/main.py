"""What `signalstack serve` runs: one serving process, or several sharing the port, and the metrics endpoint."""

from __future__ import annotations

import logging

from . import metrics
from .options import ServeOptions, cores
from .process import run
from .repository import MODEL_FILE, no_models
from .workers import run_workers

log = logging.getLogger(__name__)


def serve(options: ServeOptions) -> None:
    """Serve the models of `options.models_dir` until SIGTERM or SIGINT, then drain and return.

    What `options` leaves to the machine is decided first (`ServeOptions.resolved`). Several workers
    are that many processes sharing the port, whose metrics the parent serves summed. Must run in
    the main thread.
    """
    given, options = options, options.resolved()
    log.info(
        "%d serving process(es) (%s), each with %d call threads and %d batching instance(s) (%s) of up to %d windows",
        options.workers,
        "as set" if given.workers else f"for {cores()} cores",
        options.call_threads,
        options.batching.instances,
        "as set" if given.batching.instances else "one per core",
        options.batching.max_batch_size,
    )
    if (options.workers or 1) > 1:
        root = options.models_dir
        if not root.is_dir() or not any(root.glob("*.onnx")) and not any(root.glob(f"*/*/{MODEL_FILE}")):
            raise no_models(root)  # refused here, in one line, rather than by every worker
        run_workers(options)
        return
    endpoint = (
        metrics.serve_metrics(options.metrics_port, options.metrics_host) if options.metrics_port is not None else None
    )
    try:
        run(options)
    finally:
        if endpoint is not None:
            endpoint.shutdown()
