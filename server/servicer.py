"""SignalService over gRPC: wire messages to runtime calls, runtime errors to status codes.

No model logic lives here; `OnnxModel` checks bars and computes predictions, so the service and
the in-process plugin reject the same inputs with the same messages.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar

import grpc
import numpy as np

from signalstack.models.data import COLUMNS
from signalstack.protos.signalstack.v1 import signals_pb2 as pb
from signalstack.protos.signalstack.v1 import signals_pb2_grpc as pb_grpc

from .repository import ModelNotFound, ModelRepository
from .runtime import InvalidInput, OnnxModel

log = logging.getLogger(__name__)

Handler = TypeVar("Handler", bound=Callable[..., Any])


def _status_codes(handler: Handler) -> Handler:
    """Turn a handler's errors into gRPC statuses carrying the error's message."""
    @functools.wraps(handler)
    def wrapper(self: SignalServicer, request: Any, context: grpc.ServicerContext) -> Any:
        try:
            return handler(self, request, context)
        except ModelNotFound as exc:
            code, message = grpc.StatusCode.NOT_FOUND, str(exc)
        except InvalidInput as exc:
            code, message = grpc.StatusCode.INVALID_ARGUMENT, str(exc)
        except Exception as exc:
            log.exception("%s failed", handler.__name__)
            context.abort(grpc.StatusCode.INTERNAL, f"{handler.__name__} failed: {type(exc).__name__}: {exc}")
        log.info("%s refused: %s %s", handler.__name__, code.name, message)
        context.abort(code, message)

    return wrapper  # type: ignore[return-value]


class SignalServicer(pb_grpc.SignalServiceServicer):
    """Answers SignalService calls with the models of a `ModelRepository`."""

    def __init__(self, repository: ModelRepository) -> None:
        self.repository = repository

    @_status_codes
    def Predict(self, request: pb.PredictRequest, context: grpc.ServicerContext) -> pb.PredictResponse:
        model = self.repository.get(request.model, request.version)
        probabilities = model.predict_windows([_arrays(w) for w in request.windows])
        return pb.PredictResponse(
            model=model.name, version=model.version, classes=model.outputs,
            predictions=[pb.Prediction(probabilities=row) for row in probabilities.tolist()])

    @_status_codes
    def PredictSeries(self, request: pb.PredictSeriesRequest,
                      context: grpc.ServicerContext) -> pb.PredictSeriesResponse:
        model = self.repository.get(request.model, request.version)
        bars = _arrays(request.bars)
        n, times = len(bars["close"]), request.bars.time
        if times and len(times) != n:
            raise InvalidInput(f"series: {len(times)} times for {n} bars (expected one time per bar, or none)")
        table = model.predict_series(bars)
        first = n - len(table)
        response = pb.PredictSeriesResponse(model=model.name, version=model.version, classes=model.outputs,
                                            first_index=first, time=times[first:])
        response.probabilities.extend(table.to_numpy(np.float32).ravel().tolist())
        return response

    @_status_codes
    def ListModels(self, request: pb.ListModelsRequest, context: grpc.ServicerContext) -> pb.ListModelsResponse:
        return pb.ListModelsResponse(models=[_model_info(m) for m in self.repository.models()])

    @_status_codes
    def GetModel(self, request: pb.GetModelRequest, context: grpc.ServicerContext) -> pb.ModelInfo:
        return _model_info(self.repository.get(request.model, request.version))


def _model_info(model: OnnxModel) -> pb.ModelInfo:
    """The wire description of a loaded model, its full card included."""
    card = model.card
    return pb.ModelInfo(name=model.name, version=model.version, classes=model.outputs, window=card.window,
                        warmup=card.warmup, bars_required=card.bars_required, horizon=card.horizon,
                        provider=model.provider, card_json=card.to_json())


def _arrays(bars: pb.Bars) -> dict[str, np.ndarray]:
    # upb's repeated scalar fields expose a buffer, so np.asarray copies without a Python loop.
    return {c: np.asarray(getattr(bars, c), dtype=np.float64) for c in COLUMNS}
