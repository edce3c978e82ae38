"""`signalstack serve`: a model repository over gRPC, both protocols on one port."""

from __future__ import annotations

import argparse
import logging
import socket
from pathlib import Path

from signalstack.server.options import BatchPolicy, ServeOptions, address, default
from signalstack.transport.security import TlsFiles

from .common import key_value

BATCHING = BatchPolicy()
MAX_MESSAGE_MB: int = default("max_message_bytes") >> 20  # type: ignore[operator]


def add(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="serve a model repository over gRPC",
                       description="Loads DIR/<model>/<version>/model.onnx (and DIR/<name>.onnx as version 1) "
                       "into onnxruntime (CUDA when it works, else CPU), serves signalstack.v1.SignalService and "
                       "inference.GRPCInferenceService on one port with health checking and reflection, watches "
                       "the folder for new or removed versions, and drains in-flight calls on SIGTERM or Ctrl-C.")
    p.add_argument("--models", required=True, type=Path, metavar="DIR", help="model repository folder")
    p.add_argument("--port", required=True, type=int, help="port to listen on")
    p.add_argument("--host", default=default("host"), help=f"address to bind (default {default('host')})")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default=default("device"),
                   help="where models run: auto (CUDA when it works here, else CPU), cpu, or cuda (an error "
                   "without a working CUDA)")
    p.add_argument("--call-threads", type=int, default=default("call_threads"),
                   help="threads answering unary calls and scoring streamed bars (more wait their turn; raise it "
                   f"for large models or a GPU, so that batches fill; default {default('call_threads')})")
    p.add_argument("--stream-threads", type=int, default=default("stream_threads"),
                   help=f"threads for streaming calls: each open stream holds one (default {default('stream_threads')})")
    p.add_argument("--workers", type=int, default=default("workers"),
                   help=f"server processes sharing the port (SO_REUSEPORT; default {default('workers')})")
    p.add_argument("--grace", type=float, default=default("grace"),
                   help=f"seconds in-flight calls get to finish on shutdown (default {default('grace'):g})")
    p.add_argument("--watch-interval", type=float, default=default("watch_interval"),
                   help=f"seconds between folder rescans (0: off; default {default('watch_interval'):g})")
    p.add_argument("--max-batch-size", type=int, default=BATCHING.max_batch_size,
                   help=f"dynamic batching: windows per run (1: off; default {BATCHING.max_batch_size})")
    p.add_argument("--max-delay-us", type=int, default=BATCHING.max_delay_us,
                   help=f"dynamic batching: wait for company, microseconds (default {BATCHING.max_delay_us})")
    p.add_argument("--model-batching", action="append", default=[], metavar="NAME=SIZE[:DELAY_US[:INSTANCES]]",
                   help="per-model batching override; repeatable")
    p.add_argument("--intra-op-threads", type=int, default=default("intra_op_threads"),
                   help=f"onnxruntime threads per inference (default {default('intra_op_threads')})")
    p.add_argument("--max-message-mb", type=int, default=MAX_MESSAGE_MB,
                   help=f"largest request or response in MiB (default {MAX_MESSAGE_MB})")
    p.add_argument("--tls-cert", type=Path, metavar="PEM", help="server certificate chain: serve over TLS")
    p.add_argument("--tls-key", type=Path, metavar="PEM", help="server private key, with --tls-cert")
    p.add_argument("--tls-client-ca", type=Path, metavar="PEM", help="require client certificates signed by this CA")
    p.add_argument("--token-file", type=Path, help="bearer tokens, one per line; calls without one are refused "
                   "(health stays open)")
    p.add_argument("--metrics-port", type=int, help="serve Prometheus metrics on this port")
    p.add_argument("--metrics-host", default=default("metrics_host"),
                   help=f"address for --metrics-port (default {default('metrics_host')})")
    p.add_argument("--log-format", choices=("text", "json"), default="text",
                   help="log lines as text or JSON (default text)")
    p.set_defaults(run=run)


def options(args: argparse.Namespace) -> ServeOptions:
    """The serve flags as `ServeOptions`; inconsistent ones are a ValueError naming them."""
    overrides = dict(key_value(text, "--model-batching") for text in args.model_batching)
    return ServeOptions(
        args.models, args.host, args.port, call_threads=args.call_threads, stream_threads=args.stream_threads,
        workers=args.workers, grace=args.grace, tls=TlsFiles.from_flags(args.tls_cert, args.tls_key,
                                                                        args.tls_client_ca),
        token_file=args.token_file, watch_interval=args.watch_interval,
        batching=BatchPolicy(args.max_batch_size, args.max_delay_us),
        model_batching={name: BatchPolicy.parse(text) for name, text in overrides.items()},
        intra_op_threads=args.intra_op_threads, device=args.device, max_message_bytes=args.max_message_mb << 20,
        metrics_port=args.metrics_port, metrics_host=args.metrics_host)


def run(args: argparse.Namespace) -> None:
    from signalstack.server.main import serve

    if args.log_format == "json":
        from signalstack.server.logs import JsonFormatter

        for handler in logging.getLogger().handlers:
            handler.setFormatter(JsonFormatter())
    settings = options(args)
    check_port(settings.host, settings.port, "--port")
    if settings.metrics_port is not None:
        check_port(settings.metrics_host, settings.metrics_port, "--metrics-port")
    serve(settings)


def check_port(host: str, port: int, flag: str) -> None:
    """Refuse a port something already listens on before any model loads, in one line naming the address."""
    if port == 0:
        return
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise OSError(f"cannot listen on {address(host, port)} ({exc.strerror}; expected a local address)") from None
    for family, kind, proto, _, where in found:
        with socket.socket(family, kind, proto) as probe:
            # As the server does: a port whose last connections are in TIME_WAIT is free.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(where)
            except OSError as exc:
                raise OSError(f"cannot listen on {address(host, port)} ({exc.strerror}; expected a free {flag} on "
                              "a local address)") from None
