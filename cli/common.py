"""What the subcommands share: KEY=VALUE flags, errors as one line, the exit status of an interrupted command."""

from __future__ import annotations

from typing import Any

INTERRUPTED = 130
"""The exit status of a command stopped by SIGINT or SIGTERM (128 + SIGINT, as a shell reports Ctrl-C)."""


def key_value(pair: str, flag: str) -> tuple[str, str]:
    """KEY and VALUE of a KEY=VALUE flag, or a ValueError naming the flag."""
    key, sep, value = pair.partition("=")
    if not sep or not key:
        raise ValueError(f"{flag} {pair!r}: expected KEY=VALUE")
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


def describe(exc: BaseException) -> str:
    """One line for a failure: a gRPC error's status and the server's message, else the error's own text
    (its lines joined; the error's type when it has no text)."""
    details = getattr(exc, "details", None)
    if callable(details):  # a grpc.RpcError
        text = f"{exc.code().name}: {details()}"  # type: ignore[attr-defined]
    else:
        text = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
    return " ".join(text.split()) or type(exc).__name__
