"""Experiment files: one YAML document says everything a research run does, so a run can be repeated.

Schema (every key is optional but `data.path`; a key not listed here is an error that names it and
the valid ones, so a typo never silently falls back to a default):

    data:          {path: FILE.csv | sample:NAME | [A.csv, B.csv, ...], start: DATE, end: DATE}
                   a relative path is read from the experiment file's folder; bars outside
                   [start, end] are never read (features warm up inside the period); a list of
                   paths is a panel (research/panel.py): one model on every symbol's windows,
                   the symbol being the file's stem (for inception: one image channel per
                   symbol; for rank: pairs of the symbols; see below)
    features:      default | {features: [{kind: ret, params: {n: 1}}, ...]}     (FeatureSpec.from_dict)
    labels:        {kind: binary | three | regression | path | cross_sectional, horizon: 1, up: 0.025, down: -0.01}
                   (up and down are the three-class thresholds; cross_sectional, panels only: 1 when
                   a symbol's h-bar forward return beats the universe's median on that date; path,
                   one series only: the h returns close[t+k]/close[t] - 1, k = 1..h, for many-to-many
                   regressors such as lstm_regressor_seq: mae and rmse over every step, IC and trading
                   on the last, t+h; predictions.csv holds t+1 .. t+h and label.t+1 .. label.t+h)
    model:         {name: lstm, params: {hidden: [32, 32]}}   a zoo name, or a .yaml/.yml/.json spec
                   file (read from the experiment file's folder; a spec file takes no params)
    window:        60       feature rows per input window
    train:         {epochs: 30, batch_size: 64, lr: 0.001, optimizer: adam, weight_decay: 0.0,
                    patience: 5, clip_norm: 1.0, device: auto, precision: auto}
                                                (TrainConfig; the seed comes from `seeds`)
    walk_forward:  {train: 1000, test: 250, step: 250, expanding: false, embargo: auto, val: 0.2}
                   in samples (one per bar): `train` samples per training window (the first one,
                   when expanding), `test` per fold, a new fold every `step` (default: test;
                   at least test, so each bar is tested once), `embargo` samples dropped before
                   each test period and before the validation tail (auto: the label horizon; less
                   is refused), `val` the share of each training window held out, at its end, for
                   early stopping
    seeds:         1        each fold's model is trained with seeds 0 .. seeds-1
    baselines:     [majority, logistic, gbm, buy_and_hold]   (regression: [mean, ridge, gbm, buy_and_hold]);
                   default: all of them
    surrogates:    {kind: random_walk | block_shuffle, n: 0, block: 20, seed: 0}
                   n series with no signal, each run through the same folds and seeds (0: none)
    backtest:      {buy_threshold: 0.55, sell_threshold: 0.45, ...}   run_backtest / SignalStrategy
                   keywords; regression models trade line forecast with thresholds 0 unless told;
                   a panel's: {top_k: half the universe, rebalance: the horizon, cash, commission,
                   slippage, stake, periods_per_year} (RankingStrategy on the stitched scores)
    export:        true     write each fold's model as ONNX with its card (a few seconds per model)
    symbol_embedding: false  a panel's: one-hot symbol channels beside the features in every window row
                   (the first layer learns a vector per symbol); such a model needs the symbol, which
                   bars alone do not give, so it is not exported (export: false is required)
    search:        {trials: 20, folds: 1, seed: 0, pruner: median, startup: 5,
                    params: {lr: [0.0001, 0.01, log], hidden: [16, 256, log], optimizer: [adam, sgd]}}
                   the space `signalstack tune` explores (research/search.py; `signalstack run` ignores it)

The nets whose declared inputs are not one window of bars get the samples `signalstack train` builds
for them (models/pipeline.dataset_for, chosen by the inputs, never by the name), with these keys:

    fundamentals:  FILE.csv   two-input nets (dual_rnn, dual_lstm, multitask): dated factors (first
                   column: the date each row became known; relative to the experiment's folder);
                   a sample at bar t sees the latest row dated <= t. Positions count bars.
    intraday:      {days: 10, bars_per_day: auto}   day x intraday nets on intraday bars (one data.path):
                   hier_lstm and td_cnn_lstm read `days` days of each day's last `bars_per_day` bars;
                   a (T, F) net (cnn1d) reads one day's block when this section is given (`days` is
                   then refused). bars_per_day auto: the data's session length (the most common
                   number of bars per date; shorter days are skipped). One sample per day: positions,
                   `walk_forward` sizes, the embargo and labels.horizon count days; the label compares
                   day closes; trading metrics and the report backtest the day's closing bars (daily
                   bars made from the intraday ones).
    image:         [HEIGHT, WIDTH]   inception: each symbol's factor image (`window` days x features)
                   reshaped to HEIGHT x WIDTH (HEIGHT * WIDTH = window * features); default not reshaped.
                   data.path: one CSV or a list, one image channel per symbol, labelled and traded on
                   the first. Positions count dates.
    pairs_per_date: N   rank: ordered pairs of symbols drawn per date (default all); data.path: a list
                   of at least two CSVs; labels: binary only (read as pair labels: 1 when the first
                   stock's h-bar return beats the second's). Positions count dates (a date's pairs
                   stay together). Skill: pair accuracy / ROC AUC / log loss on the test pairs, and
                   IC / rank IC / ICIR of the exported scorer's per-symbol scores across symbols per
                   date; trading: RankingStrategy on those scores (the panel's `backtest:` keys).

These samples are built, per fold, by the same builders with the fold's split, so each fold's
scaler is fitted on its fit rows alone: such runs need `walk_forward: {expanding: true}` (the
fit rows then start at the first sample; a rolling window is refused). `window` is the bars per
window beside fundamentals and the days per factor image; the intraday and pair samples do not
read it. The baselines fit each input's newest slice (research/baselines.py). A net with several
outputs (multitask: class probabilities and a forecast) is scored on each head: the class
head's metrics under their plain names (it is what trades), the forecast head's as
`forecast.mae`, `forecast.rmse`, `forecast.ic`, `forecast.rank_ic` in metrics.json and folds.csv;
predictions.csv then holds the class columns, `forecast`, `label` and `forecast_label`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import inspect
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from signalstack.core.features import Feature, FeatureSpec
from signalstack.core.labels import LabelSpec
from signalstack.models.config import WINDOW, TrainConfig

from .baselines import baseline_names
from .search import Search, parse_search
from .surrogates import SURROGATE_KINDS

LABEL_KINDS = ("binary", "three", "regression", "path", "cross_sectional")
"""The targets a walk-forward run scores (one output per model); cross_sectional is a panel's only."""

PANEL_BACKTEST_KEYS = ("top_k", "rebalance", "cash", "commission", "slippage", "stake", "periods_per_year")
"""The keywords a panel's `backtest:` section may set (its RankingStrategy backtest, research/panel.py)."""

TRAIN_KEYS = ("epochs", "batch_size", "lr", "optimizer", "weight_decay", "patience", "clip_norm", "device",
              "precision")
"""The TrainConfig fields an experiment sets; the seed is each task's, and progress bars stay off."""

_BACKTEST_EXCLUDED = {"source", "start", "preload", "symbol", "fundamentals"}
"""run_backtest's and SignalStrategy's parameters that the runner sets itself (the fold's period and source)."""


class ExperimentError(ValueError):
    """An experiment file that cannot be run; the message names the file, the key and what was expected."""


@dataclass(frozen=True)
class Data:
    path: str | tuple[str, ...]
    """A CSV path (absolute once parsed) or sample:NAME; several (a tuple) for a panel."""
    start: str | None = None
    end: str | None = None

    @property
    def is_panel(self) -> bool:
        return isinstance(self.path, tuple)


@dataclass(frozen=True)
class Model:
    name: str = "lstm"
    """A zoo name, or the absolute path of a spec file once parsed."""
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class WalkForward:
    train: int = 1000
    test: int = 250
    step: int | None = None
    """None: the test size (set when made, so a parsed experiment and its written copy compare equal)."""
    expanding: bool = False
    embargo: int | None = None
    """None (auto): the label horizon."""
    val: float = 0.2

    def __post_init__(self) -> None:
        if self.step is None:
            object.__setattr__(self, "step", self.test)


@dataclass(frozen=True)
class Intraday:
    """The `intraday:` section: day x intraday samples of intraday bars (models/intraday.py)."""

    days: int | None = None
    """Days per sample; None for a net that reads one day's block (a (T, F) net such as cnn1d)."""
    bars_per_day: int | None = None
    """Each day's last bars kept; None (auto): the data's session length (pipeline.session_length)."""


@dataclass(frozen=True)
class Surrogates:
    kind: str = "random_walk"
    n: int = 0
    block: int = 20
    seed: int = 0


@dataclass(frozen=True)
class Experiment:
    """A parsed experiment file: the resolved values, with defaults filled in."""

    data: Data
    features: FeatureSpec = field(default_factory=FeatureSpec.default)
    labels: LabelSpec = field(default_factory=LabelSpec)
    model: Model = field(default_factory=Model)
    window: int = WINDOW
    train: TrainConfig = field(default_factory=lambda: TrainConfig(progress=False))
    walk_forward: WalkForward = field(default_factory=WalkForward)
    seeds: int = 1
    baselines: tuple[str, ...] = baseline_names(LabelSpec())
    surrogates: Surrogates = field(default_factory=Surrogates)
    backtest: Mapping[str, Any] = field(default_factory=dict)
    export: bool = True
    cross_sectional: bool = False
    """labels.kind cross_sectional (a panel's): `labels` then holds the binary spec of the same horizon."""
    symbol_embedding: bool = False
    """A panel's: one-hot symbol channels in every window row (research/panel.py)."""
    search: Search | None = None
    """The `search:` section for `signalstack tune` (research/search.py); None when the file has none."""
    layout: str = "windows"
    """The samples the model's declared inputs ask for (pipeline.input_layout): windows, intraday, images,
    pairs or fundamentals; derived from `model` (and `intraday`), never written."""
    fundamentals: str | None = None
    """The absolute path of the dated fundamentals CSV (two-input nets)."""
    intraday: Intraday | None = None
    """Set for the intraday layout (days and bars per day), else None."""
    image: tuple[int, int] | None = None
    """inception: (height, width) each symbol's factor image is reshaped to; None: not reshaped."""
    pairs_per_date: int | None = None
    """rank: ordered pairs drawn per date; None: all of them."""

    @property
    def builds_samples(self) -> bool:
        """Whether each fold's samples come from the train pipeline's builders (every layout but windows)."""
        return self.layout != "windows"

    @property
    def embargo(self) -> int:
        """Samples dropped between training and test (and before the validation tail)."""
        return self.walk_forward.embargo if self.walk_forward.embargo is not None else self.labels.horizon

    @property
    def backtest_keywords(self) -> dict[str, Any]:
        """run_backtest keywords: the file's, and for a regressor the forecast line with thresholds 0."""
        if self.labels.is_classification:
            return dict(self.backtest)
        return {"line": "forecast", "buy_threshold": 0.0, "sell_threshold": 0.0, **self.backtest}

    def with_seeds(self, seeds: int) -> Experiment:
        return replace(self, seeds=_int(seeds, "--seeds", 1))

    def to_dict(self) -> dict[str, Any]:
        """The document that parses back to this experiment (paths absolute, defaults written out)."""
        wf = self.walk_forward
        features: Any = "default" if self.features == FeatureSpec.default() else {
            "features": [{"kind": f.kind, "params": dict(f.params)} for f in self.features.features]}
        return {
            "data": {"path": list(self.data.path) if self.data.is_panel else self.data.path,
                     "start": self.data.start, "end": self.data.end},
            "features": features,
            "labels": {"kind": "cross_sectional" if self.cross_sectional else self.labels.kind,
                       "horizon": self.labels.horizon, "up": self.labels.up,
                       "down": self.labels.down},
            "model": {"name": self.model.name, "params": _plain(self.model.params)},
            "window": self.window,
            "train": {key: getattr(self.train, key) for key in TRAIN_KEYS},
            "walk_forward": {"train": wf.train, "test": wf.test, "step": wf.step, "expanding": wf.expanding,
                             "embargo": "auto" if wf.embargo is None else wf.embargo, "val": wf.val},
            "seeds": self.seeds,
            "baselines": list(self.baselines),
            "surrogates": {"kind": self.surrogates.kind, "n": self.surrogates.n, "block": self.surrogates.block,
                           "seed": self.surrogates.seed},
            "backtest": _plain(self.backtest),
            "export": self.export,
            **({"symbol_embedding": True} if self.symbol_embedding else {}),
            **({"search": self.search.to_dict()} if self.search is not None else {}),
            **({"fundamentals": self.fundamentals} if self.fundamentals is not None else {}),
            **({"intraday": {**({"days": self.intraday.days} if self.intraday.days is not None else {}),
                             "bars_per_day": self.intraday.bars_per_day or "auto"}}
               if self.intraday is not None else {}),
            **({"image": list(self.image)} if self.image is not None else {}),
            **({"pairs_per_date": self.pairs_per_date} if self.pairs_per_date is not None else {}),
        }

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    @property
    def digest(self) -> str:
        """Eight hex digits of the SHA-256 of the resolved document: the same experiment, the same digest."""
        text = json.dumps(self.to_dict(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:8]


SECTIONS = ("data", "features", "labels", "model", "window", "train", "walk_forward", "seeds", "baselines",
            "surrogates", "backtest", "export", "search",
            "symbol_embedding", "fundamentals", "intraday", "image", "pairs_per_date")
"""The top-level keys of an experiment file, in the schema's order."""


def load_experiment(path: str | Path) -> Experiment:
    """Parse the YAML experiment file at `path`; relative paths in it are read from its folder."""
    path = Path(path)
    if not path.is_file():
        raise ExperimentError(f"{path}: no such experiment file (expected a YAML file, see "
                              "signalstack.research.experiment for its keys)")
    try:
        doc = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ExperimentError(f"{path}: not valid YAML ({' '.join(str(exc).split())})") from None
    return parse_experiment(doc, base=path.resolve().parent, source=str(path))


def parse_experiment(doc: Any, base: Path = Path("."), source: str = "experiment") -> Experiment:
    """An Experiment from a parsed YAML document; `base` is the folder relative paths are read from."""
    try:
        return _parse(doc, Path(base))
    except ExperimentError as exc:
        raise ExperimentError(f"{source}: {exc}") from None


def _parse(doc: Any, base: Path) -> Experiment:
    top = _mapping(doc, "the document")
    _known(top, "", SECTIONS)
    if "data" not in top:
        raise ExperimentError("data: missing (expected data: {path: FILE.csv | sample:NAME})")
    labels = _labels(top.get("labels", {}))
    cross_sectional = _mapping(top.get("labels", {}), "labels").get("kind") == "cross_sectional"
    data = _data(top["data"], base)
    if cross_sectional and not data.is_panel:
        raise ExperimentError("labels.kind: 'cross_sectional' compares symbols on each date: expected a panel "
                              "(data.path: a list of at least two CSV files)")
    given_baselines = top.get("baselines")
    valid_baselines = baseline_names(labels)
    baselines = valid_baselines if given_baselines is None else _baselines(given_baselines, valid_baselines, labels)
    model = _model(top.get("model", {}), base)
    layout, inputs = _layout(model, top)
    ranking = data.is_panel and layout in ("windows", "pairs")  # traded by ranking the symbols
    experiment = Experiment(
        data=data, features=_features(top.get("features", "default")), labels=labels,
        model=model, window=_int(top.get("window", WINDOW), "window", 1),
        train=_train(top.get("train", {})), walk_forward=_walk_forward(top.get("walk_forward", {})),
        seeds=_int(top.get("seeds", 1), "seeds", 1), baselines=baselines,
        surrogates=_surrogates(top.get("surrogates", {})),
        backtest=_backtest(top.get("backtest", {}), PANEL_BACKTEST_KEYS if ranking else None),
        export=_bool(top.get("export", True), "export"), cross_sectional=cross_sectional,
        symbol_embedding=_bool(top.get("symbol_embedding", False), "symbol_embedding"), layout=layout,
        **_layout_keys(top, layout, inputs, base))
    _check_layout(experiment)
    if experiment.symbol_embedding and not data.is_panel:
        raise ExperimentError("symbol_embedding: true, expected a panel (data.path: a list of CSV files)")
    if experiment.symbol_embedding and experiment.export:
        raise ExperimentError("symbol_embedding: true with export: true, expected export: false (a model that "
                              "reads the symbol cannot be served from bars alone)")
    if "search" in top:
        experiment = replace(experiment, search=_search(top["search"], experiment.model))
    if experiment.embargo < labels.horizon:
        raise ExperimentError(f"walk_forward.embargo: {experiment.embargo}, expected auto or >= the label horizon "
                              f"{labels.horizon} (no training label may read a test bar)")
    walk = experiment.walk_forward
    if walk.step < walk.test:
        raise ExperimentError(f"walk_forward.step: {walk.step}, expected >= test ({walk.test}) so that each bar "
                              "is tested once")
    return experiment


def _data(value: Any, base: Path) -> Data:
    doc = _mapping(value, "data")
    _known(doc, "data", ("path", "start", "end"))
    raw = doc.get("path")
    if isinstance(raw, list):
        if len(raw) < 2 or not all(isinstance(p, str) and p for p in raw):
            raise ExperimentError(f"data.path: {raw!r}, expected a list of at least two CSV paths (a panel)")
        path: str | tuple[str, ...] = tuple(p if p.startswith("sample:") else str((base / p).resolve()) for p in raw)
    elif not isinstance(raw, str) or not raw:
        raise ExperimentError(f"data.path: {raw!r}, expected a CSV path, sample:NAME or a list of CSV paths")
    else:
        path = raw if raw.startswith("sample:") else str((base / raw).resolve())
    start, end = (_date(doc.get(key), f"data.{key}") for key in ("start", "end"))
    if start and end and start > end:
        raise ExperimentError(f"data.start {start} is after data.end {end}: expected start <= end")
    return Data(path, start, end)


def _date(value: Any, where: str) -> str | None:
    """An ISO timestamp; YAML reads 2010-01-04 as a date and 2010-01-04 09:30 as text."""
    if value is None:
        return None
    if not isinstance(value, str | dt.date):
        raise ExperimentError(f"{where}: {value!r}, expected a date such as 2010-01-04")
    try:
        return pd.Timestamp(value).isoformat()
    except ValueError:
        raise ExperimentError(f"{where}: {value!r}, expected a date such as 2010-01-04") from None


def _features(value: Any) -> FeatureSpec:
    if value == "default":
        return FeatureSpec.default()
    doc = _mapping(value, "features", "'default' or {features: [{kind: NAME, params: {...}}, ...]}")
    _known(doc, "features", ("features",))
    items = doc.get("features")
    if not isinstance(items, list) or not items:
        raise ExperimentError(f"features.features: {items!r}, expected a list of {{kind: NAME, params: {{...}}}}")
    features = []
    for i, item in enumerate(items):
        where = f"features.features[{i}]"
        entry = _mapping(item, where)
        _known(entry, where, ("kind", "params"))
        try:
            features.append(Feature(entry.get("kind"), dict(_mapping(entry.get("params", {}), f"{where}.params"))))
        except ValueError as exc:
            raise ExperimentError(f"{where}: {exc}") from None
    try:
        return FeatureSpec(tuple(features))
    except ValueError as exc:
        raise ExperimentError(f"features: {exc}") from None


def _labels(value: Any) -> LabelSpec:
    doc = _mapping(value, "labels")
    _known(doc, "labels", ("kind", "horizon", "up", "down"))
    kind = doc.get("kind", "binary")
    if kind not in LABEL_KINDS:
        raise ExperimentError(f"labels.kind: {kind!r}, expected one of {', '.join(LABEL_KINDS)}")
    if kind == "cross_sectional":
        kind = "binary"  # the same two classes (down, up); Experiment.cross_sectional says which rule
    default = LabelSpec(kind)
    try:
        return LabelSpec(kind, _int(doc.get("horizon", 1), "labels.horizon", 1),
                         _number(doc.get("up", default.up), "labels.up"),
                         _number(doc.get("down", default.down), "labels.down"))
    except ValueError as exc:
        raise ExperimentError(f"labels: {exc}") from None


def _model(value: Any, base: Path) -> Model:
    # Imported here: the zoo loads torch, which nothing else in reading a file needs.
    from signalstack.models.zoo import get_entry, list_models
    from signalstack.models.zoo.spec import is_spec_path

    doc = _mapping(value, "model")
    _known(doc, "model", ("name", "params"))
    name = doc.get("name", "lstm")
    params = _tuples(dict(_mapping(doc.get("params", {}), "model.params")))
    if not isinstance(name, str) or not name:
        raise ExperimentError(f"model.name: {name!r}, expected a zoo name or a spec file")
    if is_spec_path(name):
        if params:
            raise ExperimentError(f"model.params: {sorted(params)}, expected none for the spec file {name} "
                                  "(its sizes are written in it)")
        return Model(str((base / name).resolve()), {})
    if name not in list_models():
        raise ExperimentError(f"model.name: {name!r}, expected one of {', '.join(list_models())} or a "
                              ".yaml/.yml/.json spec file")
    _known(params, "model.params", tuple(get_entry(name).defaults))
    return Model(name, params)


_LAYOUT_KEYS = {"fundamentals": "fundamentals", "intraday": "intraday", "image": "images", "pairs_per_date": "pairs"}
"""The keys that only one layout reads, and that layout."""

_READS = {"windows": "(window, features) windows of bars", "fundamentals": "dated fundamentals beside windows",
          "intraday": "day x intraday blocks of intraday bars", "images": "factor images of the data's symbols",
          "pairs": "pairs of the data's symbols"}


def _layout(model: Model, top: Mapping[str, Any]) -> tuple[str, dict[str, tuple[int | None, ...]]]:
    """The samples the model's declared inputs ask for, as `signalstack train` chooses them, and those inputs.

    A net of one (T, F) input reads one-day intraday blocks when the file has an `intraday:` section
    (as `train --bars-per-day` makes it), else windows of bars.
    """
    from signalstack.models.pipeline import declared_inputs, input_layout
    from signalstack.models.zoo.spec import is_spec_path

    if is_spec_path(model.name) and not Path(model.name).is_file():
        # Its inputs are unknown until it exists; training says it is missing, unless a key needs them now.
        if any(key in top for key in _LAYOUT_KEYS):
            raise ExperimentError(f"model.name: {model.name}: no such spec file (expected one beside "
                                  f"{', '.join(k for k in _LAYOUT_KEYS if k in top)}, whose use its inputs decide)")
        return "windows", {}
    inputs = declared_inputs(model.name)
    return input_layout(inputs, bars_per_day=1 if "intraday" in top else None), inputs


def _layout_keys(top: Mapping[str, Any], layout: str, inputs: Mapping[str, tuple[int | None, ...]],
                 base: Path) -> dict[str, Any]:
    """The Experiment fields of the layout's own keys; a key another layout reads is an error naming both."""
    for key, reader in _LAYOUT_KEYS.items():
        if key in top and layout != reader:
            raise ExperimentError(f"{key}: not used by this model, which reads {_READS[layout]} (expected "
                                  f"{key} only for a net that reads {_READS[reader]})")
    values: dict[str, Any] = {}
    if layout == "fundamentals":
        raw = top.get("fundamentals")
        if not isinstance(raw, str) or not raw:
            raise ExperimentError(f"fundamentals: {raw!r}, expected the CSV of dated factors this two-input net reads "
                                  f"(its inputs: {', '.join(inputs)})")
        path = (base / raw).resolve()
        if not path.is_file():
            raise ExperimentError(f"fundamentals: {path}: no such file (expected a CSV of dated factors, first "
                                  "column the date each row became known)")
        values["fundamentals"] = str(path)
    if layout == "intraday":
        values["intraday"] = _intraday(top.get("intraday", {}), one_day=len(next(iter(inputs.values()))) != 3)
    if "image" in top:
        image = top["image"]
        if (not isinstance(image, list) or len(image) != 2
                or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in image)):
            raise ExperimentError(f"image: {image!r}, expected [HEIGHT, WIDTH], two positive integers such as "
                                  "[224, 224]")
        values["image"] = (image[0], image[1])
    if "pairs_per_date" in top:
        values["pairs_per_date"] = _int(top["pairs_per_date"], "pairs_per_date", 1)
    return values


def _intraday(value: Any, one_day: bool) -> Intraday:
    from signalstack.models.config import INTRADAY_DAYS

    doc = _mapping(value, "intraday")
    _known(doc, "intraday", ("days", "bars_per_day"))
    if one_day and "days" in doc:
        raise ExperimentError(f"intraday.days: {doc['days']!r}, not used by this model, which reads one day's "
                              "block (bars per day, features): expected no days")
    days = None if one_day else _int(doc.get("days", INTRADAY_DAYS), "intraday.days", 1)
    raw = doc.get("bars_per_day", "auto")
    bars_per_day = None if raw == "auto" else _int(raw, "intraday.bars_per_day", 1, "auto or")
    return Intraday(days, bars_per_day)


def _check_layout(experiment: Experiment) -> None:
    """The combinations of data, labels and walk-forward that a layout cannot run, each named."""
    layout, data, name = experiment.layout, experiment.data, experiment.model.name
    reads = f"model {Path(name).name} reads {_READS[layout]}"
    if layout in ("intraday", "fundamentals") and data.is_panel:
        raise ExperimentError(f"data.path: a list of {len(data.path)} files, but {reads}: expected one CSV")
    if experiment.labels.kind == "path" and data.is_panel and layout != "images":
        raise ExperimentError("labels.kind: 'path' on a panel, expected one series (a panel ranks the symbols on "
                              "one score: binary, three, regression or cross_sectional)")
    if layout == "pairs" and not data.is_panel:
        raise ExperimentError(f"data.path: one file, but {reads}: expected a list of at least two CSVs")
    if layout in ("images", "pairs") and experiment.cross_sectional:
        expected = "binary (read as pair labels)" if layout == "pairs" else "binary, three or regression"
        raise ExperimentError(f"labels.kind: 'cross_sectional', but {reads}: expected {expected}")
    if layout == "pairs" and experiment.labels.kind != "binary":
        raise ExperimentError(f"labels.kind: {experiment.labels.kind!r}, but {reads}, labelled 1 when the first "
                              "stock's h-bar return beats the second's: expected binary")
    if experiment.symbol_embedding and layout != "windows":
        raise ExperimentError(f"symbol_embedding: true, but {reads}: expected it only for windows of a panel")
    if experiment.builds_samples and not experiment.walk_forward.expanding:
        raise ExperimentError(f"walk_forward.expanding: false, but {reads}: each fold's samples are built with the "
                              "fold's split, whose fit rows start at the first sample, so that the scaler is fitted "
                              "on the fit rows alone: expected walk_forward: {expanding: true}")
    if not experiment.labels.is_classification and _has_forecast_head(name):
        raise ExperimentError(f"labels.kind: {experiment.labels.kind!r}, but model {name} has a class head beside "
                              "its forecast head: expected binary or three")


def _has_forecast_head(name: str) -> bool:
    """Whether a zoo net declares a forecast output beside another (multitask)."""
    from signalstack.models.zoo import get_entry, list_models

    if name not in list_models():
        return False
    declared = get_entry(name).n_outputs
    return isinstance(declared, Mapping) and "forecast" in declared and len(declared) > 1


def _train(value: Any) -> TrainConfig:
    doc = _mapping(value, "train")
    _known(doc, "train", TRAIN_KEYS)
    base = TrainConfig(progress=False)
    ints = {"epochs": 1, "batch_size": 1, "patience": 1}
    values: dict[str, Any] = {}
    for key, raw in doc.items():
        where = f"train.{key}"
        if key in ints:
            values[key] = _int(raw, where, ints[key])
        elif key in ("optimizer", "device", "precision"):
            if not isinstance(raw, str):
                raise ExperimentError(f"{where}: {raw!r}, expected text")
            values[key] = raw
        else:
            values[key] = _number(raw, where)
            if values[key] < 0 or (key != "weight_decay" and values[key] == 0):
                raise ExperimentError(f"{where}: {raw!r}, expected a number > 0" +
                                      (" (or 0)" if key == "weight_decay" else ""))
    try:
        return replace(base, **values)
    except ValueError as exc:
        raise ExperimentError(f"train: {exc}") from None


def _walk_forward(value: Any) -> WalkForward:
    doc = _mapping(value, "walk_forward")
    _known(doc, "walk_forward", ("train", "test", "step", "expanding", "embargo", "val"))
    default = WalkForward()
    embargo = doc.get("embargo", "auto")
    step = doc.get("step")
    val = _number(doc.get("val", default.val), "walk_forward.val")
    if not 0 < val < 1:
        raise ExperimentError(f"walk_forward.val: {val}, expected a share of the training window between 0 and 1")
    return WalkForward(train=_int(doc.get("train", default.train), "walk_forward.train", 4),
                       test=_int(doc.get("test", default.test), "walk_forward.test", 2),
                       step=None if step is None else _int(step, "walk_forward.step", 1),
                       expanding=_bool(doc.get("expanding", False), "walk_forward.expanding"),
                       embargo=None if embargo == "auto" else _int(embargo, "walk_forward.embargo", 1, "auto or"),
                       val=val)


def _baselines(value: Any, valid: tuple[str, ...], labels: LabelSpec) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ExperimentError(f"baselines: {value!r}, expected a list of names among {', '.join(valid)}")
    for name in value:
        if name not in valid:
            raise ExperimentError(f"baselines: {name!r}, expected names among {', '.join(valid)} "
                                  f"for {labels.kind} labels")
    return tuple(dict.fromkeys(value))


def _surrogates(value: Any) -> Surrogates:
    doc = _mapping(value, "surrogates")
    _known(doc, "surrogates", ("kind", "n", "block", "seed"))
    default = Surrogates()
    kind = doc.get("kind", default.kind)
    if kind not in SURROGATE_KINDS:
        raise ExperimentError(f"surrogates.kind: {kind!r}, expected one of {', '.join(SURROGATE_KINDS)}")
    return Surrogates(kind, _int(doc.get("n", default.n), "surrogates.n", 0),
                      _int(doc.get("block", default.block), "surrogates.block", 1),
                      _int(doc.get("seed", default.seed), "surrogates.seed", 0))


def _search(value: Any, model: Model) -> Search:
    """The search space; its names are window, the train keys and the zoo model's parameters."""
    from signalstack.models.zoo import get_entry
    from signalstack.models.zoo.spec import is_spec_path

    names = () if is_spec_path(model.name) else tuple(get_entry(model.name).defaults)
    try:
        return parse_search(value, names)
    except ValueError as exc:
        raise ExperimentError(str(exc)) from None


def backtest_keys() -> tuple[str, ...]:
    """The keywords a `backtest:` section may set: run_backtest's and SignalStrategy's, less the period and source."""
    # Imported here, like the zoo: Backtrader is needed to check this section only.
    from signalstack.plugin.backtest import run_backtest
    from signalstack.plugin.settings import TradingSettings

    own = [p.name for p in inspect.signature(run_backtest).parameters.values() if p.kind is p.KEYWORD_ONLY]
    return tuple(sorted(set(own) | set(TradingSettings.model_fields) - _BACKTEST_EXCLUDED))


def _backtest(value: Any, keys: tuple[str, ...] | None = None) -> dict[str, Any]:
    doc = _mapping(value, "backtest")
    _known(doc, "backtest", keys or backtest_keys())
    return dict(doc)


def _mapping(value: Any, where: str, expected: str = "a mapping of keys to values") -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ExperimentError(f"{where}: {value!r}, expected {expected}")
    return value


def _known(doc: Mapping[str, Any], where: str, valid: tuple[str, ...]) -> None:
    for key in doc:
        if key not in valid:
            name = f"{where}.{key}" if where else str(key)
            raise ExperimentError(f"{name}: unknown key (expected one of {', '.join(valid)})")


def _int(value: Any, where: str, minimum: int, also: str = "") -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        expected = f"{also} an integer >= {minimum}".strip()
        raise ExperimentError(f"{where}: {value!r}, expected {expected}")
    return value


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ExperimentError(f"{where}: {value!r}, expected a number")
    return float(value)


def _bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise ExperimentError(f"{where}: {value!r}, expected true or false")
    return value


def _tuples(value: Any) -> Any:
    """YAML lists as tuples, as the zoo's per-layer sizes are (`hidden: [32, 32]` -> (32, 32))."""
    if isinstance(value, list | tuple):
        return tuple(_tuples(v) for v in value)
    if isinstance(value, Mapping):
        return {k: _tuples(v) for k, v in value.items()}
    return value


def _plain(value: Any) -> Any:
    """Tuples as lists, for YAML and JSON."""
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value
