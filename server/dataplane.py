"""The protocol-neutral data plane: find a model and version, check the inputs, batch, run, name the outputs.

SignalService, the Open Inference Protocol and StreamSignals all answer through one `DataPlane`,
as KServe's servicers do through its data plane: a servicer only turns wire messages into these
calls and their results back into messages, so every protocol refuses the same inputs with the
same messages and batches its calls in the same queues.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence

import numpy as np

from signalstack.core.errors import InvalidInput
from signalstack.core.featurizer import Bars
from signalstack.core.inputs import check_finite
from signalstack.core.model import OnnxModel

from .batching import Batchers, Outputs
from .repository import ModelNotFound, ModelRepository
from .streaming import MAX_SYMBOLS, SignalStream


class DataPlane:
    """The models of a repository, answered through their batching queues."""

    def __init__(
        self, repository: ModelRepository, batchers: Batchers | None = None, stopping: threading.Event | None = None
    ) -> None:
        """`stopping` is set when the server starts draining: models then report not ready."""
        self.repository = repository
        self.batchers = batchers or Batchers()
        self.stopping = stopping or threading.Event()

    def model(self, name: str, version: int = 0) -> OnnxModel:
        """The loaded model `name` at `version` (0: the newest), or ModelNotFound listing what is loaded."""
        return self.repository.get(name, version)

    def models(self) -> list[OnnxModel]:
        """Every loaded model and version, by name then version."""
        return self.repository.models()

    def versions(self, name: str) -> list[int]:
        return self.repository.versions(name)

    def ready(self) -> bool:
        """Whether the server answers: models loaded, not draining."""
        return not self.stopping.is_set() and bool(self.repository.models())

    def model_ready(self, name: str, version: int = 0) -> bool:
        try:
            self.model(name, version)
        except ModelNotFound:
            return False
        return not self.stopping.is_set()

    def infer(self, model: OnnxModel, inputs: Mapping[str, np.ndarray]) -> Outputs:
        """Outputs for the graph's own inputs (raw feature windows for a bars input): the Open Inference Protocol.

        Names and shapes are checked where the inputs run (the batching queue); values here."""
        check_finite(inputs)
        return self.batchers.predict(model, inputs)

    def predict(self, model: OnnxModel, windows: Sequence[Bars], tensors: Mapping[str, np.ndarray]) -> Outputs:
        """Outputs for each window of raw bars (features computed here) and the model's tensor inputs."""
        return self.batchers.predict(model, model.request_inputs(windows, tensors))

    def predict_series(self, model: OnnxModel, bars: Bars, tensors: Mapping[str, np.ndarray]) -> tuple[int, Outputs]:
        """(index of the first scored bar, outputs for every bar from it on) for one series of bars.

        `bars` may carry unix-second times in "time"; if it does, there must be one per bar.
        """
        n, times = len(bars["close"]), bars.get("time")
        if times is not None and len(times) != n:
            raise InvalidInput(f"series: {len(times)} times for {n} bars (expected one time per bar, or none)")
        table = model.predict_series(bars, tensors=tensors).to_numpy(np.float32)
        return n - len(table), model.split(table)

    def open_stream(self, max_symbols: int = MAX_SYMBOLS) -> SignalStream:
        """A stream of bar events' state (its windows, at most `max_symbols`), answered through the batching
        queues of the unary calls."""
        return SignalStream(self.batchers, max_symbols)
