"""A Python client for SignalService: DataFrames of bars in, numpy and pandas out.

This is what a strategy process loads for a `GrpcSource`: it imports neither onnxruntime nor
`signalstack.server` (only `wire` and `channel`, which both ends share).

Failed calls raise `grpc.RpcError` as is, so callers can branch on `.code()` (NOT_FOUND,
INVALID_ARGUMENT, UNAUTHENTICATED, UNAVAILABLE, ...) and read the server's message in `.details()`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import grpc
import numpy as np
import pandas as pd

from signalstack.core.card import ModelCard
from signalstack.core.featurizer import Bars
from signalstack.core.outputs import join_outputs, joined_columns
from signalstack.protos.signalstack.v1 import signals_pb2 as pb
from signalstack.protos.signalstack.v1 import signals_pb2_grpc as pb_grpc
from signalstack.transport import wire
from signalstack.transport.channel import CHANNEL_OPTIONS


def security_keywords(token: str | None = None, tls_ca: Path | None = None, tls_cert: Path | None = None,
                      tls_key: Path | None = None) -> dict[str, Any]:
    """The `SignalClient` (and `GrpcSource`) keywords for a bearer token and the PEM files of the
    command lines' --tls-ca, --tls-cert and --tls-key: only those given. An unreadable file or a
    client certificate without its key, or without TLS, is a ValueError naming it."""
    if (tls_cert is None) != (tls_key is None):
        raise ValueError(f"tls_cert {tls_cert} and tls_key {tls_key}: expected both or neither")
    if tls_cert is not None and tls_ca is None:
        raise ValueError(f"tls_cert {tls_cert} without tls_ca: a client certificate is sent over TLS only "
                         "(expected the server's CA certificate too)")
    keywords: dict[str, Any] = {"token": token} if token else {}
    for keyword, path in (("root_certificates", tls_ca), ("certificate_chain", tls_cert), ("private_key", tls_key)):
        if path is not None:
            try:
                keywords[keyword] = Path(path).read_bytes()
            except OSError as exc:
                raise ValueError(f"{path}: cannot read it ({exc.strerror or exc}); expected a PEM file") from None
    return keywords


class SignalClient:
    """A channel to a signalstack server; use it as a context manager to close the channel."""

    def __init__(self, target: str, *, timeout: float = 60.0, token: str | None = None,
                 root_certificates: bytes | None = None, private_key: bytes | None = None,
                 certificate_chain: bytes | None = None) -> None:
        """`token`: the server's bearer token, if it wants one. TLS when `root_certificates` (PEM of
        the CA that signed the server's certificate) is given; `private_key` and
        `certificate_chain` are this client's certificate, for servers that verify clients."""
        self.target = target
        self.timeout = timeout
        if root_certificates is None:
            self._channel = grpc.insecure_channel(target, options=CHANNEL_OPTIONS)
        else:
            credentials = grpc.ssl_channel_credentials(root_certificates, private_key, certificate_chain)
            self._channel = grpc.secure_channel(target, credentials, options=CHANNEL_OPTIONS)
        self._metadata = (("authorization", f"Bearer {token}"),) if token else ()
        self._stub = pb_grpc.SignalServiceStub(self._channel)

    def __enter__(self) -> SignalClient:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self._channel.close()

    def list_models(self) -> list[pb.ModelInfo]:
        """Every model and version the server has loaded."""
        return list(self._stub.ListModels(pb.ListModelsRequest(), timeout=self.timeout,
                                          metadata=self._metadata).models)

    def get_model(self, name: str, version: int = 0) -> pb.ModelInfo:
        """One model's description; version 0 means the newest."""
        return self._stub.GetModel(pb.GetModelRequest(model=name, version=version), timeout=self.timeout,
                                   metadata=self._metadata)

    def card(self, name: str, version: int = 0) -> ModelCard:
        """The model card stored in the served ONNX file."""
        return ModelCard.from_json(self.get_model(name, version).card_json)

    def predict(self, name: str, windows: Sequence[Bars] = (), version: int = 0,
                tensors: Mapping[str, np.ndarray] | None = None) -> np.ndarray:
        """Outputs (N samples x the model's columns, float32; the probabilities of a classifier) for
        each window's last bar, with `tensors` {input name: (N, ...)} for a model's tensor inputs."""
        return self.predict_outputs(name, windows, version, tensors)[0]

    def predict_outputs(self, name: str, windows: Sequence[Bars] = (), version: int = 0,
                        tensors: Mapping[str, np.ndarray] | None = None) -> tuple[np.ndarray, list[str]]:
        """(outputs joined side by side, their column names): `predict` with the names of its columns."""
        request = pb.PredictRequest(model=name, version=version, windows=[wire.bars_message(w) for w in windows],
                                    inputs=[wire.tensor_message(k, v) for k, v in (tensors or {}).items()])
        response = self._stub.Predict(request, timeout=self.timeout, metadata=self._metadata)
        return _joined(response.outputs)

    def predict_series(self, name: str, bars: Bars, version: int = 0,
                       tensors: Mapping[str, np.ndarray] | None = None) -> pd.DataFrame:
        """Outputs for every bar with enough history, indexed like `bars` (a RangeIndex for a dict);
        `tensors` gives a model's tensor inputs one row per bar."""
        message = wire.bars_message(bars)
        index = bars.index if isinstance(bars, pd.DataFrame) else pd.RangeIndex(len(message.close))
        request = pb.PredictSeriesRequest(model=name, version=version, bars=message,
                                          inputs=[wire.tensor_message(k, v) for k, v in (tensors or {}).items()])
        response = self._stub.PredictSeries(request, timeout=self.timeout, metadata=self._metadata)
        table, columns = _joined(response.outputs)
        return pd.DataFrame(table, index=index[response.first_index:], columns=columns)

    def stream_signals(self, events: Iterable[pb.BarEvent]) -> Iterator[pb.Signal]:
        """One Signal per BarEvent, in order, while `events` yields bars as they close (no deadline)."""
        return self._stub.StreamSignals(iter(events), metadata=self._metadata)


def _joined(outputs: Sequence[pb.Tensor]) -> tuple[np.ndarray, list[str]]:
    columns = joined_columns({t.name: list(t.columns) for t in outputs})
    return join_outputs(wire.tensor_arrays(outputs, "output")), columns
