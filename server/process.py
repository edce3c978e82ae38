"""One serving process: a `SignalServer` and the folder watcher, until SIGTERM or SIGINT, then a drain."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType

from .app import INFERENCE_SERVICE_NAME, SERVICE_NAME, SignalServer
from .options import ServeOptions
from .repository import Watcher, no_models

log = logging.getLogger(__name__)


def run(options: ServeOptions, ready: Callable[[], None] | None = None) -> None:
    """Serve in this process until SIGTERM or SIGINT; call `ready` once serving. Must run in the main thread."""
    server = SignalServer(options)
    if not server.repository.models():
        raise no_models(options.models_dir)
    watcher = Watcher(server.repository, options.watch_interval) if options.watch_interval > 0 else None
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("%s received: stopping", signal.Signals(signum).name)
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        with server:
            try:
                tls = options.tls
                extras = [
                    ("TLS" + (" with client certificates" if tls.client_ca else "")) if tls else "",
                    "bearer tokens" if server.tokens else "",
                ]
                log.info(
                    "serving %s and %s on %s%s",
                    SERVICE_NAME,
                    INFERENCE_SERVICE_NAME,
                    server.address,
                    "".join(f", {e}" for e in extras if e),
                )
                if ready is not None:
                    ready()
                stop.wait()
            finally:
                if watcher is not None:
                    watcher.stop()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    log.info("server stopped")
