"""The model card: everything needed to use an exported model, stored in the ONNX file's metadata.

One JSON document under the metadata key `signalstack`. The server and the plugin read it with
onnxruntime alone; nothing here imports torch or the training code. In Python the card's parts
are typed (`FeatureSpec`, `LabelSpec`, `Scaler`, `TensorInfo`); the JSON keeps the layout of the
first files, so every model exported since still loads.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from .features import FeatureSpec
from .labels import LabelSpec
from .scaler import Scaler

METADATA_KEY = "signalstack"
CARD_VERSION = 1


ORIGINS = ("bars", "intraday", "tensor")
"""How a caller makes a model input; see `TensorInfo.origin`."""
BAR_ORIGINS = ("bars", "intraday")
"""Origins of the inputs the runtime computes from bars; the others are supplied as tensors."""


@dataclass(frozen=True)
class TensorInfo:
    """A named model input or output; shape excludes the batch axis.

    `columns` names the values along the last axis: an input's features (e.g. the columns of a
    fundamentals DataFrame, in order) or an output's columns (classes, forecast steps, score).
    `origin` says how a caller makes an input: "bars" = computed from OHLCV bars with the card's
    features and window (the newest row only for a 1-D shape), "intraday" = computed from
    intraday bars with their times, as (days, bars per day, features) or (bars per day, features)
    blocks of each day's last bars (see days.py), "tensor" = supplied as is by the caller.
    Outputs have no origin. (The card's JSON calls it "source", as the first files did.)
    """

    name: str
    shape: tuple[int, ...]
    dtype: str = "float32"
    columns: tuple[str, ...] = ()
    origin: str = ""

    def __post_init__(self) -> None:
        if self.origin not in ("", *ORIGINS):
            raise ValueError(f"tensor {self.name!r} origin {self.origin!r}: expected one of {ORIGINS}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "shape": list(self.shape),
            "dtype": self.dtype,
            "columns": list(self.columns),
            "source": self.origin,
        }

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any], is_input: bool) -> TensorInfo:
        # Files written before `columns`/`source` existed had one input, made from bars.
        origin = doc.get("source", "bars" if is_input else "")
        return cls(doc["name"], tuple(doc["shape"]), doc["dtype"], tuple(doc.get("columns", ())), origin)


@dataclass(frozen=True)
class ModelCard:
    """What an exported model needs to be used: how its inputs are made and what its outputs mean.

    `scalers` holds the standardisation fitted on the training rows of each scaled input (already
    applied inside the graph; kept for the record). `targets` holds the label of each output of a
    multi-output model; `label` is the first output's.
    """

    architecture: str
    params: Mapping[str, Any]
    features: FeatureSpec
    scalers: Mapping[str, Scaler]
    window: int
    label: LabelSpec
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
    targets: Mapping[str, LabelSpec] = field(default_factory=dict)
    spec: Mapping[str, Any] = field(default_factory=dict)
    """The layer graph the model was built from (see zoo/spec.py); empty in files from before the zoo."""
    data_digest: Mapping[str, str] = field(default_factory=dict)
    """`core.fingerprint.data_digest` of the data the model was trained from: {"bars": ...} and, for a net that
    reads dated factors, {"fundamentals": ...}; empty in files from before it was recorded."""

    @property
    def horizon(self) -> int:
        return self.label.horizon

    @property
    def classes(self) -> list[str]:
        return self.label.classes

    @property
    def warmup(self) -> int:
        return self.features.warmup

    @property
    def bars_input(self) -> TensorInfo | None:
        """The input made from bars (origin "bars" or "intraday"), or None for a tensors-only model."""
        return next((i for i in self.inputs if i.origin in BAR_ORIGINS), None)

    @property
    def tensor_inputs(self) -> tuple[TensorInfo, ...]:
        """The inputs a caller supplies as tensors."""
        return tuple(i for i in self.inputs if i.origin not in BAR_ORIGINS)

    @property
    def intraday(self) -> bool:
        """Whether the bars input is day x intraday blocks of intraday bars."""
        return self.bars_input is not None and self.bars_input.origin == "intraday"

    @property
    def bars_required(self) -> int:
        """Raw bars a prediction needs at least: the window (of bars, or of days of intraday bars)
        plus the features' warm-up."""
        days = self.bars_input.shape[-2] if self.bars_input is not None and self.intraday else 1
        return self.warmup + self.window * days

    def to_json(self) -> str:
        doc = asdict(self)
        doc["features"] = self.features.to_dict()
        doc["inputs"] = [i.to_dict() for i in self.inputs]
        doc["outputs"] = [o.to_dict() for o in self.outputs]
        doc["label"] = self.label.to_dict()
        doc["targets"] = {name: label.to_dict() for name, label in self.targets.items()}
        scalers = {name: s.to_dict() for name, s in self.scalers.items()}
        # One scaled input is stored flat, as the first files had it.
        doc["scaler"] = next(iter(scalers.values())) if len(scalers) == 1 and len(self.inputs) == 1 else scalers
        del doc["scalers"]
        doc["horizon"] = self.horizon
        doc["classes"] = self.classes
        if not self.data_digest:  # not recorded: written as the files from before it were
            del doc["data_digest"]
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
        doc["features"] = FeatureSpec.from_dict(doc["features"])
        doc["label"] = LabelSpec.from_dict(doc["label"])
        doc["targets"] = {name: LabelSpec.from_dict(label) for name, label in doc.get("targets", {}).items()}
        scaler = doc.pop("scaler")
        if "mean" in scaler:  # one input, stored flat
            scaler = {doc["inputs"][0].name: scaler}
        doc["scalers"] = {name: Scaler.from_dict(s) for name, s in scaler.items()}
        for key in ("train_range", "val_range", "test_range"):
            doc[key] = tuple(doc[key])
        return cls(**doc)
