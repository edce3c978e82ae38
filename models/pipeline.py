"""Bars -> dataset -> training -> ONNX: what `signalstack train` runs, and the export step of any dataset."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd

from signalstack.core import fingerprint
from signalstack.core.card import ModelCard, TensorInfo
from signalstack.core.errors import SettingsError
from signalstack.core.features import FeatureSpec
from signalstack.core.labels import LabelSpec

from .config import INTRADAY_DAYS, WINDOW, TrainConfig
from .export import export_onnx
from .fundamentals import fundamental_dataset
from .images import factor_images
from .intraday import intraday_dataset
from .network import Head, SignalNet
from .pairs import rank_pairs
from .train import TrainResult, train
from .windows import Dataset, build_dataset
from .zoo import get_entry, list_models, load_spec
from .zoo.spec import is_spec_path

log = logging.getLogger(__name__)

PARITY_WINDOWS = 256


@dataclass(frozen=True)
class TrainedModel:
    path: Path
    card: ModelCard
    result: TrainResult
    artefacts: Path
    parity: float


Bars = pd.DataFrame | Mapping[str, pd.DataFrame]
"""One bar series, or {symbol: bars} for a panel (several symbols, in order: the first is the target)."""


WINDOWS, INTRADAY, IMAGES, PAIRS, FUNDAMENTALS = "windows", "intraday", "images", "pairs", "fundamentals"
"""The data layouts `dataset_for` builds, named after what a net's declared inputs ask for."""

READS = {
    WINDOWS: "(window, features) windows of one bar series",
    FUNDAMENTALS: "dated fundamentals beside windows of one bar series",
    INTRADAY: "day x intraday blocks of one series of intraday bars",
    IMAGES: "factor images of the data's symbols",
    PAIRS: "pairs of the data's symbols",
}
"""What each layout's samples are made of, in words."""


def train_and_export(
    bars: Bars,
    out: Path,
    *,
    architecture: str | Path = "lstm",
    labels: LabelSpec = LabelSpec(),
    features: FeatureSpec | None = None,
    window: int = WINDOW,
    config: TrainConfig = TrainConfig(),
    data_source: str = "",
    params: dict[str, Any] | None = None,
    fundamentals: pd.DataFrame | None = None,
    days: int | None = None,
    bars_per_day: int | None = None,
    image: tuple[int, int] | None = None,
    pairs_per_date: int | None = None,
) -> TrainedModel:
    """Train on the first 70% of the samples (by time), validate and test on the rest, export to `out`.

    `architecture` is a zoo name or a spec file (.yaml/.yml/.json); `bars` one series, or
    {symbol: bars} for the nets that read several (see `dataset_for`, which builds the set
    the architecture's inputs ask for). Training artefacts (checkpoint, curves, metrics) go to
    a folder beside `out` named `<stem>.training`. `fundamentals` (dated factor rows) makes a
    two-input set for the dual and multitask nets; a multitask net's second head forecasts the
    return over the same horizon as `labels`.
    """
    out = _onnx_path(out)
    dataset = dataset_for(
        architecture,
        bars,
        features=features,
        labels=labels,
        window=window,
        fundamentals=fundamentals,
        days=days,
        bars_per_day=bars_per_day,
        image=image,
        pairs_per_date=pairs_per_date,
    )
    return train_dataset_and_export(
        dataset,
        out,
        architecture=architecture,
        config=config,
        data_source=data_source,
        params=params,
        data_digest=fingerprint.data_digest(bars, fundamentals),
    )


def declared_inputs(architecture: str | Path) -> dict[str, tuple[int | None, ...]]:
    """{input name: shape} as the zoo registers the net (its post's sizes) or its spec file declares it."""
    if is_spec_path(architecture):
        return {i.name: i.shape for i in load_spec(architecture).inputs}
    return dict(get_entry(str(architecture)).inputs)


def input_layout(inputs: Mapping[str, tuple[int | None, ...]], bars_per_day: int | None = None) -> str:
    """The data layout a net's declared inputs ask for (never its name):

    an `images` input -> IMAGES (factor images of the panel's symbols); a `fundamentals` input ->
    FUNDAMENTALS (dated factors beside windows); two inputs of one shape -> PAIRS (the same kind
    of row for two stocks: the ranking net); one (days, bars per day, features) input ->
    INTRADAY; one (T, F) input -> WINDOWS of bars, or one-day INTRADAY blocks when
    `bars_per_day` is given (the Conv1D net over a day's minute bars).
    """
    shapes = list(inputs.values())
    if "images" in inputs:
        return IMAGES
    if "fundamentals" in inputs:
        return FUNDAMENTALS
    if len(shapes) == 2 and shapes[0] == shapes[1]:
        return PAIRS
    if len(shapes) == 1 and len(shapes[0]) == 3:
        return INTRADAY
    if len(shapes) == 1:
        return INTRADAY if bars_per_day is not None else WINDOWS
    raise SettingsError(
        f"inputs {', '.join(inputs)}: no data builder makes them (expected one input of bars, "
        "images, two of one shape for pairs, or fundamentals beside features)"
    )


def dataset_for(
    architecture: str | Path,
    bars: Bars,
    *,
    features: FeatureSpec | None = None,
    labels: LabelSpec = LabelSpec(),
    window: int = WINDOW,
    fundamentals: pd.DataFrame | None = None,
    days: int | None = None,
    bars_per_day: int | None = None,
    image: tuple[int, int] | None = None,
    pairs_per_date: int | None = None,
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15),
    embargo: int | None = None,
) -> Dataset:
    """The training set `architecture` takes, by its declared inputs (`input_layout`), from bars:

    - WINDOWS: `build_dataset`, (window, features) windows of one series.
    - FUNDAMENTALS: `fundamental_dataset` of one series and `fundamentals`.
    - INTRADAY: `intraday_dataset` of one series of intraday bars: `days` days (default
      INTRADAY_DAYS) of each day's last `bars_per_day` bars (default: the most common number of
      bars per date, so full sessions are kept and short ones skipped); a (T, F) net given
      `bars_per_day` reads one day's block. Label horizons count days.
    - IMAGES: `factor_images` of the panel, one channel per symbol, `window` days of factor rows
      (reshaped to `image` = (height, width) when given), labelled on the first symbol.
    - PAIRS: `rank_pairs` of the panel (at least two symbols): every ordered pair per shared date,
      or `pairs_per_date` drawn; labelled by who does better over `labels.horizon` bars.

    `bars` is one series or {symbol: bars}; a single-series layout takes a panel of one. `fractions`
    and `embargo` (default: the label horizon) are the builders' split by time: a walk-forward fold
    (research/walkforward.py) passes its own, so its scaler is fitted on its fit rows alone.
    """
    model = f"--model {architecture}"
    declared = declared_inputs(architecture)
    layout = input_layout(declared, bars_per_day)
    spec = features or FeatureSpec.default()
    panel = dict(bars) if isinstance(bars, Mapping) else {"bars": bars}
    given = {
        "--days": days,
        "--bars-per-day": bars_per_day,
        "--image": image,
        "--pairs-per-date": pairs_per_date,
        "--fundamentals": fundamentals,
    }
    used = {
        WINDOWS: (),
        FUNDAMENTALS: ("--fundamentals",),
        INTRADAY: ("--days", "--bars-per-day"),
        IMAGES: ("--image",),
        PAIRS: ("--pairs-per-date",),
    }[layout]
    unused = [flag for flag, value in given.items() if value is not None and flag not in used]
    if unused:
        value = given[unused[0]]
        shown = (
            ""
            if isinstance(value, pd.DataFrame)
            else " " + (",".join(map(str, value)) if isinstance(value, tuple) else str(value))
        )
        raise SettingsError(f"{unused[0]}{shown}: not used by {model}, which reads {READS[layout]}")
    for flag, value in (
        ("--days", days),
        ("--bars-per-day", bars_per_day),
        ("--pairs-per-date", pairs_per_date),
        ("--window", window),
    ):
        if value is not None and value < 1:
            raise SettingsError(f"{flag} {value}: expected a positive integer")
    if layout == PAIRS:
        if len(panel) < 2:
            raise SettingsError(f"{model} needs at least 2 --data series, got {len(panel)}")
        if labels.kind not in ("binary", "pair"):
            raise SettingsError(
                f"--labels {labels.kind}: {model} trains on pair labels (1 when the first stock's "
                f"return over --horizon bars beats the second's); expected the default labels"
            )
        return rank_pairs(
            panel, spec, labels.horizon, pairs_per_date=pairs_per_date, fractions=fractions, embargo=embargo
        )
    if layout == IMAGES:
        if image is not None and (len(image) != 2 or min(image) < 1):
            raise SettingsError(f"--image {','.join(map(str, image))}: expected HEIGHT,WIDTH, two positive integers")
        return factor_images(
            panel,
            spec,
            labels,
            days=window,
            shape=tuple(image) if image else None,
            fractions=fractions,
            embargo=embargo,
        )
    if len(panel) != 1:
        raise SettingsError(
            f"{model} reads {READS[layout]}, got {len(panel)} --data; several are for nets with "
            "an images input or a pair of inputs (inception, rank)"
        )
    series = next(iter(panel.values()))
    if layout == FUNDAMENTALS:
        if fundamentals is None:
            raise SettingsError(f"{model} needs --fundamentals CSV (its inputs: {', '.join(declared)})")
        return fundamental_dataset(
            series, fundamentals, spec, _targets(architecture, labels), window, fractions=fractions, embargo=embargo
        )
    if layout == INTRADAY:
        typical = session_length(series)
        if typical < 2:
            raise SettingsError(
                f"{model} reads {READS[INTRADAY]}: the bars have {typical} bar per day "
                "(expected intraday bars, several per day, such as 5-minute bars)"
            )
        one_day = len(next(iter(declared.values()))) != 3
        if one_day and days is not None:
            raise SettingsError(
                f"--days {days}: not used by {model}, which reads one day's block (bars per day, features)"
            )
        return intraday_dataset(
            series,
            spec,
            labels,
            days=None if one_day else (days or INTRADAY_DAYS),
            bars_per_day=bars_per_day or typical,
            fractions=fractions,
            embargo=embargo,
        )
    return build_dataset(series, spec, labels, window, fractions=fractions, embargo=embargo)


def session_length(bars: pd.DataFrame) -> int:
    """The most common number of bars per date (the larger on a tie): a full session's bar count."""
    counts = pd.Series(pd.DatetimeIndex(bars.index).normalize()).value_counts()
    return int(counts.value_counts().sort_index(ascending=False).idxmax()) if len(counts) else 0


def train_dataset_and_export(
    dataset: Dataset,
    out: Path,
    *,
    architecture: str | Path,
    config: TrainConfig = TrainConfig(),
    data_source: str = "",
    params: dict[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
    data_digest: Mapping[str, str] | None = None,
) -> TrainedModel:
    """Train on any dataset (multi-input, multi-output, pairs, images...) and export what it serves.

    `extra`: more fields for the card's `extra` (a research run's record of a rule the label
    spec cannot name, such as a panel's cross-sectional labels); `data_digest`: the card's
    fingerprint of the data the set was built from (`core.fingerprint.data_digest`)."""
    out = _onnx_path(out)
    artefacts = out.with_name(out.stem + ".training")
    result = train(dataset, architecture, config, artefacts, **(params or {}))
    serving = result.net.for_serving()
    card = make_card(
        result,
        serving,
        dataset,
        architecture=str(architecture),
        data_source=data_source,
        data_digest=data_digest,
        extra={"best_epoch": result.best_epoch, "train_device": result.device, "seed": config.seed, **(extra or {})},
    )
    parity = export_onnx(
        serving, card, out, _serving_inputs(result.net, serving, dataset.x_of(dataset.test), PARITY_WINDOWS)
    )
    return TrainedModel(out, card, result, artefacts, parity)


def has_forecast_head(architecture: str | Path) -> bool:
    """Whether a zoo net declares a forecast output beside another (the multitask net)."""
    declared = get_entry(str(architecture)).n_outputs if str(architecture) in list_models() else None
    return isinstance(declared, Mapping) and "forecast" in declared and len(declared) > 1


def _targets(architecture: str | Path, labels: LabelSpec) -> LabelSpec | dict[str, LabelSpec]:
    """`labels`, or a label per output for a net with a forecast head beside its first: that head forecasts the
    return over the same horizon."""
    if not has_forecast_head(architecture):
        return labels
    return {labels.output_name: labels, "forecast": LabelSpec("regression", labels.horizon)}


def _onnx_path(out: Path) -> Path:
    out = Path(out)
    if out.suffix != ".onnx":
        raise SettingsError(f"--out {out}: expected a path ending in .onnx")
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


def make_card(
    result: TrainResult,
    serving: SignalNet,
    dataset: Dataset,
    *,
    architecture: str,
    data_source: str = "",
    extra: dict[str, Any] | None = None,
    data_digest: Mapping[str, str] | None = None,
) -> ModelCard:
    """The model card of `serving` (the trained net, or the part it serves) trained on `dataset`."""
    infos = {i.name: i for i in dataset.inputs}
    inputs = tuple(
        replace(infos[old], name=new, shape=serving.body.shapes[new])
        for new, old in _served_inputs(result.net, serving).items()
    )
    targets = dataset.targets
    first = next(iter(targets.values()))
    outputs = tuple(
        TensorInfo(head.name, serving.body.shapes[node], columns=_columns(head, targets.get(head.name, first)))
        for head, node in zip(serving.heads, serving.body.output_nodes)
    )
    scalers = {name: serving.scaler(name) for name in serving.input_names}
    return ModelCard(
        architecture=architecture,
        params=result.params,
        features=dataset.features,
        scalers={name: s for name, s in scalers.items() if s is not None},
        window=dataset.window,
        label=first,
        inputs=inputs,
        outputs=outputs,
        train_range=dataset.train.time_range,
        val_range=dataset.val.time_range,
        test_range=dataset.test.time_range,
        embargo=dataset.embargo,
        metrics=result.metrics,
        data_source=data_source,
        created=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        extra=extra or {},
        targets=dict(targets) if len(targets) > 1 else {},
        spec=result.net.body.spec.to_dict(),
        data_digest=dict(data_digest or {}),
    )


def _columns(head: Head, label: LabelSpec) -> tuple[str, ...]:
    """Names of an output's values: classes, forecast steps, the positive class of a sigmoid, or the score."""
    if not head.loss:
        return (head.name,)
    if head.loss == "binary_crossentropy":
        return (label.classes[-1],)
    return tuple(label.columns)
