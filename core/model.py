"""An exported model in onnxruntime: raw bars and tensors in, named outputs out.

The one implementation of "bars -> features -> model" used at serve time, by the gRPC service
and by the Backtrader plugin in process, so both give the same numbers. `OnnxModel` joins an
`OnnxSession` (the graph), the model card, a `Featurizer` (bars -> the bars input) and the checks
of `inputs` (the other tensors).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from .card import METADATA_KEY, ModelCard, TensorInfo
from .errors import InvalidInput
from .featurizer import Bars, Featurizer
from .inputs import check_batch, check_finite, check_names, series_rows
from .outputs import join_outputs, joined_columns, split_outputs
from .session import OnnxSession

log = logging.getLogger(__name__)

BATCH = 4096
"""Windows per onnxruntime call when predicting a long series: bounds the memory of one call."""


class OnnxModel:
    """One ONNX file with its card; thread-safe for concurrent `predict*` calls.

    `inputs` and `outputs` describe the graph's named tensors (the card's), in graph order; at most
    one input is made from bars (`bars_input`), the others are tensors a caller supplies as is
    (`tensor_inputs`: fundamentals, images). Every output's values are named by its columns;
    `columns` joins them.
    """

    def __init__(
        self, path: str | Path, *, name: str | None = None, version: int = 1, device: str = "auto", threads: int = 0
    ) -> None:
        self.session = OnnxSession(path, device=device, threads=threads)
        self.path = self.session.path
        self.name = name or self.path.stem
        self.version = version
        self.provider = self.session.provider
        if METADATA_KEY not in self.session.metadata:
            raise InvalidInput(f"{self.path}: no '{METADATA_KEY}' metadata (export it with signalstack train)")
        try:
            self.card = ModelCard.from_json(self.session.metadata[METADATA_KEY])
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidInput(f"{self.path}: unreadable '{METADATA_KEY}' model card ({exc})") from None
        self.inputs = self._described(self.card.inputs, self.session.input_names, "input")
        # Files written before outputs carried their columns had one output of the label's columns.
        legacy = tuple(self.card.label.columns)
        self.outputs = tuple(
            o if o.columns else replace(o, columns=legacy)
            for o in self._described(self.card.outputs, self.session.output_names, "output")
        )
        self.bars_input, self.tensor_inputs = self.card.bars_input, self.card.tensor_inputs
        self.intraday = self.card.intraday
        self.window, self.bars_required = self.card.window, self.card.bars_required
        self.output_names = [o.name for o in self.outputs]
        self.output_columns = {o.name: list(o.columns) for o in self.outputs}
        self.columns = joined_columns(self.output_columns)
        self.featurizer = Featurizer(self.card, self.name)
        log.info("%s: onnxruntime on %s", self.path.name, self.provider)

    def _described(self, infos: Sequence[TensorInfo], graph: list[str], kind: str) -> tuple[TensorInfo, ...]:
        """The card's descriptions of the graph's inputs or outputs, in graph order; one for each."""
        by_name = {i.name: i for i in infos}
        if sorted(by_name) != sorted(graph):
            raise InvalidInput(f"{self.path}: graph {kind}s {graph}, but the card describes {sorted(by_name)}")
        return tuple(by_name[n] for n in graph)

    def check_inputs(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """`inputs` as the contiguous float32 arrays the graph takes, one per input, or InvalidInput."""
        return check_batch(self.inputs, inputs, self.name)

    def predict(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Every output, by name, for raw (unscaled) inputs by name: the graph itself."""
        return self.session.run(self.check_inputs(inputs))

    def predict_checked(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """`predict` for inputs that `check_inputs` returned (the batching queue checks each call
        before it joins a batch, so a batch is not checked twice)."""
        return self.session.run(inputs)

    def split(self, table: np.ndarray) -> dict[str, np.ndarray]:
        """The outputs by name from a (N, len(columns)) table of them side by side (`join_outputs`'s inverse)."""
        return split_outputs(table, self.output_columns)

    def warm_up(self) -> None:
        """Run the graph once on zeros, so the first real call pays no lazy initialisation and a
        graph that disagrees with its card fails here, before it serves."""
        zeros = {i.name: np.zeros((1, *i.shape), dtype=np.float32) for i in self.inputs}
        try:
            out = self.predict(zeros)
        except Exception as exc:
            raise InvalidInput(f"{self.path}: warm-up run failed ({exc})") from exc
        for name, columns in self.output_columns.items():
            if out[name].shape != (1, len(columns)):
                raise InvalidInput(
                    f"{self.path}: warm-up output {name!r} of shape {out[name].shape}, "
                    f"expected {(1, len(columns))} for columns {columns}"
                )

    def request_inputs(self, windows: Sequence[Bars], tensors: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The graph inputs of one request: features of `windows` for the bars input, `tensors` for the rest.

        A model without a bars input takes no windows; caller-supplied tensors must be finite. Shapes
        are checked where the inputs are run (`predict`, or the batching queue), once.
        """
        besides = f" besides windows of bars for {self.bars_input.name!r}" if self.bars_input else ""
        check_names(self.tensor_inputs, tensors, self.name, besides)
        check_finite(tensors)
        inputs = dict(tensors)
        if self.bars_input is None:
            if windows:
                raise InvalidInput(
                    f"{len(windows)} windows of bars: model {self.name} takes tensors only "
                    f"({', '.join(i.name for i in self.tensor_inputs)})"
                )
        else:
            if not windows:
                raise InvalidInput(
                    f"no windows: model {self.name} needs at least one window of bars "
                    f"for its input {self.bars_input.name!r}"
                )
            inputs[self.bars_input.name] = np.stack(
                [self.featurizer.window(w, f"window {i}") for i, w in enumerate(windows)]
            ).astype(np.float32)
        return inputs

    def predict_windows(self, windows: Sequence[Bars], tensors: Mapping[str, np.ndarray] | None = None) -> np.ndarray:
        """(N, len(columns)) outputs, one row per window of raw bars (each of `bars_required` bars),
        with `tensors` {name: (N, ...)} for a model's other inputs."""
        return join_outputs(self.predict(self.request_inputs(windows, tensors or {})))

    def predict_series(
        self, bars: Bars, index: pd.Index | None = None, tensors: Mapping[str, np.ndarray] | None = None
    ) -> pd.DataFrame:
        """Outputs (`columns`) for every bar that has `bars_required` bars of history, rows named by `index`.

        Features are computed once over the whole series, so this is the fast path for backtests.
        `tensors` gives a model's other inputs one row per bar, aligned with `bars`; bars whose
        rows are not finite (fundamentals not yet published) get NaN outputs.
        """
        n, positions, windows = self.featurizer.series(bars)
        assert self.bars_input is not None  # series raised InvalidInput for a model that takes no bars
        if index is None:
            index = bars.index if isinstance(bars, pd.DataFrame) else pd.RangeIndex(n)
        rows = series_rows(self.tensor_inputs, tensors or {}, n, self.name)
        others = {name: x[positions] for name, x in rows.items()}
        known = np.ones(len(windows), dtype=bool)
        for x in others.values():
            known &= np.isfinite(x.reshape(len(x), -1)).all(axis=1)
        out = np.full((n - positions[0], len(self.columns)), np.nan, dtype=np.float32)
        scored = np.flatnonzero(known)
        for i in range(0, len(scored), BATCH):
            at = scored[i : i + BATCH]
            batch = {self.bars_input.name: windows[at], **{name: x[at] for name, x in others.items()}}
            out[positions[at] - positions[0]] = join_outputs(self.predict(batch))
        return pd.DataFrame(out, index=index[positions[0] :], columns=self.columns)
