"""`signalstack serve`: a model repository over gRPC, both protocols on one port."""

from __future__ import annotations

import argparse
import logging
import socket
from pathlib import Path

from signalstack.server.options import BatchPolicy, ServeOptions, address
from signalstack.transport.security import TlsFiles

from .common import key_value
from .flags import add_flags, settings_from

FIELDS = ServeOptions.model_fields
MAX_MESSAGE_MB: int = FIELDS["max_message_bytes"].default >> 20


def add(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve",
        help="serve a model repository over gRPC",
        description="Loads DIR/<model>/<version>/model.onnx (and DIR/<name>.onnx as version 1) "
        "into onnxruntime (CUDA when it works, else CPU), serves signalstack.v1.SignalService and "
        "inference.GRPCInferenceService on one port with health checking and reflection, watches "
        "the folder for new or removed versions, and drains in-flight calls on SIGTERM or Ctrl-C. "
        "Worker processes and batching instances follow from the machine unless set: one process "
        "per core (one on a GPU), one batching instance per core of a process.",
    )
    p.add_argument("--models", required=True, type=Path, metavar="DIR", help=FIELDS["models_dir"].description)
    p.add_argument("--port", required=True, type=int, help=FIELDS["port"].description)
    add_flags(
        p, ServeOptions, only=("host", "device", "call_threads", "stream_threads", "workers", "grace", "watch_interval")
    )
    add_flags(p, BatchPolicy, only=("max_batch_size", "max_delay_us"))
    p.add_argument(
        "--model-batching",
        action="append",
        default=[],
        dest="per_model",
        metavar="NAME=SIZE[:DELAY_US[:INSTANCES]]",
        help="per-model batching override; repeatable",
    )
    add_flags(p, ServeOptions, only=("intra_op_threads",))
    p.add_argument(
        "--max-message-mb",
        type=int,
        default=MAX_MESSAGE_MB,
        help=f"largest request or response in MiB (default {MAX_MESSAGE_MB})",
    )
    p.add_argument("--tls-cert", type=Path, metavar="PEM", help="server certificate chain: serve over TLS")
    p.add_argument("--tls-key", type=Path, metavar="PEM", help="server private key, with --tls-cert")
    p.add_argument("--tls-client-ca", type=Path, metavar="PEM", help="require client certificates signed by this CA")
    add_flags(p, ServeOptions, only=("token_file", "metrics_port", "metrics_host"))
    p.add_argument(
        "--log-format", choices=("text", "json"), default="text", help="log lines as text or JSON (default text)"
    )
    p.set_defaults(run=run)


def options(args: argparse.Namespace) -> ServeOptions:
    """The serve flags as `ServeOptions`; a bad or inconsistent one is a SettingsError naming it."""
    overrides = dict(key_value(text, "--model-batching") for text in args.per_model)
    return settings_from(
        ServeOptions,
        args,
        {
            "models_dir": args.models,
            "batching": settings_from(BatchPolicy, args),
            "model_batching": {name: BatchPolicy.parse(text) for name, text in overrides.items()},
            "tls": TlsFiles.from_flags(args.tls_cert, args.tls_key, args.tls_client_ca),
            "max_message_bytes": args.max_message_mb << 20,
        },
    )


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
                raise OSError(
                    f"cannot listen on {address(host, port)} ({exc.strerror}; expected a free {flag} on "
                    "a local address)"
                ) from None
