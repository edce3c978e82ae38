"""Benchmark of the signal server against the gRPC echo server: calls/s, latency and server CPU per call.

    python bench/serve.py                      # about 5 minutes on 2 cores
    python bench/serve.py --model m.onnx --seconds 12 --tuned '{"workers": 3}'

Every figure comes from the same run, so ratios compare like with like:

- latency: sequential one-window calls from one client, p50/p99, against the floor they cannot
  beat: a gRPC echo round trip of the same request bytes plus the same work done in process
  (`predict_windows` for Predict: features and model; `predict` for ModelInfer: the model alone);
- throughput: 32 concurrent clients calling Predict and ModelInfer (one window per call) and
  PredictSeries (`--series-bars` bars per call), and 64 concurrent StreamSignals streams, each
  against the echo server under the same load with the same request bytes: the most calls/s one
  Python gRPC process answers doing no work. `x echo` is calls/s over the echo's. `CPU` is the
  server's CPU time (every process of it, user and system) over the calls it answered while
  measured: what a call costs, whatever else runs on the machine;
- servers: `defaults` is `signalstack serve` with no tuning flags (worker processes and batching
  decided from the machine); `tuned` adds `--tuned` (ServeOptions fields as JSON); `echo` is a
  grpcio thread-pool server answering with the request bytes (4 threads for unary calls, as
  signalstack gives them), `asyncio echo` the same on grpc.aio, for comparison;
- in process: onnxruntime's CPU per window at batch 1 and 64, the part of a call the model is.

All servers run at once, each in its own process, and the measurements interleave in `--rounds`
rounds, so a change in background load hits every side of a comparison alike; each figure is the
best of its rounds (most calls/s, least latency and CPU). Load generators are separate processes
too (clients send pre-serialised bytes, each on its own connection), so client and server never
share an interpreter lock; on a small machine they still share the cores. Without --model, a
window-60 LSTM is trained once (1 epoch) and cached under ~/.cache/signalstack/bench. The CUDA
provider is used automatically when onnxruntime has it and it works.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent import futures
from contextlib import ExitStack
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

import grpc
import numpy as np

PREDICT = "/signalstack.v1.SignalService/Predict"
SERIES = "/signalstack.v1.SignalService/PredictSeries"
INFER = "/inference.GRPCInferenceService/ModelInfer"
STREAM = "/signalstack.v1.SignalService/StreamSignals"
ECHO = "/bench.Echo/Echo"
STREAM_ECHO = "/bench.Echo/StreamEcho"
CACHE = Path.home() / ".cache" / "signalstack" / "bench" / "lstm60.onnx"
CLIENT_PROCESSES = 2
ECHO_THREADS = 4  # the threads a signalstack server process gives unary calls by default
STREAM_THREADS = 128  # >= concurrent streams: each open stream holds a server thread (capacity, not tuning)
START_DELAY = 0.3  # seconds for every client of a phase to connect before it starts
WARM_UP = 0.5
TUNED = '{"call_threads": 8, "batching": {"max_delay_us": 500}}'
"""The usual hand-tuning for throughput: more threads, and a wait for company, so that batches fill."""
CHANNEL = [
    ("grpc.use_local_subchannel_pool", 1),  # a connection per client, so worker processes share the load
    ("grpc.max_receive_message_length", 64 << 20),
    ("grpc.max_send_message_length", 64 << 20),
]


@dataclass(frozen=True)
class Stats:
    """Latencies of one phase (seconds), its rate (calls or bars per second), and the CPU seconds per call of the
    server and of the load generators."""

    latencies: np.ndarray
    rate: float = 0.0
    cpu: float = float("nan")
    client_cpu: float = float("nan")

    def p(self, q: float) -> float:
        return float(np.percentile(self.latencies, q)) if len(self.latencies) else float("nan")


def _best(rounds: list[Stats]) -> Stats:
    """The best of several rounds of one measurement: most calls/s, least latency and CPU."""
    latencies = min(
        (r.latencies for r in rounds if len(r.latencies)), key=lambda a: np.percentile(a, 99), default=np.array([])
    )

    def least(values: list[float]) -> float:
        return min((v for v in values if not np.isnan(v)), default=float("nan"))

    return Stats(
        latencies, max(r.rate for r in rounds), least([r.cpu for r in rounds]), least([r.client_cpu for r in rounds])
    )


def _timed(fn: Callable[[], object], calls: int) -> Stats:
    """Run `fn` `calls` times after a short warm-up; every call's duration."""
    for _ in range(min(50, calls)):
        fn()
    out = np.empty(calls)
    for i in range(calls):
        start = time.perf_counter()
        fn()
        out[i] = time.perf_counter() - start
    return Stats(out, calls / out.sum())


def _cpu_per_window(predict: Callable[[np.ndarray], object], x: np.ndarray, batch: int) -> float:
    """CPU seconds per window of in-process onnxruntime on batches of `batch`, best of 5."""
    xs = np.repeat(x, batch, axis=0)
    predict(xs)
    runs = max(5, 400 // batch)
    best = float("inf")
    for _ in range(5):
        start = time.thread_time()
        for _ in range(runs):
            predict(xs)
        best = min(best, (time.thread_time() - start) / runs / batch)
    return best


# Server CPU, from /proc ----------------------------------------------------------------------------


def _cpu_seconds(pid: int) -> float:
    """User and system CPU seconds of process `pid` and its descendants (the workers); nan without /proc."""
    ticks = 0
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            for child in Path(f"/proc/{pid}/task/{task}/children").read_text().split():
                ticks += int(_cpu_seconds(int(child)) * os.sysconf("SC_CLK_TCK"))
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (ticks + int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class _CpuWindow:
    """The CPU seconds processes `pids` use between two wall-clock times, sampled by a thread at each."""

    def __init__(self, pids: list[int], begin: float, end: float) -> None:
        self._samples: list[float] = []

        def sample() -> None:
            for at in (begin, end):
                time.sleep(max(0.0, at - time.time()))
                self._samples.append(sum(_cpu_seconds(pid) for pid in pids))

        self._thread = threading.Thread(target=sample, daemon=True)
        self._thread.start()

    def seconds(self) -> float:
        self._thread.join()
        return self._samples[1] - self._samples[0]


# Load generation, in spawned processes -----------------------------------------------------------


def _unary_client(target: str, method: str, payload: bytes, start_at: float, seconds: float) -> list[float]:
    """Call `method` back to back on a connection of its own from start_at + WARM_UP for `seconds`."""
    with grpc.insecure_channel(target, options=CHANNEL) as channel:
        call = channel.unary_unary(method)
        latencies: list[float] = []
        time.sleep(max(0.0, start_at - time.time()))
        begin, end = start_at + WARM_UP, start_at + WARM_UP + seconds
        while (now := time.time()) < end:
            t0 = time.perf_counter()
            call(payload, timeout=60)
            if now >= begin:
                latencies.append(time.perf_counter() - t0)
        return latencies


def _stream_client(
    target: str, method: str, events: list[bytes], ready_after: int, start_at: float
) -> tuple[float, float, int]:
    """Stream `events` as fast as the server answers; (first, last) wall time of answers past ready_after."""
    with grpc.insecure_channel(target, options=CHANNEL) as channel:
        time.sleep(max(0.0, start_at - time.time()))
        first = last = 0.0
        for i, _ in enumerate(channel.stream_stream(method)(iter(events), timeout=600)):
            if i == ready_after:
                first = time.time()
            last = time.time()
        return first, last, len(events) - ready_after - 1


def _client_loop(connection: Connection) -> None:
    """A load-generating process: run each (kind, args, threads) order in `threads` threads, send back results."""
    while (order := connection.recv()) is not None:
        kind, args, threads = order
        client = _unary_client if kind == "unary" else _stream_client
        with futures.ThreadPoolExecutor(threads) as pool:
            jobs = [pool.submit(client, *args) for _ in range(threads)]
            connection.send([job.result() for job in jobs])


class Clients:
    """CLIENT_PROCESSES spawned load generators, started once and reused by every phase."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        pipes = [context.Pipe() for _ in range(CLIENT_PROCESSES)]
        self._connections = [parent for parent, _ in pipes]
        self._processes = [context.Process(target=_client_loop, args=(child,), daemon=True) for _, child in pipes]
        for process in self._processes:
            process.start()
        self.pids = [process.pid for process in self._processes]

    def run(self, kind: str, args: tuple, clients: int) -> list:
        """`clients` clients of `kind` spread over the processes; every client's result."""
        shares = [clients // CLIENT_PROCESSES + (i < clients % CLIENT_PROCESSES) for i in range(CLIENT_PROCESSES)]
        busy = [c for c, n in zip(self._connections, shares) if n]
        for connection, n in zip(busy, shares):
            connection.send((kind, args, n))
        return [result for connection in busy for result in connection.recv()]

    def close(self) -> None:
        for connection in self._connections:
            connection.send(None)
        for process in self._processes:
            process.join(timeout=30)


@dataclass(frozen=True)
class Server:
    """A server under test: the address clients dial and the process whose CPU is counted."""

    target: str
    pid: int


def _throughput(clients: Clients, server: Server, method: str, payload: bytes, n: int, seconds: float) -> Stats:
    start_at = time.time() + START_DELAY
    begin, end = start_at + WARM_UP, start_at + WARM_UP + seconds
    cpu, client_cpu = _CpuWindow([server.pid], begin, end), _CpuWindow(clients.pids, begin, end)
    results = clients.run("unary", (server.target, method, payload, start_at, seconds), n)
    latencies = np.concatenate([np.asarray(r) for r in results])
    calls = max(1, len(latencies))
    return Stats(latencies, len(latencies) / seconds, cpu.seconds() / calls, client_cpu.seconds() / calls)


def _latency(server: Server, method: str, payload: bytes, calls: int) -> Stats:
    with grpc.insecure_channel(server.target, options=CHANNEL) as channel:
        call = channel.unary_unary(method)
        return _timed(lambda: call(payload, timeout=30), calls)


def _streams(
    clients: Clients, server: Server, method: str, events: list[bytes], ready_after: int, streams: int
) -> Stats:
    """Answered bars per second over all streams past each stream's first `ready_after` (per stream for one),
    and the server's CPU per bar over the whole phase."""
    before = _cpu_seconds(server.pid)
    results = clients.run("stream", (server.target, method, events, ready_after, time.time() + START_DELAY), streams)
    cpu = (_cpu_seconds(server.pid) - before) / (len(events) * streams)
    first, last = min(r[0] for r in results), max(r[1] for r in results)
    return Stats(np.array([]), sum(r[2] for r in results) / (last - first), cpu)


# Servers, in child processes ---------------------------------------------------------------------


def _echo_server(port: int) -> None:
    """A gRPC server answering with the request bytes: the transport's cost without any work, with a
    signalstack server's threads (ECHO_THREADS for unary calls, STREAM_THREADS for streams)."""
    calls = futures.ThreadPoolExecutor(ECHO_THREADS)
    server = grpc.server(futures.ThreadPoolExecutor(STREAM_THREADS), options=[("grpc.so_reuseport", 0), *CHANNEL[1:]])

    def echo(request: bytes, context: grpc.ServicerContext) -> bytes:
        return request

    echo.experimental_thread_pool = calls  # type: ignore[attr-defined]

    def stream_echo(requests: Iterator[bytes], context: grpc.ServicerContext) -> Iterator[bytes]:
        yield from requests

    server.add_generic_rpc_handlers(
        (
            grpc.method_handlers_generic_handler(
                "bench.Echo",
                {
                    "Echo": grpc.unary_unary_rpc_method_handler(echo),
                    "StreamEcho": grpc.stream_stream_rpc_method_handler(stream_echo),
                },
            ),
        )
    )
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    server.stop(None)


def _asyncio_echo_server(port: int) -> None:
    """The echo server on grpc.aio: every call a coroutine on one event loop, no thread pool."""

    async def echo(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        return request

    async def stream_echo(requests: object, context: grpc.aio.ServicerContext) -> object:
        async for request in requests:  # type: ignore[attr-defined]
            yield request

    async def main() -> None:
        server = grpc.aio.server(options=[("grpc.so_reuseport", 0), *CHANNEL[1:]])
        server.add_generic_rpc_handlers(
            (
                grpc.method_handlers_generic_handler(
                    "bench.Echo",
                    {
                        "Echo": grpc.unary_unary_rpc_method_handler(echo),
                        "StreamEcho": grpc.stream_stream_rpc_method_handler(stream_echo),
                    },
                ),
            )
        )
        server.add_insecure_port(f"127.0.0.1:{port}")
        await server.start()
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()
        await server.stop(None)

    asyncio.run(main())


def _start(stack: ExitStack, code: str, port: int) -> Server:
    """Run `code` in a child Python until `stack` closes (then SIGTERM); the server it will be."""
    process = subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.DEVNULL)

    def stop() -> None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()

    stack.callback(stop)
    return Server(f"127.0.0.1:{port}", process.pid)


def _wait_ready(servers: list[Server]) -> None:
    """Return once every server accepts connections."""
    for server in servers:
        with grpc.insecure_channel(server.target) as channel:
            grpc.channel_ready_future(channel).result(timeout=300)
    time.sleep(2.0)  # let every worker of a multi-process server bind


def _serve_code(models: Path, port: int, options: dict[str, object]) -> str:
    return (
        "import json\nfrom pathlib import Path\nfrom signalstack.server.main import serve\n"
        "from signalstack.server.options import ServeOptions\n"
        f"serve(ServeOptions(Path({str(models)!r}), '127.0.0.1', {port}, **json.loads({json.dumps(options)!r})))\n"
    )


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# The run -----------------------------------------------------------------------------------------


def _model(path: Path | None) -> Path:
    """`path`, or the cached benchmark model, trained on first use."""
    if path is not None:
        return path
    if not CACHE.is_file():
        from signalstack.core.bars import load_bars
        from signalstack.models.config import TrainConfig
        from signalstack.models.pipeline import train_and_export

        print(f"training the benchmark model once (cached in {CACHE}) ...", flush=True)
        CACHE.parent.mkdir(parents=True, exist_ok=True)
        train_and_export(load_bars("sample:sp500").iloc[-1500:], CACHE, config=TrainConfig(epochs=1, progress=False))
    return CACHE


@dataclass(frozen=True)
class Method:
    """One RPC under load: its path and request bytes (a stream's messages for a streaming one)."""

    path: str
    payload: bytes | list[bytes]
    streaming: bool = False


def run(args: argparse.Namespace) -> tuple[dict[str, Stats], dict[str, float], str]:
    """Every measurement by name, the in-process figures, and a line describing the model."""
    from signalstack.core.bars import COLUMNS, load_bars
    from signalstack.core.model import OnnxModel
    from signalstack.protos.inference import grpc_predict_v2_pb2 as oip
    from signalstack.protos.signalstack.v1 import signals_pb2 as pb

    path = _model(args.model)
    local = OnnxModel(path, threads=1)
    bars = load_bars("sample:sp500")
    window = bars.iloc[-local.bars_required :]
    x = local.featurizer.window(window)[np.newaxis].astype(np.float32)
    series = bars.iloc[-args.series_bars :]
    stream_bars = bars.iloc[-(local.bars_required + args.stream_bars) :]
    events = [
        pb.BarEvent(
            model="bench", symbol="SPY", open=r.open, high=r.high, low=r.low, close=r.close, volume=r.volume
        ).SerializeToString()
        for r in stream_bars.itertuples()
    ]
    methods = {
        "Predict": Method(
            PREDICT,
            pb.PredictRequest(
                model="bench", windows=[pb.Bars(**{c: window[c].tolist() for c in COLUMNS})]
            ).SerializeToString(),
        ),
        "ModelInfer": Method(
            INFER,
            oip.ModelInferRequest(
                model_name="bench",
                raw_input_contents=[x.tobytes()],
                inputs=[
                    oip.ModelInferRequest.InferInputTensor(name=local.bars_input.name, datatype="FP32", shape=x.shape)
                ],
            ).SerializeToString(),
        ),
        "PredictSeries": Method(
            SERIES,
            pb.PredictSeriesRequest(
                model="bench", bars=pb.Bars(**{c: series[c].tolist() for c in COLUMNS})
            ).SerializeToString(),
        ),
        "StreamSignals": Method(STREAM, events[: local.bars_required + args.stream_bars // 10], streaming=True),
    }
    in_process = {
        "Predict": lambda: local.predict_windows([window]),
        "ModelInfer": lambda: local.predict({local.bars_input.name: x}),
    }
    described = (
        f"model {path.name}: window {local.window} x {local.bars_input.shape[-1]} features, "
        f"{local.bars_required} bars per window, {local.provider}"
    )
    print(described, flush=True)

    base = {"stream_threads": STREAM_THREADS, "watch_interval": 0}
    setups = {"defaults": base, "tuned": {**base, **json.loads(args.tuned)}}
    laps: dict[str, list[Stats]] = {}
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        models = Path(tmp)
        (models / "bench" / "1").mkdir(parents=True)
        (models / "bench" / "1" / "model.onnx").write_bytes(path.read_bytes())
        clients = Clients()
        stack.callback(clients.close)
        here = f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r})\nfrom serve import "
        servers = {}
        for label, function in (("echo", "_echo_server"), ("asyncio echo", "_asyncio_echo_server")):
            port = _free_port()
            servers[label] = _start(stack, f"{here}{function}\n{function}({port})\n", port)
        for label, options in setups.items():
            port = _free_port()
            servers[label] = _start(stack, _serve_code(models, port, options), port)
        _wait_ready(list(servers.values()))
        figures = {
            f"cpu per window, batch {n}": _cpu_per_window(lambda b: local.predict({local.bars_input.name: b}), x, n)
            for n in (1, 64)
        }
        share = args.seconds / args.rounds
        # Rounds interleave what is compared, so a change in background load hits every side alike.
        for lap in range(args.rounds):
            print(f"round {lap + 1} of {args.rounds} ...", flush=True)
            for name, method in methods.items():
                for label, server in servers.items():
                    if label == "asyncio echo" and name not in ("ModelInfer", "StreamSignals"):
                        continue
                    called = (STREAM_ECHO if method.streaming else ECHO) if label.endswith("echo") else method.path
                    if method.streaming:
                        stats = _streams(
                            clients,
                            server,
                            called,
                            method.payload,  # type: ignore[arg-type]
                            local.bars_required - 1,
                            args.streams,
                        )
                    else:
                        stats = _throughput(
                            clients,
                            server,
                            called,
                            method.payload,  # type: ignore[arg-type]
                            args.clients,
                            share,
                        )
                    laps.setdefault(f"{name} {label}", []).append(stats)
            for name, work in in_process.items():
                calls = args.calls // args.rounds
                payload = methods[name].payload
                laps.setdefault(f"latency {name} echo", []).append(_latency(servers["echo"], ECHO, payload, calls))
                laps.setdefault(f"latency {name} in process", []).append(_timed(work, calls))
                laps.setdefault(f"latency {name}", []).append(
                    _latency(servers["defaults"], methods[name].path, payload, calls)
                )
        print("one stream ...", flush=True)
        laps["one stream"] = [_streams(clients, servers["defaults"], STREAM, events, local.bars_required - 1, 1)]
    return {key: _best(value) for key, value in laps.items()}, figures, described


def _rows(r: dict[str, Stats], figures: dict[str, float], args: argparse.Namespace) -> list[str]:
    def us(s: Stats) -> str:
        return f"{s.p(50) * 1e6:,.0f} / {s.p(99) * 1e6:,.0f}"

    lines = [f"{'latency, one client, one window per call':<52}{'p50 / p99 µs':>16}"]
    for name, work in (("Predict", "predict_windows (features + model)"), ("ModelInfer", "predict (model)")):
        echo, local, served = r[f"latency {name} echo"], r[f"latency {name} in process"], r[f"latency {name}"]
        lines += [
            f"  {f'gRPC echo round trip ({name} bytes)':<50}{us(echo):>16}",
            f"  {f'in process: {work}':<50}{us(local):>16}",
            f"  {f'{name}, defaults':<50}{us(served):>16}  p50 = "
            f"{served.p(50) / (echo.p(50) + local.p(50)):.2f} x (echo + in process)",
        ]
    sections = (
        (f"throughput, {args.clients} clients, CPU per call", ("Predict", "ModelInfer", "PredictSeries"), "calls/s"),
        (f"streaming, {args.streams} streams, CPU per bar", ("StreamSignals",), "bars/s"),
    )
    for title, names, rate in sections:
        lines += ["", f"{title:<44}{rate:>9}{'x echo':>8}{'p50 ms':>8}{'p99 ms':>8}{'CPU ms':>8}"]
        for name in names:
            echo = r[f"{name} echo"]
            for label in ("echo", "asyncio echo", "defaults", "tuned"):
                s = r.get(f"{name} {label}")
                if s is None:
                    continue
                what = f"gRPC {label} ({name} bytes)" if label.endswith("echo") else f"{name}, {label}"
                latency = f"{s.p(50) * 1e3:8.1f}{s.p(99) * 1e3:8.1f}" if len(s.latencies) else f"{'':16}"
                lines.append(f"  {what:<42}{s.rate:9,.0f}{s.rate / echo.rate:8.2f}{latency}{s.cpu * 1e3:8.3f}")
    echo, served = r["ModelInfer echo"], r["ModelInfer defaults"]
    lines += [
        "",
        f"load generators: {echo.client_cpu * 1e3:.3f} ms CPU per echo call, {served.client_cpu * 1e3:.3f} "
        "per ModelInfer call (where every core is busy, calls/s ~ cores / (their CPU + the server's))",
        f"one stream, defaults: {r['one stream'].rate:,.0f} bars/s answered, "
        f"{r['one stream'].cpu * 1e3:.3f} ms CPU per bar",
        f"in process, onnxruntime on one thread: {figures['cpu per window, batch 1'] * 1e3:.3f} ms CPU per "
        f"window at batch 1, {figures['cpu per window, batch 64'] * 1e3:.3f} at batch 64",
        f"tuned: {args.tuned}",
    ]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, help="ONNX model exported by signalstack train (default: cached LSTM)")
    parser.add_argument("--calls", type=int, default=1500, help="sequential calls per latency measurement")
    parser.add_argument(
        "--seconds", type=float, default=6.0, help="measured seconds per server and method, split over the rounds"
    )
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of every measurement")
    parser.add_argument("--clients", type=int, default=32, help="concurrent unary clients")
    parser.add_argument("--series-bars", type=int, default=600, help="bars per PredictSeries call")
    parser.add_argument("--streams", type=int, default=64, help="concurrent streams")
    parser.add_argument(
        "--stream-bars",
        type=int,
        default=1000,
        help="answered bars of the one stream (a tenth each when streams run concurrently)",
    )
    parser.add_argument(
        "--tuned", default=TUNED, help=f"ServeOptions fields of the tuned server, as JSON (default {TUNED})"
    )
    args = parser.parse_args(argv)
    started = time.monotonic()
    stats, figures, described = run(args)
    print()
    print(described)
    print("\n".join(_rows(stats, figures, args)))
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    print(f"\n{os.cpu_count()} CPUs, load average {load[0]:.1f} at the end, {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
