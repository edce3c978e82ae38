"""Who may call a gRPC server: TLS (optionally verifying client certificates) and bearer tokens.

`signalstack serve` and a paper run's BarFeed endpoints are guarded by this same code. Tokens are
checked by a server interceptor, before any handler runs: a call must carry metadata
``authorization: Bearer <token>`` matching one line of the token file. Comparison is constant
time, and tokens never reach a log line. Health checking stays open so load balancers and
orchestrators can probe without a secret.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import grpc

from signalstack.core.errors import SettingsError

from .security import TlsFiles

log = logging.getLogger(__name__)

OPEN_SERVICES = ("/grpc.health.v1.Health/",)
"""Method prefixes callable without a token."""

_SCHEME = "bearer "


def server_credentials(tls: TlsFiles) -> grpc.ServerCredentials:
    """Server credentials from the files, read now; errors name the file."""
    chain, key = _read(tls.cert, "certificate"), _read(tls.key, "private key")
    ca = _read(tls.client_ca, "client CA certificate") if tls.client_ca else None
    return grpc.ssl_server_credentials([(key, chain)], root_certificates=ca, require_client_auth=ca is not None)


def _read(path: Path, what: str) -> bytes:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise OSError(f"{path}: cannot read the TLS {what} ({exc.strerror})") from None
    if b"-----BEGIN " not in data:
        raise SettingsError(f"{path}: not a PEM file (expected the TLS {what}, starting with -----BEGIN)")
    return data


def read_tokens(path: Path) -> list[str]:
    """The tokens of a token file: one per line, blank lines and '#' comments ignored."""
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as exc:
        raise OSError(f"{path}: cannot read the token file ({exc.strerror})") from None
    tokens = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    if not tokens:
        raise SettingsError(f"{path}: no token (expected one token per line)")
    short = [i for i, token in enumerate(tokens, 1) if len(token) < 16 or any(c.isspace() for c in token)]
    if short:
        raise SettingsError(
            f"{path}: the token on non-blank line {short[0]} is shorter than 16 characters or holds "
            "spaces (expected long random tokens, e.g. from `openssl rand -hex 32`)"
        )
    return tokens


class TokenAuth(grpc.ServerInterceptor):
    """Refuses calls without a valid bearer token with UNAUTHENTICATED, except to `OPEN_SERVICES`."""

    def __init__(self, tokens: Sequence[str]) -> None:
        if not tokens:
            raise ValueError("no tokens: expected at least one")
        self._tokens = [token.encode() for token in tokens]

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        method = details.method
        if method.startswith(OPEN_SERVICES):
            return continuation(details)
        problem = self._problem(details.invocation_metadata)
        handler = continuation(details)
        if problem is None or handler is None:  # unknown methods get UNIMPLEMENTED, as without auth
            return handler
        return _refusal(handler, method, problem)

    def _problem(self, metadata: Sequence[tuple[str, str | bytes]] | None) -> str | None:
        """Why the call's credentials are refused, or None when they are valid."""
        values = [value for key, value in metadata or () if key == "authorization"]
        if not values:
            return "missing bearer token (expected metadata 'authorization: Bearer <token>')"
        value = values[0] if isinstance(values[0], str) else values[0].decode("latin-1")
        if len(values) > 1 or not value[: len(_SCHEME)].lower() == _SCHEME:
            return "malformed authorization metadata (expected one 'authorization: Bearer <token>')"
        offered = value[len(_SCHEME) :].strip().encode("utf-8", "surrogateescape")
        # Compare with every token, never stopping early, so timing says nothing about which matched.
        matches = [hmac.compare_digest(offered, token) for token in self._tokens]
        return None if any(matches) else "invalid bearer token"


def _refusal(handler: grpc.RpcMethodHandler, method: str, problem: str) -> grpc.RpcMethodHandler:
    """A handler of the same shape as `handler` that aborts with UNAUTHENTICATED."""

    def abort(request: Any, context: grpc.ServicerContext) -> Any:
        log.warning("refused %s from %s: %s", method, context.peer(), problem)
        context.abort(grpc.StatusCode.UNAUTHENTICATED, problem)

    return method_handler(handler, abort)  # no deserializer: an unauthenticated payload is never parsed


def method_handler(
    like: grpc.RpcMethodHandler, behaviour: Callable[..., Any], **serializers: Any
) -> grpc.RpcMethodHandler:
    """A handler of the same streaming shape as `like` that runs `behaviour`."""
    make = {
        (False, False): grpc.unary_unary_rpc_method_handler,
        (False, True): grpc.unary_stream_rpc_method_handler,
        (True, False): grpc.stream_unary_rpc_method_handler,
        (True, True): grpc.stream_stream_rpc_method_handler,
    }
    return make[(like.request_streaming, like.response_streaming)](behaviour, **serializers)
