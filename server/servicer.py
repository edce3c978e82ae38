"""SignalService over gRPC: wire messages to runtime calls.

No model logic lives here; `OnnxModel` checks bars and computes features, so the service and
the in-process plugin reject the same inputs with the same messages. Predictions of Predict and
StreamSignals go through the model's batching queue; `rpc` turns errors into status codes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from concurrent import futures
from dataclasses import replace

import grpc
import numpy as np

from signalstack.protos.signalstack.v1 import signals_pb2 as pb
from signalstack.protos.signalstack.v1 import signals_pb2_grpc as pb_grpc

from . import metrics, rpc, wire
from .batching import Batchers
from .repository import ModelRepository
from .runtime import InvalidInput, OnnxModel
from .streaming import MAX_SYMBOLS, StreamWindows

log = logging.getLogger(__name__)


class SignalServicer(pb_grpc.SignalServiceServicer):
    """Answers SignalService calls with the models of a `ModelRepository`."""

    def __init__(self, repository: ModelRepository, batchers: Batchers | None = None, *,
                 max_symbols: int = MAX_SYMBOLS, compute: futures.Executor | None = None) -> None:
        """`compute`: where a stream's bars are scored (the server's unary call threads), so that
        many open streams do not all compute at once on their own threads; None scores in place."""
        self.repository = repository
        self.batchers = batchers or Batchers()
        self.max_symbols = max_symbols
        self.compute = compute

    @rpc.unary
    def Predict(self, request: pb.PredictRequest, context: grpc.ServicerContext,
                call: rpc.Call) -> pb.PredictResponse:
        model = call.model = self.repository.get(request.model, request.version)
        windows = [wire.bars_arrays(w) for w in request.windows]
        inputs = model.request_inputs(windows, wire.tensor_arrays(request.inputs))
        outputs = self.batchers.predict(model, inputs)
        first = outputs[model.output_names[0]]
        return pb.PredictResponse(
            model=model.name, version=model.version, classes=model.outputs,
            predictions=[pb.Prediction(probabilities=row) for row in first.tolist()],
            outputs=wire.output_messages(outputs, model.output_columns))

    @rpc.unary
    def PredictSeries(self, request: pb.PredictSeriesRequest, context: grpc.ServicerContext,
                      call: rpc.Call) -> pb.PredictSeriesResponse:
        model = call.model = self.repository.get(request.model, request.version)
        bars = wire.bars_arrays(request.bars)
        n, times = len(bars["close"]), request.bars.time
        if times and len(times) != n:
            raise InvalidInput(f"series: {len(times)} times for {n} bars (expected one time per bar, or none)")
        table = model.predict_series(bars, tensors=wire.tensor_arrays(request.inputs)).to_numpy(np.float32)
        first = n - len(table)
        outputs = model.split(table)
        response = pb.PredictSeriesResponse(model=model.name, version=model.version, classes=model.outputs,
                                            first_index=first, time=times[first:],
                                            outputs=wire.output_messages(outputs, model.output_columns))
        response.probabilities.extend(outputs[model.output_names[0]].ravel().tolist())
        return response

    @rpc.unary
    def ListModels(self, request: pb.ListModelsRequest, context: grpc.ServicerContext,
                   call: rpc.Call) -> pb.ListModelsResponse:
        return pb.ListModelsResponse(models=[_model_info(m) for m in self.repository.models()])

    @rpc.unary
    def GetModel(self, request: pb.GetModelRequest, context: grpc.ServicerContext, call: rpc.Call) -> pb.ModelInfo:
        call.model = self.repository.get(request.model, request.version)
        return _model_info(call.model)

    @rpc.streaming
    def StreamSignals(self, requests: Iterator[pb.BarEvent], context: grpc.ServicerContext,
                      call: rpc.Call) -> Iterator[pb.Signal]:
        windows = StreamWindows(self.max_symbols)
        for i, event in enumerate(requests):
            started = time.perf_counter()
            if self.compute is None:
                signal = self._signal(windows, i, event, call)
            else:
                signal = self.compute.submit(self._signal, windows, i, event, call).result()
            metrics.LATENCY.labels("StreamSignals", *call.labels).observe(time.perf_counter() - started)
            yield signal

    def _signal(self, windows: StreamWindows, i: int, event: pb.BarEvent, call: rpc.Call) -> pb.Signal:
        """The answer to a stream's message `i`: its bar added to the symbol's window, scored once the window is full."""
        model = call.model = self.repository.get(event.model, event.version)
        source = f"StreamSignals message {i} (symbol {event.symbol!r})"
        if model.tensor_inputs or model.intraday:
            what = ("groups intraday bars into days" if model.intraday else
                    f"also takes tensor inputs ({', '.join(i.name for i in model.tensor_inputs)})")
            raise InvalidInput(f"{source}: model {model.name} {what}, which a stream of bar events does not "
                               "serve; use Predict or PredictSeries")
        bars = windows.add(model.name, event.symbol, event.time,
                           (event.open, event.high, event.low, event.close, event.volume),
                           model.bars_required, source)
        signal = pb.Signal(symbol=event.symbol, time=event.time, model=model.name, version=model.version,
                           classes=model.outputs, bars_needed=max(0, model.bars_required - len(bars)))
        if not signal.bars_needed:
            x = model.window_features(bars.tail(model.bars_required), source)[np.newaxis]
            outputs = self.batchers.predict(model, {model.bars_input.name: x})
            signal.probabilities.extend(outputs[model.output_names[0]][0].tolist())
        return signal


def _model_info(model: OnnxModel) -> pb.ModelInfo:
    """The wire description of a loaded model, its full card included."""
    card = model.card
    return pb.ModelInfo(name=model.name, version=model.version, classes=model.outputs, window=card.window,
                        warmup=card.warmup, bars_required=card.bars_required, horizon=card.horizon,
                        provider=model.provider, card_json=card.to_json(),
                        inputs=[wire.tensor_info_message(i) for i in model.inputs],
                        outputs=[wire.tensor_info_message(replace(o, columns=tuple(model.output_columns[o.name])))
                                 for o in model.output_infos])
