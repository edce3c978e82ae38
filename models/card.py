"""The model card: everything needed to use an exported model, stored in the ONNX file's metadata.

One JSON document under the metadata key `signalstack`. The server and the plugin read it with
onnxruntime alone; nothing here imports torch or the training code.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping

from .features import FeatureSpec
from .labels import LabelSpec

METADATA_KEY = "signalstack"
CARD_VERSION = 1


INPUT_SOURCES = ("bars", "intraday", "tensor")
BAR_SOURCES = ("bars", "intraday")
"""Input sources that the runtime computes from bars; the others are supplied as tensors."""


@dataclass(frozen=True)
class TensorInfo:
    """A named model input or output; shape excludes the batch axis.

    `columns` names the values along the last axis: an input's features (e.g. the columns of a
    fundamentals DataFrame, in order) or an output's classes / forecast steps. `source` says how
    a caller makes an input: "bars" = computed from OHLCV bars with the card's feature spec and
    window (the newest row only for a 1-D shape), "intraday" = computed from intraday bars with
    their times, as (days, bars per day, features) or (bars per day, features) blocks of each
    day's last bars (see intraday.py), "tensor" = supplied as-is by the caller. Outputs have no
    source.
    """

    name: str
    shape: tuple[int, ...]
    dtype: str = "float32"
    columns: tuple[str, ...] = ()
    source: str = ""

    def __post_init__(self) -> None:
        if self.source not in ("", *INPUT_SOURCES):
            raise ValueError(f"tensor {self.name!r} source {self.source!r}: expected one of {INPUT_SOURCES}")

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any], is_input: bool) -> TensorInfo:
        # Files written before `columns`/`source` existed had one input, made from bars.
        source = doc.get("source", "bars" if is_input else "")
        return cls(doc["name"], tuple(doc["shape"]), doc["dtype"], tuple(doc.get("columns", ())), source)


@dataclass(frozen=True)
class ModelCard:
    architecture: str
    params: Mapping[str, Any]
    features: Mapping[str, Any]
    scaler: Mapping[str, Any]
    window: int
    label: Mapping[str, Any]
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]
    train_range: tuple[str, str]
    val_range: tuple[str, str]
    test_range: tuple[str, str]
    embargo: int
    metrics: Mapping[str, float]
    data_source: str = ""
    created: str = ""
    version: int = CARD_VERSION
    extra: Mapping[str, Any] = field(default_factory=dict)
    targets: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """{output name: label spec dict} of a multi-output model; `label` is then the first output's."""
    spec: Mapping[str, Any] = field(default_factory=dict)
    """The layer graph the model was built from (see zoo/spec.py); empty in files from before the zoo."""

    @property
    def horizon(self) -> int:
        return int(self.label["horizon"])

    @property
    def classes(self) -> list[str]:
        return list(self.label["classes"])

    @property
    def feature_spec(self) -> FeatureSpec:
        return FeatureSpec.from_dict(self.features)

    @property
    def label_spec(self) -> LabelSpec:
        return LabelSpec.from_dict(self.label)

    @property
    def warmup(self) -> int:
        return int(self.features["warmup"])

    @property
    def bars_input(self) -> TensorInfo | None:
        """The input made from bars (source "bars" or "intraday"), or None for a tensors-only model."""
        return next((i for i in self.inputs if i.source in BAR_SOURCES), None)

    @property
    def tensor_inputs(self) -> tuple[TensorInfo, ...]:
        """The inputs a caller supplies as tensors."""
        return tuple(i for i in self.inputs if i.source not in BAR_SOURCES)

    @property
    def intraday(self) -> bool:
        """Whether the bars input is day x intraday blocks of intraday bars."""
        return self.bars_input is not None and self.bars_input.source == "intraday"

    @property
    def bars_required(self) -> int:
        """Raw bars a prediction needs at least: the window (of bars, or of days of intraday bars)
        plus the features' warm-up."""
        return self.warmup + self.window * (self.bars_input.shape[-2] if self.intraday else 1)

    def to_json(self) -> str:
        doc = asdict(self)
        doc["horizon"] = self.horizon
        doc["classes"] = self.classes
        return json.dumps(doc, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ModelCard:
        doc = json.loads(text)
        if doc.get("version") != CARD_VERSION:
            raise ValueError(f"model card version {doc.get('version')!r}: expected {CARD_VERSION}")
        doc.pop("horizon", None)
        doc.pop("classes", None)
        doc["inputs"] = tuple(TensorInfo.from_dict(t, is_input=True) for t in doc["inputs"])
        doc["outputs"] = tuple(TensorInfo.from_dict(t, is_input=False) for t in doc["outputs"])
        for key in ("train_range", "val_range", "test_range"):
            doc[key] = tuple(doc[key])
        return cls(**doc)
