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


@dataclass(frozen=True)
class TensorInfo:
    """A named model input or output; shape excludes the batch axis."""

    name: str
    shape: tuple[int, ...]
    dtype: str = "float32"


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
    def bars_required(self) -> int:
        """Raw bars a prediction needs: the window plus the features' warm-up."""
        return self.warmup + self.window

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
        doc["inputs"] = tuple(TensorInfo(t["name"], tuple(t["shape"]), t["dtype"]) for t in doc["inputs"])
        doc["outputs"] = tuple(TensorInfo(t["name"], tuple(t["shape"]), t["dtype"]) for t in doc["outputs"])
        for key in ("train_range", "val_range", "test_range"):
            doc[key] = tuple(doc[key])
        return cls(**doc)
