"""A real MLflow tracking server for the tracking tests: `mlflow server` on 127.0.0.1 with a free port, a SQLite
backend and artifacts served from a folder, waited for (bounded in time) and stopped with its processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..support import free_port

START_WAIT = 240.0
"""Seconds the server gets to answer /health: it imports FastAPI, SQLAlchemy and runs its migrations, which takes
minutes on a loaded two-core machine."""

QUIET = {"MLFLOW_DISABLE_TELEMETRY": "true", "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
"""No usage reports (no network here) and no job runner process (nothing here uses MLflow's jobs)."""


@contextmanager
def mlflow_server(folder: Path) -> Iterator[str]:
    """The tracking URI of a server storing runs in folder/mlflow.db and artifacts in folder/artifacts."""
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--backend-store-uri",
        f"sqlite:///{folder / 'mlflow.db'}",
        "--artifacts-destination",
        (folder / "artifacts").as_uri(),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    log = (folder / "server.log").open("wb")
    server = subprocess.Popen(
        command, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **QUIET}, start_new_session=True
    )  # its own group: uvicorn's process goes with it
    uri = f"http://127.0.0.1:{port}"
    try:
        _wait(uri, server, folder / "server.log")
        yield uri
    finally:
        _stop(server)
        log.close()


def _wait(uri: str, server: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_WAIT
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"mlflow server exited with {server.returncode}: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{uri}/health", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(
        f"mlflow server at {uri} did not answer /health in {START_WAIT:.0f} s: {log.read_text()[-2000:]}"
    )


def _stop(server: subprocess.Popen) -> None:
    """SIGTERM to the server's process group, SIGKILL to what is left after 30 s."""
    try:
        os.killpg(server.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(server.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    server.wait(timeout=10)
