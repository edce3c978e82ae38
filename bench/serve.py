"""Benchmark of the signal server: latency against its floor, batching throughput, streaming.

    python bench/serve.py                      # about 2 minutes on 2 cores
    python bench/serve.py --model m.onnx --seconds 12 --workers 4

Every figure comes from the same run, so ratios compare like with like:

- latency: sequential one-window calls, p50/p99, against the floor they cannot beat: a gRPC echo
  round trip of the same request bytes (same server options, same thread pool) plus the same work
  done in process (`predict_windows` for Predict: features and model; `predict` for
  ModelInfer: the model alone);
- throughput: 32 concurrent one-window clients, batching off (max batch 1) and on, one process and
  `--workers`, in windows/s with p99, against batched onnxruntime in process; beside them the echo
  server under the same load, the most calls/s one Python gRPC process answers doing no work;
- streaming: StreamSignals predicted bars/s for one stream and for 64 concurrent streams.

All servers run at once, each in its own process, and the measurements interleave in `--rounds`
rounds, so a change in background load hits every side of a comparison alike. Load generators
are separate processes too (clients send pre-serialised bytes, each on its own connection), so
client and server never share an interpreter lock; on a small machine they still share the cores.
Without --model, a window-60 LSTM is trained once (1 epoch) and cached under
~/.cache/signalstack/bench. The CUDA provider is used automatically when onnxruntime has it and it
works.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent import futures
from contextlib import ExitStack
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

import grpc
import numpy as np

PREDICT = "/signalstack.v1.SignalService/Predict"
INFER = "/inference.GRPCInferenceService/ModelInfer"
STREAM = "/signalstack.v1.SignalService/StreamSignals"
ECHO = "/bench.Echo/Echo"
CACHE = Path.home() / ".cache" / "signalstack" / "bench" / "lstm60.onnx"
CLIENT_PROCESSES = 2
STREAM_THREADS = 128  # >= concurrent streams: each open stream holds a server thread; unary calls use the default
START_DELAY = 0.3  # seconds for every client of a phase to connect before it starts
WARM_UP = 0.5
CHANNEL = [("grpc.use_local_subchannel_pool", 1),  # a connection per client, so --workers share the load
           ("grpc.max_receive_message_length", 64 << 20), ("grpc.max_send_message_length", 64 << 20)]


@dataclass(frozen=True)
class Stats:
    """Latencies of one phase (seconds) and its rate (calls or bars per second)."""

    latencies: np.ndarray
    rate: float = 0.0

    def p(self, q: float) -> float:
        return float(np.percentile(self.latencies, q)) if len(self.latencies) else float("nan")


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


def _batched_limit(predict: Callable[[np.ndarray], object], x: np.ndarray, seconds: float) -> float:
    """Windows per second of in-process onnxruntime on batches of 64."""
    batch = np.repeat(x, 64, axis=0)
    predict(batch)
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        predict(batch)
        done += len(batch)
    return done / (time.perf_counter() - start)


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
            call(payload, timeout=30)
            if now >= begin:
                latencies.append(time.perf_counter() - t0)
        return latencies


def _stream_client(target: str, events: list[bytes], ready_after: int, start_at: float) -> tuple[float, float, int]:
    """Stream `events` as fast as the server answers; (first, last) wall time of answers past ready_after."""
    with grpc.insecure_channel(target, options=CHANNEL) as channel:
        time.sleep(max(0.0, start_at - time.time()))
        first = last = 0.0
        for i, _ in enumerate(channel.stream_stream(STREAM)(iter(events), timeout=600)):
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


def _throughput(clients: Clients, target: str, method: str, payload: bytes, n: int, seconds: float) -> Stats:
    results = clients.run("unary", (target, method, payload, time.time() + START_DELAY, seconds), n)
    latencies = np.concatenate([np.asarray(r) for r in results])
    return Stats(latencies, len(latencies) / seconds)


def _latency(target: str, method: str, payload: bytes, calls: int) -> Stats:
    with grpc.insecure_channel(target, options=CHANNEL) as channel:
        call = channel.unary_unary(method)
        return _timed(lambda: call(payload, timeout=30), calls)


def _streams(clients: Clients, target: str, events: list[bytes], ready_after: int, streams: int) -> Stats:
    """Predicted bars per second over all streams (per stream for one)."""
    results = clients.run("stream", (target, events, ready_after, time.time() + START_DELAY), streams)
    first, last = min(r[0] for r in results), max(r[1] for r in results)
    return Stats(np.array([]), sum(r[2] for r in results) / (last - first))


def _merge(rounds: list[Stats]) -> Stats:
    """All latencies of several rounds, at the median rate of the rounds."""
    return Stats(np.concatenate([r.latencies for r in rounds]), float(np.median([r.rate for r in rounds])))


# Servers, in child processes ---------------------------------------------------------------------

def _echo_server(port: int) -> None:
    """A gRPC server answering ECHO with the request bytes: the transport cost without any work, on
    as many threads as a signalstack server gives unary calls."""
    from signalstack.server.options import CALL_THREADS

    handler = grpc.method_handlers_generic_handler("bench.Echo", {
        "Echo": grpc.unary_unary_rpc_method_handler(lambda request, context: request)})
    server = grpc.server(futures.ThreadPoolExecutor(CALL_THREADS), handlers=[handler],
                         options=[("grpc.so_reuseport", 0), *CHANNEL[1:]])
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    server.stop(None)


def _start(stack: ExitStack, code: str, port: int) -> str:
    """Run `code` in a child Python until `stack` closes (then SIGTERM); the target it will answer on."""
    process = subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.DEVNULL)

    def stop() -> None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()

    stack.callback(stop)
    return f"127.0.0.1:{port}"


def _wait_ready(targets: list[str]) -> None:
    """Return once every target accepts connections."""
    for target in targets:
        with grpc.insecure_channel(target) as channel:
            grpc.channel_ready_future(channel).result(timeout=300)
    time.sleep(1.0)  # let every worker of a multi-process server bind


def _serve_code(models: Path, port: int, max_batch_size: int, **options: object) -> str:
    return ("import json\nfrom pathlib import Path\nfrom signalstack.server.main import serve\n"
            "from signalstack.server.options import BatchPolicy, ServeOptions\n"
            f"serve(ServeOptions(Path({str(models)!r}), '127.0.0.1', {port}, batching=BatchPolicy({max_batch_size}), "
            f"**json.loads({json.dumps(options)!r})))\n")


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


def run(args: argparse.Namespace) -> list[tuple[str, str, str]]:
    """Every measurement, as (section/measure, value, comparison) rows."""
    from signalstack.core.bars import COLUMNS, load_bars
    from signalstack.core.model import OnnxModel
    from signalstack.protos.inference import grpc_predict_v2_pb2 as oip
    from signalstack.protos.signalstack.v1 import signals_pb2 as pb

    path = _model(args.model)
    local = OnnxModel(path, threads=1)
    bars = load_bars("sample:sp500")
    window = bars.iloc[-local.bars_required:]
    x = local.featurizer.window(window)[np.newaxis].astype(np.float32)
    predict = pb.PredictRequest(model="bench", windows=[pb.Bars(**{c: window[c].tolist() for c in COLUMNS})])
    infer = oip.ModelInferRequest(model_name="bench", raw_input_contents=[x.tobytes()], inputs=[
        oip.ModelInferRequest.InferInputTensor(name=local.bars_input.name, datatype="FP32", shape=x.shape)])
    payloads = {"Predict": predict.SerializeToString(), "ModelInfer": infer.SerializeToString()}
    methods = {"Predict": PREDICT, "ModelInfer": INFER}
    in_process = {"Predict": lambda: local.predict_windows([window]),
                  "ModelInfer": lambda: local.predict({local.bars_input.name: x})}
    stream_bars = bars.iloc[-(local.bars_required + args.stream_bars):]
    events = [pb.BarEvent(model="bench", symbol="SPY", open=r.open, high=r.high, low=r.low, close=r.close,
                          volume=r.volume).SerializeToString() for r in stream_bars.itertuples()]
    short = events[:local.bars_required + args.stream_bars // 10]
    print(f"model {path.name}: window {local.window} x {local.bars_input.shape[-1]} features, "
          f"{local.bars_required} bars per window, {local.provider}", flush=True)

    base = {"stream_threads": STREAM_THREADS, "watch_interval": 0}
    setups = {"on": {**base, "max_batch_size": args.batch}, "off": {**base, "max_batch_size": 1}}
    if args.workers > 1:
        setups[f"on, {args.workers} workers"] = {**setups["on"], "workers": args.workers}
    laps: dict[str, list[Stats]] = {}
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        models = Path(tmp)
        (models / "bench" / "1").mkdir(parents=True)
        (models / "bench" / "1" / "model.onnx").write_bytes(path.read_bytes())
        clients = Clients()
        stack.callback(clients.close)
        port = _free_port()
        echo = _start(stack, f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
                             f"from serve import _echo_server\n_echo_server({port})\n", port)
        targets = {}
        for label, options in setups.items():
            port = _free_port()
            targets[label] = _start(stack, _serve_code(models, port, **options), port)
        _wait_ready([echo, *targets.values()])
        limit = _batched_limit(lambda b: local.predict({local.bars_input.name: b}), x, args.seconds)
        # Rounds interleave what is compared, so a change in background load hits every side alike.
        for lap in range(args.rounds):
            print(f"round {lap + 1} of {args.rounds} ...", flush=True)
            for name in methods:
                calls = args.calls // args.rounds
                laps.setdefault(f"echo {name}", []).append(_latency(echo, ECHO, payloads[name], calls))
                laps.setdefault(f"in process {name}", []).append(_timed(in_process[name], calls))
                laps.setdefault(f"latency {name}", []).append(_latency(targets["on"], methods[name], payloads[name],
                                                                       calls))
                laps.setdefault(f"echo load {name}", []).append(_throughput(
                    clients, echo, ECHO, payloads[name], args.clients, args.seconds / args.rounds))
                for label, target in targets.items():
                    laps.setdefault(f"{name} {label}", []).append(_throughput(
                        clients, target, methods[name], payloads[name], args.clients, args.seconds / args.rounds))
        print("streams ...", flush=True)
        laps["stream 1"] = [_streams(clients, targets["on"], events, local.bars_required - 1, 1)]
        laps["streams"] = [_streams(clients, targets["on"], short, local.bars_required - 1, args.streams)]
    return _rows({key: _merge(value) for key, value in laps.items()}, limit, args)


def _rows(r: dict[str, Stats], limit: float, args: argparse.Namespace) -> list[tuple[str, str, str]]:
    def us(s: Stats) -> str:
        return f"{s.p(50) * 1e6:,.0f} / {s.p(99) * 1e6:,.0f}"

    rows = [("latency, one window, sequential", "p50 / p99 µs", "")]
    for name, work in (("Predict", "predict_windows (features + model)"), ("ModelInfer", "predict (model)")):
        echo, local, served = r[f"echo {name}"], r[f"in process {name}"], r[f"latency {name}"]
        rows += [(f"  gRPC echo round trip ({name} bytes)", us(echo), ""),
                 (f"  in process: {work}", us(local), ""),
                 (f"  {name}", us(served),
                  f"p50 = {served.p(50) / (echo.p(50) + local.p(50)):.2f} x (echo + in process)")]
    rows += [(f"throughput, {args.clients} clients, one window per call", "windows/s (p99 ms)", ""),
             ("  in process: batched onnxruntime (64 per run)", f"{limit:,.0f}", "the limit")]
    for name in ("Predict", "ModelInfer"):
        off, echo = r[f"{name} off"].rate, r[f"echo load {name}"]
        rows.append((f"  gRPC echo of {name} bytes, one process", f"{echo.rate:,.0f} ({echo.p(99) * 1e3:.1f})",
                     f"{echo.rate / off:.2f} x batching off: the transport alone"))
        for label in [k.removeprefix(f"{name} ") for k in r if k.startswith(f"{name} ")]:
            s = r[f"{name} {label}"]
            rows.append((f"  {name}, batching {label}", f"{s.rate:,.0f} ({s.p(99) * 1e3:.1f})",
                         f"{s.rate / off:.2f} x batching off, {s.rate / limit:.1%} of the limit"))
    rows += [("streaming, StreamSignals", "predicted bars/s", ""),
             ("  one stream", f"{r['stream 1'].rate:,.0f}", ""),
             (f"  {args.streams} concurrent streams, all together", f"{r['streams'].rate:,.0f}",
              f"{r['streams'].rate / args.streams:,.1f} per stream")]
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, help="ONNX model exported by signalstack train (default: cached LSTM)")
    parser.add_argument("--calls", type=int, default=2000, help="sequential calls per latency measurement")
    parser.add_argument("--seconds", type=float, default=4.5, help="measured seconds per throughput setting, "
                        "split over the rounds")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of every measurement")
    parser.add_argument("--clients", type=int, default=32, help="concurrent one-window clients")
    parser.add_argument("--batch", type=int, default=64, help="max batch size when batching is on")
    parser.add_argument("--workers", type=int, default=2, help="server processes for the multi-process row (1: skip)")
    parser.add_argument("--streams", type=int, default=64, help="concurrent streams")
    parser.add_argument("--stream-bars", type=int, default=1000, help="predicted bars per stream (a tenth each "
                        "when streams run concurrently)")
    args = parser.parse_args(argv)
    started = time.monotonic()
    rows = run(args)
    width = max(len(r[0]) for r in rows), max(len(r[1]) for r in rows)
    print()
    for measure, value, comparison in rows:
        print(f"{measure:<{width[0]}}  {value:>{width[1]}}  {comparison}")
    print(f"\n{os.cpu_count()} CPUs, {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
