"""What the subcommands share: KEY=VALUE flags, errors as one line, the exit status of an interrupted command."""

from __future__ import annotations

import sys
from typing import Any

from signalstack.core.errors import SettingsError, SignalstackError

INTERRUPTED = 130
"""The exit status of a command stopped by SIGINT or SIGTERM (128 + SIGINT, as a shell reports Ctrl-C)."""


def key_value(pair: str, flag: str) -> tuple[str, str]:
    """KEY and VALUE of a KEY=VALUE flag, or a ValueError naming the flag."""
    key, sep, value = pair.partition("=")
    if not sep or not key:
        raise SettingsError(f"{flag} {pair!r}: expected KEY=VALUE")
    return key, value


def parse_params(pairs: list[str]) -> dict[str, Any]:
    """KEY=VALUE strings to typed values: ints, floats, comma lists (as tuples), true/false, text."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, raw = key_value(pair, "--param")
        items = [_scalar(v) for v in raw.split(",")]
        out[key] = tuple(items) if "," in raw else items[0]
    return out


def _scalar(text: str) -> Any:
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def user_error(exc: BaseException) -> str | None:
    """The one line for a failure the user can fix, or None for a bug.

    signalstack's own errors, and the third-party failures the CLI meets that are a user's mistake in
    disguise: the system refusing a file, a port or a connection the user named (`OSError`, as
    "bars.csv: Permission denied"), and a gRPC server's refusal (`grpc.RpcError`, its status and message).
    """
    grpc = sys.modules.get("grpc")  # a gRPC error can only come from a command that imported grpc
    if isinstance(exc, SignalstackError) or (grpc is not None and isinstance(exc, grpc.RpcError)):
        return describe(exc)
    if isinstance(exc, OSError):
        named = " -> ".join(str(name) for name in (exc.filename, exc.filename2) if name is not None)
        return f"{named}: {exc.strerror}" if named and exc.strerror else describe(exc)
    return None


def describe(exc: BaseException) -> str:
    """One line for a failure: a gRPC error's status and the server's message, else the error's own text
    (its lines joined; the error's type when it has no text)."""
    details = getattr(exc, "details", None)
    if callable(details):  # a grpc.RpcError
        # Its code() and details() come from grpc.Call, which the exception type BaseException does not declare;
        # cli/ stays unchecked by mypy so far, and grpc is not imported here to narrow it.
        text = f"{exc.code().name}: {details()}"  # type: ignore[attr-defined]
    else:
        text = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
    return " ".join(text.split()) or type(exc).__name__
