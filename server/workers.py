"""Several server processes on one port (SO_REUSEPORT): the kernel spreads connections among them.

One Python process is bound by its interpreter lock; N processes use N cores. The parent starts
the workers (spawned, so none inherits gRPC's threads), forwards their log records to its own
handlers, serves their summed Prometheus metrics, restarts a worker that dies, and on SIGTERM or
SIGINT stops them all, each draining its calls within the grace period.
"""

from __future__ import annotations

import logging
import logging.handlers
import multiprocessing
import multiprocessing.synchronize
import os
import shutil
import signal
import socket
import tempfile
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Any

from . import metrics
from .options import ServeOptions
from .process import run

log = logging.getLogger(__name__)

STARTUP_SECONDS = 300.0
"""How long a worker may take to load its models before the start counts as failed."""

RESTART_PAUSE = 1.0
"""Pause before restarting a worker that died, so a crash loop cannot spin."""


def run_workers(options: ServeOptions) -> None:
    """Run `options.workers` serving processes on options.port until SIGTERM or SIGINT. Must run in the main thread."""
    workers, metrics_port = options.workers or 1, options.metrics_port
    _check_free(options.host, options.port)
    context = multiprocessing.get_context("spawn")
    records: Any = context.Queue()
    root = logging.getLogger()
    listener = logging.handlers.QueueListener(records, *root.handlers, respect_handler_level=True)
    metrics_dir = Path(tempfile.mkdtemp(prefix="signalstack-metrics-")) if metrics_port is not None else None
    saved_env = os.environ.get(metrics.MULTIPROCESS_ENV)
    if metrics_dir is not None:
        os.environ[metrics.MULTIPROCESS_ENV] = str(metrics_dir)  # inherited by the workers spawned below
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("%s received: stopping %d workers", signal.Signals(signum).name, workers)
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    listener.start()
    pool: list[Any] = []
    endpoint = None
    try:

        def start(index: int) -> Any:
            ready = context.Event()
            process = context.Process(
                target=_worker,
                name=f"signalstack-worker-{index}",
                args=(options, ready, records, root.getEffectiveLevel()),
            )
            process.start()
            _wait_ready(process, ready, stop)
            return process

        for i in range(workers):
            pool.append(start(i))
        if metrics_dir is not None:
            endpoint = metrics.serve_metrics(metrics_port or 0, options.metrics_host, multiprocess_dir=metrics_dir)
        log.info("%d workers serving on %s:%d", workers, options.host, options.port)
        while not stop.wait(0.5):
            for i, process in enumerate(pool):
                if not process.is_alive() and not stop.is_set():
                    log.error("worker %d (pid %s) exited with %s; restarting it", i, process.pid, process.exitcode)
                    metrics.worker_exited(process.pid)
                    time.sleep(RESTART_PAUSE)
                    pool[i] = start(i)
    finally:
        _stop_all(pool, options.grace)
        if endpoint is not None:
            endpoint.shutdown()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        listener.stop()
        if metrics_dir is not None:
            _restore_env(saved_env)
            shutil.rmtree(metrics_dir, ignore_errors=True)
    log.info("all workers stopped")


def _check_free(host: str, port: int) -> None:
    """Refuse a port something else listens on: SO_REUSEPORT would otherwise share it with a stranger."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise OSError(f"cannot listen on {host}:{port} ({exc.strerror}; expected a free port)") from None


def _wait_ready(process: Any, ready: multiprocessing.synchronize.Event, stop: threading.Event) -> None:
    """Return once `process` serves or a stop was asked for; raise if it exits first or takes too long."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while not ready.wait(0.2) and not stop.is_set():
        if not process.is_alive():
            raise RuntimeError(f"{process.name} exited with {process.exitcode} before serving (its log says why)")
        if time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"{process.name} did not start serving within {STARTUP_SECONDS:.0f} s")


def _stop_all(pool: list[Any], grace: float) -> None:
    """SIGTERM every worker, wait for each to drain, kill any still running well after the grace period."""
    for process in pool:
        if process.is_alive():
            process.terminate()
    for process in pool:
        process.join(grace + 10.0)
        if process.is_alive():
            log.error("%s still running %.0f s after SIGTERM: killing it", process.name, grace + 10.0)
            process.kill()
            process.join()
        metrics.worker_exited(process.pid)


def _restore_env(saved: str | None) -> None:
    if saved is None:
        os.environ.pop(metrics.MULTIPROCESS_ENV, None)
    else:
        os.environ[metrics.MULTIPROCESS_ENV] = saved


def _worker(options: ServeOptions, ready: multiprocessing.synchronize.Event, records: Any, level: int) -> None:
    """A worker process: log through the parent, then serve until SIGTERM."""
    root = logging.getLogger()
    root.handlers[:] = [logging.handlers.QueueHandler(records)]
    root.setLevel(level)
    run(options, ready=ready.set)
