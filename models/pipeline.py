"""Bars -> dataset -> training -> ONNX: what `signalstack train` runs, and the export step of any dataset."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd

from .card import ModelCard, TensorInfo
from .export import export_onnx
from .features import FeatureSpec
from .fundamentals import fundamental_dataset
from .labels import LabelSpec
from .network import Head, SignalNet
from .train import TrainConfig, TrainResult, train
from .windows import Dataset, build_dataset

log = logging.getLogger(__name__)

PARITY_WINDOWS = 256


@dataclass(frozen=True)
class TrainedModel:
    path: Path
    card: ModelCard
    result: TrainResult
    artefacts: Path
    parity: float


def train_and_export(bars: pd.DataFrame, out: Path, *, architecture: str | Path = "lstm",
                     labels: LabelSpec = LabelSpec(), features: FeatureSpec | None = None, window: int = 60,
                     config: TrainConfig = TrainConfig(), data_source: str = "",
                     params: dict[str, Any] | None = None,
                     fundamentals: pd.DataFrame | None = None) -> TrainedModel:
    """Train on the first 70% of `bars` (by time), validate and test on the rest, export to `out`.

    `architecture` is a zoo name or a spec file (.yaml/.yml/.json). Training artefacts
    (checkpoint, curves, metrics) go to a folder beside `out` named `<stem>.training`.
    `fundamentals` (dated factor rows) makes a two-input set for the dual and multitask nets;
    a multitask net's second head forecasts the return over the same horizon as `labels`.
    """
    out = _onnx_path(out)
    spec = features or FeatureSpec.default()
    if fundamentals is None:
        dataset = build_dataset(bars, spec, labels, window)
    else:
        targets = labels
        if str(architecture) == "multitask":
            targets = {labels.output_name: labels, "forecast": LabelSpec("regression", labels.horizon)}
        dataset = fundamental_dataset(bars, fundamentals, spec, targets, window)
    return train_dataset_and_export(dataset, out, architecture=architecture, config=config, data_source=data_source,
                                    params=params)


def train_dataset_and_export(dataset: Dataset, out: Path, *, architecture: str | Path,
                             config: TrainConfig = TrainConfig(), data_source: str = "",
                             params: dict[str, Any] | None = None) -> TrainedModel:
    """Train on any dataset (multi-input, multi-output, pairs, images...) and export what it serves."""
    out = _onnx_path(out)
    artefacts = out.with_name(out.stem + ".training")
    result = train(dataset, architecture, config, artefacts, **(params or {}))
    serving = result.net.for_serving()
    card = make_card(result, serving, dataset, architecture=str(architecture), data_source=data_source,
                     extra={"best_epoch": result.best_epoch, "train_device": result.device, "seed": config.seed})
    parity = export_onnx(serving, card, out, _serving_inputs(result.net, serving, dataset.x_of(dataset.test),
                                                            PARITY_WINDOWS))
    return TrainedModel(out, card, result, artefacts, parity)


def _onnx_path(out: Path) -> Path:
    out = Path(out)
    if out.suffix != ".onnx":
        raise ValueError(f"--out {out}: expected a path ending in .onnx")
    return out


def _serving_inputs(net: SignalNet, serving: SignalNet, x: dict[str, Any], limit: int) -> dict[str, Any]:
    """The first `limit` samples of `x`, named as the serving net's inputs."""
    names = _served_inputs(net, serving)
    return {new: x[old][:limit] for new, old in names.items()}


def _served_inputs(net: SignalNet, serving: SignalNet) -> dict[str, str]:
    """{served input name: training input name}."""
    if serving is net:
        return {name: name for name in net.input_names}
    return dict(net.body.spec.serve["inputs"])


def make_card(result: TrainResult, serving: SignalNet, dataset: Dataset, *, architecture: str,
              data_source: str = "", extra: dict[str, Any] | None = None) -> ModelCard:
    """The model card of `serving` (the trained net, or the part it serves) trained on `dataset`."""
    infos = {i.name: i for i in dataset.inputs}
    inputs = tuple(replace(infos[old], name=new, shape=serving.body.shapes[new])
                   for new, old in _served_inputs(result.net, serving).items())
    targets = dataset.targets
    first = next(iter(targets.values()))
    outputs = tuple(TensorInfo(head.name, serving.body.shapes[node],
                               columns=_columns(head, targets.get(head.name, first)))
                    for head, node in zip(serving.heads, serving.body.output_nodes))
    scalers = {name: serving.scaler(name) for name in serving.input_names}
    scaled = {name: s.to_dict() for name, s in scalers.items() if s is not None}
    return ModelCard(
        architecture=architecture, params=result.params, features=dataset.features.to_dict(),
        scaler=next(iter(scaled.values())) if len(scalers) == 1 and scaled else scaled,
        window=dataset.window, label=first.to_dict(), inputs=inputs, outputs=outputs,
        train_range=dataset.train.time_range, val_range=dataset.val.time_range,
        test_range=dataset.test.time_range, embargo=dataset.embargo, metrics=result.metrics,
        data_source=data_source, created=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        extra=extra or {},
        targets={name: label.to_dict() for name, label in targets.items()} if len(targets) > 1 else {},
        spec=result.net.body.spec.to_dict(),
    )


def _columns(head: Head, label: LabelSpec) -> tuple[str, ...]:
    """Names of an output's values: classes, forecast steps, the positive class of a sigmoid, or the score."""
    if not head.loss:
        return (head.name,)
    if head.loss == "binary_crossentropy":
        return (label.classes[-1],)
    return tuple(label.columns)
