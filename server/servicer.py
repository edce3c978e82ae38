"""SignalService over gRPC: wire messages to data-plane calls, and the answers back to messages.

No model logic lives here: the `DataPlane` finds the model, checks the inputs, batches and runs,
so SignalService, the Open Inference Protocol and the in-process plugin reject the same inputs
with the same messages. `rpc` turns errors into status codes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from concurrent import futures

import grpc

from signalstack.core.model import OnnxModel
from signalstack.protos.signalstack.v1 import signals_pb2 as pb
from signalstack.protos.signalstack.v1 import signals_pb2_grpc as pb_grpc
from signalstack.transport import wire

from . import metrics, rpc
from .dataplane import DataPlane
from .streaming import MAX_SYMBOLS, SignalStream

log = logging.getLogger(__name__)


class SignalServicer(pb_grpc.SignalServiceServicer):
    """Answers SignalService calls through a `DataPlane`."""

    def __init__(
        self, plane: DataPlane, *, max_symbols: int = MAX_SYMBOLS, compute: futures.Executor | None = None
    ) -> None:
        """`compute`: where a stream's bars are scored (the server's unary call threads), so that
        many open streams do not all compute at once on their own threads; None scores in place."""
        self.plane = plane
        self.max_symbols = max_symbols
        self.compute = compute

    @rpc.unary
    def Predict(self, request: pb.PredictRequest, context: grpc.ServicerContext, call: rpc.Call) -> pb.PredictResponse:
        model = call.model = self.plane.model(request.model, request.version)
        outputs = self.plane.predict(
            model, [wire.bars_arrays(w) for w in request.windows], wire.tensor_arrays(request.inputs)
        )
        first = outputs[model.output_names[0]]
        return pb.PredictResponse(
            model=model.name,
            version=model.version,
            columns=model.output_columns[model.output_names[0]],
            predictions=[pb.Prediction(probabilities=row) for row in first.tolist()],
            outputs=wire.output_messages(outputs, model.output_columns),
        )

    @rpc.unary
    def PredictSeries(
        self, request: pb.PredictSeriesRequest, context: grpc.ServicerContext, call: rpc.Call
    ) -> pb.PredictSeriesResponse:
        model = call.model = self.plane.model(request.model, request.version)
        first, outputs = self.plane.predict_series(
            model, wire.bars_arrays(request.bars), wire.tensor_arrays(request.inputs)
        )
        response = pb.PredictSeriesResponse(
            model=model.name,
            version=model.version,
            columns=model.output_columns[model.output_names[0]],
            first_index=first,
            time=request.bars.time[first:],
            outputs=wire.output_messages(outputs, model.output_columns),
        )
        response.probabilities.extend(outputs[model.output_names[0]].ravel().tolist())
        return response

    @rpc.unary
    def ListModels(
        self, request: pb.ListModelsRequest, context: grpc.ServicerContext, call: rpc.Call
    ) -> pb.ListModelsResponse:
        return pb.ListModelsResponse(models=[_model_info(m) for m in self.plane.models()])

    @rpc.unary
    def GetModel(self, request: pb.GetModelRequest, context: grpc.ServicerContext, call: rpc.Call) -> pb.ModelInfo:
        call.model = self.plane.model(request.model, request.version)
        return _model_info(call.model)

    @rpc.streaming
    def StreamSignals(
        self, requests: Iterator[pb.BarEvent], context: grpc.ServicerContext, call: rpc.Call
    ) -> Iterator[pb.Signal]:
        stream = self.plane.open_stream(self.max_symbols)
        for i, event in enumerate(requests):
            started = time.perf_counter()
            if self.compute is None:
                signal = self._signal(stream, i, event, call)
            else:
                signal = self.compute.submit(self._signal, stream, i, event, call).result()
            metrics.LATENCY.labels("StreamSignals", *call.labels).observe(time.perf_counter() - started)
            yield signal

    def _signal(self, stream: SignalStream, i: int, event: pb.BarEvent, call: rpc.Call) -> pb.Signal:
        """The answer to a stream's message `i`."""
        model = call.model = self.plane.model(event.model, event.version)
        answer = stream.signal(
            model,
            event.symbol,
            event.time,
            (event.open, event.high, event.low, event.close, event.volume),
            f"StreamSignals message {i} (symbol {event.symbol!r})",
        )
        signal = pb.Signal(
            symbol=event.symbol,
            time=event.time,
            model=model.name,
            version=model.version,
            columns=model.output_columns[model.output_names[0]],
            bars_needed=answer.bars_needed,
        )
        if answer.outputs is not None:
            signal.probabilities.extend(answer.outputs[model.output_names[0]][0].tolist())
            signal.outputs.extend(wire.output_messages(answer.outputs, model.output_columns))
        return signal


def _model_info(model: OnnxModel) -> pb.ModelInfo:
    """The wire description of a loaded model, its full card included."""
    card = model.card
    return pb.ModelInfo(
        name=model.name,
        version=model.version,
        columns=model.output_columns[model.output_names[0]],
        window=card.window,
        warmup=card.warmup,
        bars_required=card.bars_required,
        horizon=card.horizon,
        provider=model.provider,
        card_json=card.to_json(),
        inputs=[wire.tensor_info_message(i) for i in model.inputs],
        outputs=[wire.tensor_info_message(o) for o in model.outputs],
    )
