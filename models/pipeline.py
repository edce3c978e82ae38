"""Bars -> dataset -> training -> ONNX: what `signalstack train` runs."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from .card import ModelCard, TensorInfo
from .export import export_onnx
from .features import FeatureSpec
from .labels import LabelSpec
from .train import TrainConfig, TrainResult, train
from .windows import build_dataset

log = logging.getLogger(__name__)

PARITY_WINDOWS = 256


@dataclass(frozen=True)
class TrainedModel:
    path: Path
    card: ModelCard
    result: TrainResult
    artefacts: Path
    parity: float


def train_and_export(bars: pd.DataFrame, out: Path, *, architecture: str = "lstm",
                     labels: LabelSpec = LabelSpec(), features: FeatureSpec | None = None, window: int = 60,
                     config: TrainConfig = TrainConfig(), data_source: str = "",
                     params: dict[str, Any] | None = None) -> TrainedModel:
    """Train on the first 70% of `bars` (by time), validate and test on the rest, export to `out`.

    Training artefacts (checkpoint, curves, metrics) go to a folder beside `out` named
    `<stem>.training`.
    """
    out = Path(out)
    if out.suffix != ".onnx":
        raise ValueError(f"--out {out}: expected a path ending in .onnx")
    features = features or FeatureSpec.default()
    dataset = build_dataset(bars, features, labels, window)
    artefacts = out.with_name(out.stem + ".training")
    result = train(dataset, architecture, config, artefacts, **(params or {}))
    regression = labels.kind == "regression"
    card = ModelCard(
        architecture=architecture, params=result.params, features=features.to_dict(),
        scaler=dataset.scaler.to_dict(), window=window, label=labels.to_dict(),
        inputs=(TensorInfo("features", (window, len(features.columns))),),
        outputs=(TensorInfo("forecast" if regression else "probabilities", (1 if regression else len(labels.classes),)),),
        train_range=dataset.train.time_range, val_range=dataset.val.time_range,
        test_range=dataset.test.time_range, embargo=dataset.embargo, metrics=result.metrics,
        data_source=data_source, created=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        extra={"best_epoch": result.best_epoch, "train_device": result.device, "seed": config.seed},
    )
    parity = export_onnx(result.net, card, out, dataset.test.x[:PARITY_WINDOWS])
    return TrainedModel(out, card, result, artefacts, parity)
