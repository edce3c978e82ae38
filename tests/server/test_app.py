"""The server process: binding, startup, draining on SIGTERM under load, worker processes."""

from __future__ import annotations

import argparse
import json
import queue
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc
import pandas as pd
import pytest

from signalstack.cli import serve as serve_cli
from signalstack.protos.signalstack.v1 import signals_pb2 as pb
from signalstack.server.app import SignalServer
from signalstack.server.main import serve
from signalstack.server.options import BatchPolicy, ServeOptions, cores
from signalstack.server.repository import ModelRepository
from signalstack.transport.client import SignalClient
from signalstack.transport.security import TlsFiles

from ..support import free_port
from .support import bar_events, running, wait_until_serving

SERVE = (
    "import logging, sys\n"
    "from pathlib import Path\n"
    "from signalstack.server.main import serve\n"
    "from signalstack.server.options import ServeOptions\n"
    "logging.basicConfig(level=logging.INFO)\n"
    "serve(ServeOptions(Path(sys.argv[1]), '127.0.0.1', int(sys.argv[2]), grace=2.0))\n"
)


def test_unary_calls_have_threads_of_their_own_while_streams_hold_theirs(model_dir: Path, sp500: pd.DataFrame) -> None:
    # Both stream threads are held by open streams waiting for bars; Predict still gets answered.
    feeds: list[queue.Queue[pb.BarEvent | None]] = [queue.Queue(), queue.Queue()]

    def events(feed: queue.Queue[pb.BarEvent | None]) -> Iterator[pb.BarEvent]:
        while (event := feed.get(timeout=30)) is not None:
            yield event

    with (
        running(ModelRepository(model_dir), call_threads=1, stream_threads=2) as server,
        SignalClient(f"127.0.0.1:{server.port}", timeout=10) as client,
    ):
        streams = [client.stream_signals(events(feed)) for feed in feeds]
        first = bar_events(sp500.iloc[:1])[0]
        for feed, stream in zip(feeds, streams):
            feed.put(first)
            assert next(stream).bars_needed > 0  # open, and holding a stream thread
        window = sp500.iloc[-client.get_model("tiny").bars_required :]
        for _ in range(3):
            assert client.predict("tiny", [window]).shape == (1, 2)
        for feed in feeds:
            feed.put(None)
        assert all(list(stream) == [] for stream in streams)


def test_busy_port_is_refused(model_dir: Path, grpc_target: str) -> None:
    busy = int(grpc_target.rsplit(":", 1)[1])
    with pytest.raises(OSError, match=f"cannot listen on 127.0.0.1:{busy}"):
        SignalServer(ServeOptions(model_dir, port=busy))


def test_serve_refuses_a_folder_without_models(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no loadable models"):
        serve(ServeOptions(tmp_path, port=free_port()))


def test_serve_exits_cleanly_on_sigterm(model_dir: Path, tmp_path: Path) -> None:
    port = free_port()
    log_path = tmp_path / "serve.log"
    with log_path.open("w") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-c", SERVE, str(model_dir), str(port)], stdout=log_file, stderr=subprocess.STDOUT
        )
        try:
            wait_until_serving(f"127.0.0.1:{port}", process, seconds=60)
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=10) == 0, log_path.read_text()
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
    output = log_path.read_text()
    assert "tiny.onnx: onnxruntime on " in output and f"on 127.0.0.1:{port}" in output, output
    assert "SIGTERM received" in output and "server stopped" in output, output


SERVE_WITH = (
    "import json, logging, sys\n"
    "from pathlib import Path\n"
    "from signalstack.server.main import serve\n"
    "from signalstack.server.options import ServeOptions\n"
    "logging.basicConfig(level=logging.INFO, format='%(processName)s %(levelname)s %(message)s')\n"
    "serve(ServeOptions(Path(sys.argv[1]), '127.0.0.1', int(sys.argv[2]), **json.loads(sys.argv[3])))\n"
)


@contextmanager
def _serving(model_dir: Path, port: int, log_path: Path, **options: object) -> Iterator[subprocess.Popen]:
    """`serve(ServeOptions(model_dir, '127.0.0.1', port, **options))` in a child process logging to `log_path`."""
    with log_path.open("w") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-c", SERVE_WITH, str(model_dir), str(port), json.dumps(options)],
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        try:
            yield process
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)


def _load(target: str, window: pd.DataFrame, outcomes: Counter[str], stop: threading.Event) -> None:
    """Predict on its own channel until `stop`, 300 calls, or the first refused call."""
    with SignalClient(target, timeout=30) as client:
        for _ in range(300):
            if stop.is_set():
                return
            try:
                client.predict("tiny", [window])
                outcomes["OK"] += 1
            except grpc.RpcError as error:
                outcomes[
                    error.code().name if error.code() != grpc.StatusCode.CANCELLED else f"CANCELLED: {error.details()}"
                ] += 1
                return  # the server is going away


def test_sigterm_under_load_lets_in_flight_calls_finish(model_dir: Path, tmp_path: Path, sp500: pd.DataFrame) -> None:
    port = free_port()
    target = f"127.0.0.1:{port}"
    log_path = tmp_path / "serve.log"
    window = sp500.iloc[-500:]
    events = bar_events(sp500.iloc[:20])
    outcomes: Counter[str] = Counter()
    stop = threading.Event()
    with _serving(model_dir, port, log_path, grace=20.0, watch_interval=0) as process:
        wait_until_serving(target, process, seconds=60)
        feed: queue.Queue[pb.BarEvent | None] = queue.Queue()
        with SignalClient(target, timeout=30) as client:
            answers = client.stream_signals(iter(feed.get, None))
            for event in events[:10]:  # the stream is open and answering: a call in flight
                feed.put(event)
                assert next(answers).time == event.time
            threads = [threading.Thread(target=_load, args=(target, window, outcomes, stop)) for _ in range(4)]
            for thread in threads:
                thread.start()
            deadline = time.monotonic() + 60
            while outcomes["OK"] < 20 and time.monotonic() < deadline and any(t.is_alive() for t in threads):
                time.sleep(0.01)
            process.send_signal(signal.SIGTERM)
            for event in events[10:]:  # the stream keeps being answered while the server drains
                feed.put(event)
                assert next(answers).time == event.time
            feed.put(None)
            assert list(answers) == []  # and ends with OK
            stop.set()
            for thread in threads:
                thread.join(timeout=60)
        assert process.wait(timeout=60) == 0, log_path.read_text()
    # Calls arriving after SIGTERM are refused: UNAVAILABLE, or CANCELLED with no handler ever run for
    # calls gRPC core had queued but not yet handed to the server (grpc/grpc#41785). None that started fails.
    assert outcomes["OK"] >= 20 and set(outcomes) <= {"OK", "UNAVAILABLE", "CANCELLED: CANCELLED"}, outcomes
    output = log_path.read_text()
    assert "SIGTERM received" in output and "server stopped" in output, output


def _workers(pid: int) -> list[int]:
    """Worker processes (spawned by multiprocessing) among the children of `pid`."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(c) for c in children if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()]


def test_workers_share_one_port_and_stop_together(model_dir: Path, tmp_path: Path, sp500: pd.DataFrame) -> None:
    port, metrics_port = free_port(), free_port()
    target = f"127.0.0.1:{port}"
    log_path = tmp_path / "serve.log"
    with _serving(model_dir, port, log_path, workers=2, metrics_port=metrics_port, grace=5.0) as process:
        wait_until_serving(target, process, seconds=120)
        deadline = time.monotonic() + 120
        while "2 workers serving" not in log_path.read_text() and time.monotonic() < deadline:
            assert process.poll() is None, log_path.read_text()
            time.sleep(0.1)
        workers = _workers(process.pid)
        assert len(workers) == 2, log_path.read_text()
        for _ in range(6):  # a channel each: new connections, spread by the kernel
            with SignalClient(target, timeout=30) as client:
                assert client.predict("tiny", [sp500.iloc[-500:]]).shape == (1, 2)
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10) as response:
            scraped = response.read().decode()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0, log_path.read_text()
    assert 'signalstack_requests_total{code="OK",method="Predict",model="tiny",version="1"} 6.0' in scraped, scraped
    assert not any(Path(f"/proc/{w}").exists() for w in workers)
    output = log_path.read_text()
    assert output.count("server stopped") == 2 and "all workers stopped" in output, output


def _flags(*argv: str) -> ServeOptions:
    """The options `signalstack serve --models models --port 8500 ARGV` runs with."""
    parser = argparse.ArgumentParser()
    serve_cli.add(parser.add_subparsers())
    return serve_cli.options(parser.parse_args(["serve", "--models", "models", "--port", "8500", *argv]))


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: _flags("--tls-cert", "server.crt"), "expected both or neither"),
        (lambda: _flags("--tls-client-ca", "ca.crt"), "client certificates need TLS"),
        (lambda: _flags("--workers", "0"), "flags: workers: 0, expected >= 1"),
        (lambda: _flags("--model-batching", "tiny=lots"), "batching 'lots'"),
        (lambda: _flags("--call-threads", "0"), "flags: call_threads: 0, expected >= 1"),
        (lambda: _flags("--port", "0", "--workers", "2"), "port 0 with several workers: expected a fixed port"),
    ],
)
def test_serve_refuses_inconsistent_options(make: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()  # type: ignore[operator]


def test_serve_flags_make_the_options_and_leave_workers_and_instances_to_the_machine() -> None:
    given = _flags(
        "--device",
        "cpu",
        "--max-delay-us",
        "300",
        "--model-batching",
        "slow=8:0:3",
        "--tls-cert",
        "c.pem",
        "--tls-key",
        "k.pem",
    )
    assert given == ServeOptions(
        Path("models"),
        port=8500,
        device="cpu",
        batching=BatchPolicy(max_delay_us=300),
        model_batching={"slow": BatchPolicy(8, 0, 3)},
        tls=TlsFiles(Path("c.pem"), Path("k.pem")),
    )
    decided = given.resolved()  # one process per core, one instance per core of a process
    assert decided.workers == cores() and decided.batching.instances == 1 and decided.reuse_port == (cores() > 1)
    assert decided.model_batching["slow"].instances == 3 and decided.resolved() == decided
    assert _flags("--device", "cpu", "--workers", "1").resolved().batching.instances == cores()
    assert ServeOptions(Path("models")).resolved().workers == 1  # port 0: one process
