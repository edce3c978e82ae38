"""How a server runs: one dataclass of every serving option, with the defaults written once.

The CLI builds its flags' defaults from `ServeOptions`' fields, `serve()` and `SignalServer` take
one, and tests make one; worker processes get a pickled copy. Importing this module loads no
gRPC and no onnxruntime, so `signalstack --help` stays quick.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from signalstack.transport.channel import MAX_MESSAGE_BYTES
from signalstack.transport.security import TlsFiles

CALL_THREADS = 4
"""Threads that answer unary calls and score streams' bars. That work in Python (decoding, features,
replies) holds the GIL, so more threads contend for it rather than add throughput: with 32
concurrent Predict clients, 4 threads answered 25% more calls/s than 128, at a p99 of 43 ms instead
of 72-75 ms, and 64 streams got 40% more bars/s scored here than on their own threads
(bench/serve.py). Raise it where the model dominates a call (large models, a GPU), so that batches
can fill."""

STREAM_THREADS = 16
"""Threads for streaming calls: each open stream holds one, so this bounds the streams served at once."""

@dataclass(frozen=True)
class BatchPolicy:
    """How one model's calls are grouped; `max_batch_size` 1 turns batching off (calls run side by side).

    A request holding more windows than `max_batch_size` runs alone, never split. `max_delay_us`
    lets a batch wait that long for company. `instances`: onnxruntime runs of the model that may
    be under way at once.
    """

    max_batch_size: int = 64
    max_delay_us: int = 0
    instances: int = 2

    def __post_init__(self) -> None:
        if self.max_batch_size < 1:
            raise ValueError(f"max_batch_size {self.max_batch_size}: expected >= 1 (1 turns batching off)")
        if self.max_delay_us < 0:
            raise ValueError(f"max_delay_us {self.max_delay_us}: expected >= 0")
        if self.instances < 1:
            raise ValueError(f"instances {self.instances}: expected >= 1")

    @classmethod
    def parse(cls, text: str) -> BatchPolicy:
        """'SIZE[:DELAY_US[:INSTANCES]]', e.g. '64:500' or '64:0:1', as a flag gives it."""
        parts = text.split(":")
        try:
            if not 1 <= len(parts) <= 3:
                raise ValueError(f"{len(parts)} fields")
            return cls(*(int(p) for p in parts))
        except ValueError as exc:
            raise ValueError(f"batching {text!r}: {exc} (expected MAX_BATCH_SIZE[:MAX_DELAY_US[:INSTANCES]], "
                             "e.g. 64:500)") from None


TRITON_BATCHING = BatchPolicy(64, 100)
"""Dynamic batching written into the config.pbtxt of a Triton export: Triton batches across processes,
so a short wait for company pays off there."""


@dataclass(frozen=True)
class ServeOptions:
    """Everything a serving process needs; picklable, so worker processes get the same.

    `port` 0 binds any free port (one process only). `watch_interval` seconds between rescans of
    the folder (0: never). `batching` is every model's batching unless `model_batching` names it.
    `workers` > 1 runs that many processes sharing the port (SO_REUSEPORT). `device`: where
    models run (auto: CUDA when it works here). `metrics_port`: serve Prometheus metrics there.
    """

    models_dir: Path
    host: str = "127.0.0.1"
    port: int = 0
    call_threads: int = CALL_THREADS
    stream_threads: int = STREAM_THREADS
    workers: int = 1
    grace: float = 5.0
    tls: TlsFiles | None = None
    token_file: Path | None = None
    watch_interval: float = 2.0
    batching: BatchPolicy = BatchPolicy()
    model_batching: Mapping[str, BatchPolicy] = field(default_factory=dict)
    intra_op_threads: int = 1
    device: str = "auto"
    max_message_bytes: int = MAX_MESSAGE_BYTES
    metrics_port: int | None = None
    metrics_host: str = "127.0.0.1"

    def __post_init__(self) -> None:
        if self.call_threads < 1 or self.stream_threads < 1:
            raise ValueError(f"call_threads {self.call_threads}, stream_threads {self.stream_threads}: "
                             "expected >= 1 each")
        if self.workers < 1:
            raise ValueError(f"workers {self.workers}: expected >= 1")
        if self.workers > 1 and self.port == 0:
            raise ValueError("port 0 with several workers: expected a fixed port for the workers to share")
        if self.watch_interval < 0:
            raise ValueError(f"watch_interval {self.watch_interval}: expected seconds >= 0 (0: never rescan)")

    @property
    def reuse_port(self) -> bool:
        """Whether processes share the port: only several workers may (else a second server would bind it silently)."""
        return self.workers > 1

    @property
    def address(self) -> str:
        """host:port, with an IPv6 host in brackets as gRPC expects."""
        return address(self.host, self.port)


def address(host: str, port: int) -> str:
    """host:port, with an IPv6 host in brackets as gRPC expects."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def default(name: str) -> object:
    """The default of `ServeOptions` field `name`: the one place the CLI reads its serve flags' defaults from."""
    spec = ServeOptions.__dataclass_fields__[name]
    return spec.default_factory() if callable(spec.default_factory) else spec.default
