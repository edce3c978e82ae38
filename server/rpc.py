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
from collections.abc import Callable, Iterator
from concurrent import futures
from typing import Any, TypeVar

import grpc

from signalstack.core.errors import InvalidInput, LimitExceeded
from signalstack.core.model import OnnxModel
from signalstack.transport.guard import method_handler

from . import metrics
from .repository import ModelNotFound

log = logging.getLogger(__name__)

Handler = TypeVar("Handler", bound=Callable[..., Any])

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


def _count(method: str, call: Call, code: grpc.StatusCode, started: float | None) -> None:
    model, version = call.labels
    metrics.REQUESTS.labels(method, model, version, code.name).inc()
    if started is not None:
        metrics.LATENCY.labels(method, model, version).observe(time.perf_counter() - started)


def unary(handler: Handler) -> Handler:
    """Wrap a `(self, request, context, call)` handler answering with one message."""
    method = handler.__name__

    @functools.wraps(handler)
    def wrapper(self: Any, request: Any, context: grpc.ServicerContext) -> Any:
        started, call = time.perf_counter(), Call()
        try:
            response = handler(self, request, context, call)
        except Exception as exc:
            code, message = _status(method, exc)
            _count(method, call, code, started)
            context.abort(code, message)
        _count(method, call, grpc.StatusCode.OK, started)
        return response

    return wrapper  # type: ignore[return-value]


def streaming(handler: Handler) -> Handler:
    """Wrap a `(self, requests, context, call)` generator answering with a stream of messages."""
    method = handler.__name__

    @functools.wraps(handler)
    def wrapper(self: Any, requests: Iterator[Any], context: grpc.ServicerContext) -> Iterator[Any]:
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

    return wrapper  # type: ignore[return-value]


class _PerMethod(grpc.ServerInterceptor):
    """An interceptor that swaps some methods' handlers for wrapped ones, made once per method."""

    def __init__(self) -> None:
        self._wrapped: dict[str, tuple[grpc.RpcMethodHandler, grpc.RpcMethodHandler]] = {}

    def _wraps(self, handler: grpc.RpcMethodHandler) -> bool:
        raise NotImplementedError

    def _wrap(self, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        raise NotImplementedError

    def intercept_service(self, continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
                          details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        handler = continuation(details)
        if handler is None or not self._wraps(handler):
            return handler
        cached = self._wrapped.get(details.method)
        if cached is None or cached[0] is not handler:
            cached = self._wrapped[details.method] = (handler, self._wrap(handler))
        return cached[1]


class UnaryThreads(_PerMethod):
    """Runs unary-unary calls on `pool`, leaving the server's own pool to streaming calls.

    A stream holds its thread while it is open, so streams need many threads; a unary call's
    Python work holds the GIL, so it runs best on a few. gRPC runs a method on the pool its
    behaviour names as `experimental_thread_pool`.
    """

    def __init__(self, pool: futures.ThreadPoolExecutor) -> None:
        super().__init__()
        self._pool = pool

    def _wraps(self, handler: grpc.RpcMethodHandler) -> bool:
        return handler.unary_unary is not None

    def _wrap(self, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        behaviour = handler.unary_unary

        def run(request: Any, context: grpc.ServicerContext) -> Any:
            return behaviour(request, context)

        run.experimental_thread_pool = self._pool  # type: ignore[attr-defined]
        return method_handler(handler, run, request_deserializer=handler.request_deserializer,
                              response_serializer=handler.response_serializer)


class _Undecodable:
    """Stands in for a request whose bytes are not the expected message."""

    __slots__ = ("message",)

    def __init__(self, message: str) -> None:
        self.message = message


class DecodeErrors(_PerMethod):
    """Answers requests that are not valid protobuf with INVALID_ARGUMENT naming the expected message.

    Without it gRPC answers INTERNAL ("Exception deserializing request!"), which blames the server
    for a client's bytes.
    """

    def _wraps(self, handler: grpc.RpcMethodHandler) -> bool:
        return handler.request_deserializer is not None

    def _wrap(self, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        return _tolerant(handler)


def _tolerant(handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
    """`handler` with a deserializer that never raises, and a behaviour that refuses what it could not decode."""
    decode = handler.request_deserializer
    kind = getattr(getattr(decode, "__self__", None), "DESCRIPTOR", None)
    expected = kind.full_name if kind is not None else "request message"

    def deserialize(data: bytes) -> Any:
        try:
            return decode(data)
        except Exception as exc:  # protobuf's DecodeError, or anything a custom deserializer raises
            return _Undecodable(f"request of {len(data)} bytes is not a valid {expected} ({exc})")

    def checked(requests: Iterator[Any]) -> Iterator[Any]:
        for request in requests:
            if isinstance(request, _Undecodable):
                raise InvalidInput(request.message)
            yield request

    if handler.request_streaming:
        behaviour = handler.stream_stream or handler.stream_unary

        def run(requests: Iterator[Any], context: grpc.ServicerContext) -> Any:
            return behaviour(checked(requests), context)
    else:
        behaviour = handler.unary_unary or handler.unary_stream

        def run(request: Any, context: grpc.ServicerContext) -> Any:
            if isinstance(request, _Undecodable):
                log.info("%s refused: INVALID_ARGUMENT %s", expected, request.message)
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, request.message)
            return behaviour(request, context)

    return method_handler(handler, run, request_deserializer=deserialize,
                          response_serializer=handler.response_serializer)
