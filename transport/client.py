"""A Python client for SignalService: DataFrames of bars in, numpy and pandas out.

This is what a strategy process loads for a `GrpcSource`: it imports neither onnxruntime nor
`signalstack.server` (only `wire` and `channel`, which both ends share).

Failed calls raise `grpc.RpcError` as is, so callers can branch on `.code()` (NOT_FOUND,
INVALID_ARGUMENT, UNAUTHENTICATED, UNAVAILABLE, ...) and read the server's message in `.details()`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from types import TracebackType

import numpy as np
import pandas as pd

from signalstack.core.card import ModelCard
from signalstack.core.featurizer import Bars
from signalstack.core.outputs import join_outputs, joined_columns
from signalstack.protos.signalstack.v1 import signals_pb2 as pb
from signalstack.protos.signalstack.v1 import signals_pb2_grpc as pb_grpc
from signalstack.transport import wire
from signalstack.transport.security import ClientSecurity


class SignalClient:
    """A channel to a signalstack server; use it as a context manager to close the channel."""

    def __init__(self, target: str, *, timeout: float = 60.0, security: ClientSecurity | None = None) -> None:
        """`security`: the bearer token the server wants and the TLS files to connect with (read now: a
        SettingsError names one that cannot be read); None: plain text, no token."""
        security = security or ClientSecurity()
        self.target = target
        self.timeout = timeout
        self._channel = security.channel(target)
        self._metadata = security.metadata
        self._stub = pb_grpc.SignalServiceStub(self._channel)

    def __enter__(self) -> SignalClient:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._channel.close()

    def list_models(self) -> list[pb.ModelInfo]:
        """Every model and version the server has loaded."""
        return list(self._stub.ListModels(pb.ListModelsRequest(), timeout=self.timeout, metadata=self._metadata).models)

    def get_model(self, name: str, version: int = 0) -> pb.ModelInfo:
        """One model's description; version 0 means the newest."""
        return self._stub.GetModel(
            pb.GetModelRequest(model=name, version=version), timeout=self.timeout, metadata=self._metadata
        )

    def card(self, name: str, version: int = 0) -> ModelCard:
        """The model card stored in the served ONNX file."""
        return ModelCard.from_json(self.get_model(name, version).card_json)

    def predict(
        self, name: str, windows: Sequence[Bars] = (), version: int = 0, tensors: Mapping[str, np.ndarray] | None = None
    ) -> np.ndarray:
        """Outputs (N samples x the model's columns, float32; the probabilities of a classifier) for
        each window's last bar, with `tensors` {input name: (N, ...)} for a model's tensor inputs."""
        return self.predict_outputs(name, windows, version, tensors)[0]

    def predict_outputs(
        self, name: str, windows: Sequence[Bars] = (), version: int = 0, tensors: Mapping[str, np.ndarray] | None = None
    ) -> tuple[np.ndarray, list[str]]:
        """(outputs joined side by side, their column names): `predict` with the names of its columns."""
        request = pb.PredictRequest(
            model=name,
            version=version,
            windows=[wire.bars_message(w) for w in windows],
            inputs=[wire.tensor_message(k, v) for k, v in (tensors or {}).items()],
        )
        response = self._stub.Predict(request, timeout=self.timeout, metadata=self._metadata)
        return _joined(response.outputs)

    def predict_series(
        self, name: str, bars: Bars, version: int = 0, tensors: Mapping[str, np.ndarray] | None = None
    ) -> pd.DataFrame:
        """Outputs for every bar with enough history, indexed like `bars` (a RangeIndex for a dict);
        `tensors` gives a model's tensor inputs one row per bar."""
        message = wire.bars_message(bars)
        index = bars.index if isinstance(bars, pd.DataFrame) else pd.RangeIndex(len(message.close))
        request = pb.PredictSeriesRequest(
            model=name,
            version=version,
            bars=message,
            inputs=[wire.tensor_message(k, v) for k, v in (tensors or {}).items()],
        )
        response = self._stub.PredictSeries(request, timeout=self.timeout, metadata=self._metadata)
        table, columns = _joined(response.outputs)
        return pd.DataFrame(table, index=index[response.first_index :], columns=columns)

    def stream_signals(self, events: Iterable[pb.BarEvent]) -> Iterator[pb.Signal]:
        """One Signal per BarEvent, in order, while `events` yields bars as they close (no deadline)."""
        return self._stub.StreamSignals(iter(events), metadata=self._metadata)


def _joined(outputs: Sequence[pb.Tensor]) -> tuple[np.ndarray, list[str]]:
    columns = joined_columns({t.name: list(t.columns) for t in outputs})
    return join_outputs(wire.tensor_arrays(outputs, "output")), columns
