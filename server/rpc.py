"""What every RPC handler shares, whatever its protocol: errors to status codes, metrics, log lines.

Handlers raise the library's errors; `unary` and `streaming` turn them into gRPC statuses carrying
the error's message (NOT_FOUND, INVALID_ARGUMENT, RESOURCE_EXHAUSTED, or INTERNAL with the
traceback logged) and count every call by method, model, version and code. A handler stores the
model it resolved in its `Call`, so metrics name the model only once it is known to be loaded.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent import futures
from typing import Any, TypeVar

import grpc

from signalstack.core.errors import InvalidInput, LimitExceeded
from signalstack.core.model import OnnxModel
from signalstack.transport.guard import method_handler

from . import metrics
from .repository import ModelNotFound

log = logging.getLogger(__name__)

_Servicer = TypeVar("_Servicer")
_Request = TypeVar("_Request")
_Response = TypeVar("_Response")

_CODES: tuple[tuple[type[Exception], grpc.StatusCode], ...] = (
    (ModelNotFound, grpc.StatusCode.NOT_FOUND),
    (LimitExceeded, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (InvalidInput, grpc.StatusCode.INVALID_ARGUMENT),
)


class Call:
    """What a handler learned about its call: the model that answers it, once resolved."""

    __slots__ = ("model",)

    def __init__(self) -> None:
        self.model: OnnxModel | None = None

    @property
    def labels(self) -> tuple[str, str]:
        """(model, version) metric labels; empty until a loaded model was resolved."""
        return (self.model.name, str(self.model.version)) if self.model else ("", "")


def _status(method: str, exc: Exception) -> tuple[grpc.StatusCode, str]:
    """The status code and message a client gets for `exc`."""
    for kind, code in _CODES:
        if isinstance(exc, kind):
            log.info("%s refused: %s %s", method, code.name, exc)
            return code, str(exc)
    log.exception("%s failed", method)
    return grpc.StatusCode.INTERNAL, f"{method} failed: {type(exc).__name__}: {exc}"


_counters: dict[tuple[str, grpc.StatusCode, str, int], tuple[Any, Any]] = {}
"""(calls counter, latency histogram) by (method, code, model, version). prometheus_client's `labels` takes
a lock and checks its labels on every call, so each pair is looked up once; bounded like the labels."""


def _count(method: str, call: Call, code: grpc.StatusCode, started: float | None) -> None:
    model = call.model
    key = (method, code, model.name, model.version) if model else (method, code, "", 0)
    children = _counters.get(key)
    if children is None:
        name, version = call.labels
        children = _counters.setdefault(
            key,
            (metrics.REQUESTS.labels(method, name, version, code.name), metrics.LATENCY.labels(method, name, version)),
        )
    children[0].inc()
    if started is not None:
        children[1].observe(time.perf_counter() - started)


def unary(
    handler: Callable[[_Servicer, _Request, grpc.ServicerContext, Call], _Response],
) -> Callable[[_Servicer, _Request, grpc.ServicerContext], _Response]:
    """Wrap a `(self, request, context, call)` handler answering with one message: the `(self, request, context)`
    method gRPC calls."""
    method = handler.__name__

    @functools.wraps(handler)
    def wrapper(self: _Servicer, request: _Request, context: grpc.ServicerContext) -> _Response:
        started, call = time.perf_counter(), Call()
        try:
            response = handler(self, request, context, call)
        except Exception as exc:
            code, message = _status(method, exc)
            _count(method, call, code, started)
            context.abort(code, message)
        _count(method, call, grpc.StatusCode.OK, started)
        return response

    return wrapper


def streaming(
    handler: Callable[[_Servicer, Iterator[_Request], grpc.ServicerContext, Call], Iterator[_Response]],
) -> Callable[[_Servicer, Iterator[_Request], grpc.ServicerContext], Iterator[_Response]]:
    """Wrap a `(self, requests, context, call)` generator answering with a stream of messages: the
    `(self, requests, context)` method gRPC calls."""
    method = handler.__name__

    @functools.wraps(handler)
    def wrapper(self: _Servicer, requests: Iterator[_Request], context: grpc.ServicerContext) -> Iterator[_Response]:
        call = Call()
        metrics.STREAMS.inc()
        code = grpc.StatusCode.CANCELLED  # unless it ends one of the ways below
        try:
            yield from handler(self, requests, context, call)
            code = grpc.StatusCode.OK
        except Exception as exc:
            if not context.is_active():  # the client went away: nothing to answer
                return
            code, message = _status(method, exc)
            context.abort(code, message)
        finally:
            metrics.STREAMS.dec()
            _count(method, call, code, None)

    return wrapper


class _Undecodable:
    """Stands in for a request whose bytes are not the expected message."""

    __slots__ = ("message",)

    def __init__(self, message: str) -> None:
        self.message = message


def served(
    handlers: Mapping[str, grpc.RpcMethodHandler], unary_pool: futures.ThreadPoolExecutor
) -> dict[str, grpc.RpcMethodHandler]:
    """`handlers` (by method name) as the server runs them: a request that is not valid protobuf refused with
    INVALID_ARGUMENT naming the expected message, and unary-unary methods run on `unary_pool`.

    Without the first, gRPC answers INTERNAL ("Exception deserializing request!"), which blames the server
    for a client's bytes. The second leaves the server's own pool to streams: a stream holds its thread
    while it is open, so streams need many threads, while a unary call's Python work holds the GIL and runs
    best on a few. gRPC runs a method on the pool its behaviour names as `experimental_thread_pool`. Both are
    set on the handlers themselves rather than by interceptors, which gRPC would run on every call.
    """
    return {name: _tolerant(handler, unary_pool) for name, handler in handlers.items()}


def _tolerant(handler: grpc.RpcMethodHandler, unary_pool: futures.ThreadPoolExecutor) -> grpc.RpcMethodHandler:
    """`handler` with a deserializer that never raises, and a behaviour that refuses what it could not decode."""
    decode = handler.request_deserializer
    kind = getattr(getattr(decode, "__self__", None), "DESCRIPTOR", None)
    expected = kind.full_name if kind is not None else "request message"

    def checked(requests: Iterator[Any]) -> Iterator[Any]:
        for request in requests:
            if isinstance(request, _Undecodable):
                raise InvalidInput(request.message)
            yield request

    run: Callable[[Any, grpc.ServicerContext], Any]
    if handler.request_streaming:
        streamed = handler.stream_stream or handler.stream_unary
        assert streamed is not None  # gRPC's handler of a request stream carries one of the two

        def run(requests: Iterator[Any], context: grpc.ServicerContext) -> Any:
            return streamed(checked(requests), context)
    else:
        answer = handler.unary_unary or handler.unary_stream
        assert answer is not None  # gRPC's handler of a single request carries one of the two

        def run(request: Any, context: grpc.ServicerContext) -> Any:
            if isinstance(request, _Undecodable):
                log.info("%s refused: INVALID_ARGUMENT %s", expected, request.message)
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, request.message)
            return answer(request, context)

        if handler.unary_unary is not None:
            # gRPC reads this (experimental) attribute off the behaviour function; no type declares it.
            run.experimental_thread_pool = unary_pool  # type: ignore[attr-defined]
    return method_handler(
        handler,
        run,
        request_deserializer=decode and _never_raising(decode, expected),
        response_serializer=handler.response_serializer,
    )


def _never_raising(decode: Callable[[bytes], Any], expected: str) -> Callable[[bytes], Any]:
    """`decode`, answering an `_Undecodable` that names the `expected` message where it would raise."""

    def deserialize(data: bytes) -> Any:
        try:
            return decode(data)
        except Exception as exc:  # protobuf's DecodeError, or anything a custom deserializer raises
            return _Undecodable(f"request of {len(data)} bytes is not a valid {expected} ({exc})")

    return deserialize
