"""How a server runs: the serving settings, declared once, and what the machine decides when they are left out.

`ServeOptions` is a frozen `Settings` model: the `serve` command's flags and their help are made from its
fields, `serve()` and `SignalServer` take one, tests make one, worker processes get a pickled copy.
Worker processes and batching instances left unset (None) follow from the machine, in `resolved`:

- `workers`: one process per core the server may use (SO_REUSEPORT shares the port among them), since one
  Python process answers with about one core; one process where models run on a GPU (each process would hold
  its own CUDA context and copy of every model), where the platform has no SO_REUSEPORT, or on port 0.
- `instances` of a batching policy: one onnxruntime run of a model at a time per core of a process (cores /
  workers), so a process alone on several cores keeps them busy while one run waits for company.

Importing this module loads no gRPC and no onnxruntime, so `signalstack --help` stays quick.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from signalstack.core.errors import SettingsError
from signalstack.core.settings import Settings, parse
from signalstack.transport.channel import MAX_MESSAGE_BYTES
from signalstack.transport.security import TlsFiles


class _Positional(Settings):
    """Settings whose leading fields may also be given by position, as the dataclasses they replaced were."""

    def __init__(self, *args: Any, **data: Any) -> None:
        names = list(type(self).model_fields)
        if len(args) > len(names):
            raise TypeError(f"{type(self).__name__} takes at most {len(names)} positional values, got {len(args)}")
        super().__init__(**dict(zip(names, args)), **data)


class BatchPolicy(_Positional):
    """How one model's calls are grouped; `max_batch_size` 1 turns batching off (calls run side by side).

    A request holding more windows than `max_batch_size` runs alone, never split.
    """

    max_batch_size: int = Field(64, ge=1)
    """Dynamic batching: windows per onnxruntime run (1: off)."""
    max_delay_us: int = Field(0, ge=0)
    """Dynamic batching: microseconds a batch may wait for company, throughput for latency."""
    instances: int | None = Field(None, ge=1)
    """onnxruntime runs of a model under way at once (default: one per core of a serving process)."""

    @classmethod
    def parse(cls, text: str) -> BatchPolicy:
        """'SIZE[:DELAY_US[:INSTANCES]]', e.g. '64:500' or '64:0:1', as a flag gives it."""
        parts = text.split(":")
        if not 1 <= len(parts) <= 3 or not all(p.strip().removeprefix("-").isdigit() for p in parts):
            raise SettingsError(
                f"batching {text!r}: {len(parts)} fields, expected integers "
                "MAX_BATCH_SIZE[:MAX_DELAY_US[:INSTANCES]], e.g. 64:500"
            )
        return parse(cls, dict(zip(cls.model_fields, map(int, parts))), source=f"batching {text!r}")

    def for_cores(self, cores: int) -> BatchPolicy:
        """This policy with `instances`, where left to the machine, one per core of a process that has `cores`."""
        return self if self.instances is not None else self.model_copy(update={"instances": max(1, cores)})


TRITON_BATCHING = BatchPolicy(max_batch_size=64, max_delay_us=100)
"""Dynamic batching written into the config.pbtxt of a Triton export: Triton batches across processes,
so a short wait for company pays off there."""


class ServeOptions(_Positional):
    """Everything a serving process needs; picklable, so worker processes get the same."""

    models_dir: Path
    """Model repository folder."""
    host: str = "127.0.0.1"
    """Address to bind."""
    port: int = Field(0, ge=0, le=65535)
    """Port to listen on (0: any free port, one process only)."""
    call_threads: int = Field(4, ge=1)
    """Threads answering unary calls and scoring streamed bars, per process (more wait their turn). That work
    holds the GIL, so more threads contend for it rather than add throughput; raise it where the model
    dominates a call (large models, a GPU), so that batches fill."""
    stream_threads: int = Field(16, ge=1)
    """Threads for streaming calls: each open stream holds one, so this bounds the streams served at once."""
    workers: int | None = Field(None, ge=1)
    """Server processes sharing the port (SO_REUSEPORT; default: one per core, one on a GPU)."""
    grace: float = Field(5.0, ge=0)
    """Seconds in-flight calls get to finish on shutdown."""
    tls: TlsFiles | None = None
    """Serve over TLS with these files."""
    token_file: Path | None = None
    """Bearer tokens, one per line; calls without one are refused (health stays open)."""
    watch_interval: float = Field(2.0, ge=0)
    """Seconds between folder rescans (0: off)."""
    batching: BatchPolicy = BatchPolicy()
    """Every model's batching, unless `model_batching` names it."""
    model_batching: dict[str, BatchPolicy] = {}
    """Batching of the models it names."""
    intra_op_threads: int = Field(1, ge=0)
    """onnxruntime threads per inference (0: onnxruntime's default)."""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """Where models run: auto (CUDA when it works here, else the CPU), cpu, or cuda (an error without a working
    CUDA)."""
    max_message_bytes: int = Field(MAX_MESSAGE_BYTES, ge=1)
    """Largest request or response."""
    metrics_port: int | None = Field(None, ge=0, le=65535)
    """Serve Prometheus metrics on this port."""
    metrics_host: str = "127.0.0.1"
    """Address the metrics are served on."""

    @model_validator(mode="after")
    def _shareable(self) -> ServeOptions:
        if self.workers is not None and self.workers > 1 and self.port == 0:
            raise ValueError("port 0 with several workers: expected a fixed port for the workers to share")
        return self

    def resolved(self) -> ServeOptions:
        """These options with what was left to the machine decided (see the module's docstring); idempotent."""
        workers = self.workers or (cores() if self.port and _reuse_port_works() and not _on_gpu(self.device) else 1)
        per_process = max(1, cores() // workers)
        return self.model_copy(
            update={
                "workers": workers,
                "batching": self.batching.for_cores(per_process),
                "model_batching": {name: p.for_cores(per_process) for name, p in self.model_batching.items()},
            }
        )

    @property
    def reuse_port(self) -> bool:
        """Whether processes share the port: only several workers may (else a second server would bind it silently)."""
        return (self.workers or 1) > 1

    @property
    def address(self) -> str:
        """host:port, with an IPv6 host in brackets as gRPC expects."""
        return address(self.host, self.port)


def address(host: str, port: int) -> str:
    """host:port, with an IPv6 host in brackets as gRPC expects."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def cores() -> int:
    """CPUs this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _reuse_port_works() -> bool:
    return hasattr(socket, "SO_REUSEPORT")


def _on_gpu(device: str) -> bool:
    """Whether models would run on a GPU here: asked for, or auto with onnxruntime's CUDA build and a GPU visible."""
    if device != "auto":
        return device == "cuda"
    if os.environ.get("CUDA_VISIBLE_DEVICES", "0").strip() in ("", "-1"):
        return False
    import onnxruntime

    return "CUDAExecutionProvider" in onnxruntime.get_available_providers() and any(Path("/dev").glob("nvidia[0-9]*"))
