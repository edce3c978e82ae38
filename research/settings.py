"""The experiment file, typed: one YAML document says everything a research run does, so that a run can be repeated.

Every key is optional but `data.path`; an unknown key is refused with the valid ones (and a "did you mean"), and
every bad value is named by its path and what was expected, so a typo never silently falls back to a default.
Relative paths are read from the file's folder (the `context` of `core.settings.parse`). Each field's docstring
is its documentation: `signalstack schema experiment` prints them as the JSON Schema that editors check with.
What the samples a model reads need (the layout keys, one file or several, the labels it can score) is checked
by its layout (research/layouts). Importing this module loads neither torch nor Backtrader.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import pandas as pd
import yaml
from pydantic import (
    BeforeValidator,
    Field,
    SerializerFunctionWrapHandler,
    ValidationInfo,
    field_serializer,
    field_validator,
    model_serializer,
    model_validator,
)

from signalstack.core.features import Feature, FeatureSpec
from signalstack.core.labels import LabelSpec
from signalstack.core.settings import Settings, invalid, unknown_key
from signalstack.models.config import WINDOW, Training
from signalstack.plugin.settings import TradingSettings

from .baselines import baseline_names
from .search import Search
from .surrogates import SURROGATE_KINDS

PositiveInt = Annotated[int, Field(ge=1)]


def _iso_date(value: Any) -> Any:
    """A date or time as ISO text (YAML reads 2010-01-04 as a date, 2010-01-04 09:30 as text)."""
    if not isinstance(value, str | dt.date):
        return value
    try:
        return pd.Timestamp(value).isoformat()
    except ValueError:
        raise ValueError(f"{value!r}, expected a date such as 2010-01-04") from None


Date = Annotated[str, BeforeValidator(_iso_date)]


def _folder(info: ValidationInfo) -> Path:
    """The folder relative paths are read from: the experiment file's (the parse context), else the current one."""
    return Path(info.context or ".")


class DataFiles(Settings):
    """The `data:` section: the bar files a run reads and the period read from them."""

    path: str | list[str]
    """A CSV file, sample:NAME, or a list of at least two CSV files: a panel (one model on every symbol's samples,
    the symbol being the file's stem; inception reads one image channel per symbol, rank pairs of them). A
    relative path is read from the experiment file's folder."""
    start: Date | None = None
    """The first bar read, such as 2010-01-04: bars outside [start, end] are never read (features warm up inside
    the period)."""
    end: Date | None = None
    """The last bar read."""

    @field_validator("path")
    @classmethod
    def _resolved(cls, path: str | list[str], info: ValidationInfo) -> str | list[str]:
        paths = [path] if isinstance(path, str) else path
        if not all(paths) or (isinstance(path, list) and len(path) < 2):
            raise ValueError(f"{path!r}, expected a CSV path, sample:NAME or a list of at least two CSV paths")
        resolved = [p if p.startswith("sample:") else str((_folder(info) / p).resolve()) for p in paths]
        return resolved if isinstance(path, list) else resolved[0]

    @model_validator(mode="after")
    def _ordered(self) -> DataFiles:
        if self.start and self.end and self.start > self.end:
            raise invalid("start", f"{self.start} is after end {self.end}: expected start <= end")
        return self

    @property
    def paths(self) -> list[str]:
        """Every file, one or several."""
        return self.path if isinstance(self.path, list) else [self.path]

    @property
    def is_panel(self) -> bool:
        return isinstance(self.path, list)


class FeatureChoice(Settings):
    """One TA-Lib feature kind and its parameters (core.features)."""

    kind: str
    """A feature kind, such as ret, ma_ratio, rsi."""
    params: dict[str, Any] = {}
    """Its parameters, such as {n: 5}; the kind's defaults fill the rest."""

    @model_validator(mode="after")
    def _known(self) -> FeatureChoice:
        Feature(self.kind, self.params)  # an unknown kind or parameter is refused here, named by the item's path
        return self


_DEFAULT_FEATURES = [{"kind": f.kind, "params": dict(f.params)} for f in FeatureSpec.default().features]


class Features(Settings):
    """The `features:` section: `default` (the reference set), or {features: [{kind: NAME, params: {...}}, ...]}."""

    features: list[FeatureChoice] = Field(min_length=1)
    """The features, in column order."""

    @model_validator(mode="before")
    @classmethod
    def _default(cls, value: Any) -> Any:
        if value == "default":
            return {"features": _DEFAULT_FEATURES}
        if not isinstance(value, Mapping):
            raise ValueError(f"{value!r}, expected 'default' or {{features: [{{kind: NAME, params: {{...}}}}, ...]}}")
        return value

    @cached_property
    def spec(self) -> FeatureSpec:
        return FeatureSpec(tuple(Feature(choice.kind, choice.params) for choice in self.features))

    @model_validator(mode="after")
    def _distinct(self) -> Features:
        self.spec  # noqa: B018 - a repeated column is refused here
        return self

    @model_serializer
    def _written(self) -> Any:
        if self.spec == FeatureSpec.default():
            return "default"
        return {"features": [{"kind": f.kind, "params": dict(f.params)} for f in self.spec.features]}


class Labels(Settings):
    """The `labels:` section: the target each sample is scored on."""

    kind: Literal["binary", "three", "regression", "path", "cross_sectional"] = "binary"
    """binary: up when close[t+h] > close[t]; three: down, flat, up by the thresholds; regression: the h-bar
    return; path: the h returns close[t+k]/close[t] - 1, k = 1..h (one series only, for many-to-many regressors
    such as lstm_regressor_seq: mae and rmse over every step, IC and trading on the last, t+h); cross_sectional
    (panels only): 1 when a symbol's h-bar forward return beats the universe's median on that date."""
    horizon: int = Field(1, ge=1)
    """h: the bars (days, for day x intraday nets) a label looks ahead."""
    up: float = LabelSpec.up
    """The three-class up threshold on the h-bar return."""
    down: float = LabelSpec.down
    """The three-class down threshold."""

    @cached_property
    def spec(self) -> LabelSpec:
        """The label rule; cross_sectional labels have binary's two classes (down, up)."""
        kind = "binary" if self.kind == "cross_sectional" else self.kind
        return LabelSpec(kind, self.horizon, self.up, self.down)

    @model_validator(mode="after")
    def _rule(self) -> Labels:
        self.spec  # noqa: B018 - thresholds that make no rule are refused here
        return self

    @model_serializer(mode="wrap")
    def _written(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """The section as written: the thresholds only for three-class labels, the only rule that reads them."""
        written = handler(self)
        return written if self.kind == "three" else {k: v for k, v in written.items() if k not in ("up", "down")}


class ModelChoice(Settings):
    """The `model:` section: the net each fold trains."""

    name: str = "lstm"
    """A zoo name (`signalstack models` lists them), or a .yaml/.yml/.json spec file, read from the experiment
    file's folder (its sizes are written in it: it takes no params)."""
    params: dict[str, Any] = {}
    """The zoo net's parameters, such as {hidden: [32, 32]} (a list: one size per layer)."""

    @field_validator("name")
    @classmethod
    def _known(cls, name: str, info: ValidationInfo) -> str:
        # Imported here: the zoo loads torch, which nothing else in reading a file needs.
        from signalstack.models.zoo import list_models
        from signalstack.models.zoo.spec import is_spec_path

        if is_spec_path(name):
            return str((_folder(info) / name).resolve())
        if name not in list_models():
            raise ValueError(f"{name!r}, expected one of {', '.join(list_models())} or a .yaml/.yml/.json spec file")
        return name

    @field_validator("params")
    @classmethod
    def _layers(cls, params: dict[str, Any]) -> dict[str, Any]:
        """YAML lists as tuples, as the zoo's per-layer sizes are (`hidden: [32, 32]` -> (32, 32))."""
        return {key: tuple(value) if isinstance(value, list) else value for key, value in params.items()}

    @model_validator(mode="after")
    def _declared(self) -> ModelChoice:
        if self.is_spec_file:
            if self.params:
                raise invalid(
                    "params",
                    f"{sorted(self.params)}, expected none for the spec file {self.name} (its sizes are written in it)",
                )
            return self
        for key in self.params:
            if key not in self.declared:
                raise invalid(f"params.{key}", unknown_key(key, self.declared))
        return self

    @property
    def is_spec_file(self) -> bool:
        from signalstack.models.zoo.spec import is_spec_path

        return is_spec_path(self.name)

    @property
    def declared(self) -> tuple[str, ...]:
        """The zoo net's parameter names (none for a spec file)."""
        from signalstack.models.zoo import get_entry

        return () if self.is_spec_file else tuple(get_entry(self.name).defaults)


class WalkForward(Settings):
    """The `walk_forward:` section, in samples (one per bar; days or dates where the layout says so)."""

    train: int = Field(1000, ge=4)
    """Samples per training window (the first one, when expanding)."""
    test: int = Field(250, ge=2)
    """Samples per fold's test period."""
    step: int | None = Field(None, ge=1)
    """A new fold every `step` samples (default: test; at least test, so each sample is tested once)."""
    expanding: bool = False
    """Training windows all start at the first sample (else they roll, `train` long)."""
    embargo: Literal["auto"] | Annotated[int, Field(ge=1)] = "auto"
    """Samples dropped before each test period and before the validation tail (auto: the label horizon; less is
    refused)."""
    val: float = Field(0.2, gt=0, lt=1)
    """The share of each training window held out, at its end, for early stopping."""

    @model_validator(mode="before")
    @classmethod
    def _every_test(cls, doc: Any) -> Any:
        """A step left out is the test size (so a parsed section and its written copy compare equal)."""
        if isinstance(doc, Mapping) and doc.get("step") is None:
            return {**doc, "step": doc.get("test", cls.model_fields["test"].default)}
        return doc

    @model_validator(mode="after")
    def _each_once(self) -> WalkForward:
        if self.step is not None and self.step < self.test:
            raise invalid("step", f"{self.step}, expected >= test ({self.test}) so that each bar is tested once")
        return self


class Surrogates(Settings):
    """The `surrogates:` section: series with no signal, each run through the same folds and seeds."""

    kind: Literal[SURROGATE_KINDS] = "random_walk"
    """random_walk: a geometric random walk with the data's return scale; block_shuffle: the data's bars in
    shuffled blocks (research/surrogates.py)."""
    n: int = Field(0, ge=0)
    """Surrogate series (0: none; p <= 0.05 needs at least 19)."""
    block: int = Field(20, ge=1)
    """Bars per block of block_shuffle."""
    seed: int = Field(0, ge=0)
    """The first surrogate's seed."""


RANKING = ("top_k", "rebalance", "cash", "commission", "slippage", "stake", "periods_per_year")
"""The `backtest:` keys of a ranking backtest (a panel's, RankingStrategy on the stitched scores)."""


class Backtest(TradingSettings):
    """The `backtest:` section: how the out-of-sample predictions are traded (SignalStrategy: plugin.settings);
    a regression model trades its forecast line with thresholds 0 unless told. A panel's ranking backtest takes
    only top_k, rebalance, cash, commission, slippage, stake and periods_per_year."""

    top_k: PositiveInt | None = None
    """A panel's ranking backtest: the symbols held (default half the universe)."""
    rebalance: PositiveInt | None = None
    """A panel's ranking backtest: bars between rebalances (default the label horizon)."""

    @classmethod
    def for_labels(cls, labels: LabelSpec, given: Mapping[str, Any] | None = None) -> Backtest:
        """The section for these labels: the forecast line with thresholds 0 for a regression model."""
        given = {key.replace("-", "_"): value for key, value in (given or {}).items()}
        if not labels.is_classification:
            given = {"line": "forecast", "buy_threshold": 0.0, "sell_threshold": 0.0, **given}
        return cls.model_validate(given, strict=True)

    def keywords(self) -> dict[str, Any]:
        """run_backtest's keywords: every trading setting but the ranking's."""
        return self.model_dump(exclude={"top_k", "rebalance"})


class Intraday(Settings):
    """The `intraday:` section: day x intraday samples of intraday bars (models/intraday.py)."""

    days: PositiveInt | None = None
    """Days per sample of a day x intraday net (hier_lstm, td_cnn_lstm; default 10); a (T, F) net such as cnn1d
    reads one day's block instead, and takes none."""
    bars_per_day: Literal["auto"] | PositiveInt = "auto"
    """Each day's last bars kept; auto: the data's session length (the most common number of bars per date;
    shorter days are skipped)."""

    @model_serializer(mode="wrap")
    def _written(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return {key: value for key, value in handler(self).items() if value is not None}


class Tracking(Settings):
    """The `tracking:` section: where a run (and each trial of `signalstack tune`) is also logged, besides its folder.
    Where a run is logged does not change what it computes: the section is left out of the experiment's digest."""

    mlflow: str | None = None
    """An MLflow tracking URI (http://HOST:PORT, sqlite:///mlflow.db, a folder), read as MLflow reads it: a relative
    path from the current folder; `--mlflow` overrides it. Credentials go in MLFLOW_TRACKING_USERNAME and
    MLFLOW_TRACKING_PASSWORD (or MLFLOW_TRACKING_TOKEN), never in the URI. Needs pip install 'signalstack[mlflow]'."""
    experiment: str | None = None
    """The MLflow experiment the runs go under (made when missing); default: the experiment file's name without its
    extension (`signalstack` when run from Python without a file)."""

    @field_validator("mlflow")
    @classmethod
    def _no_credentials(cls, uri: str | None) -> str | None:
        """The URI is written into the run's experiment.yaml and logged as a parameter: no password may ride in it."""
        if uri is not None and "@" in urlsplit(uri).netloc:
            raise ValueError(
                f"a URI to {urlsplit(uri).hostname} with a user or password in it, expected none (set "
                "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD instead)"
            )
        return uri

    @model_serializer(mode="wrap")
    def _written(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return {key: value for key, value in handler(self).items() if value is not None}


class ExperimentFile(Settings):
    """An experiment file: the data, the samples, the model, the walk-forward folds x seeds, the baselines and the
    surrogates a research run is made of. Positions (walk_forward, embargo, label horizon) count bars, or days for
    day x intraday nets (one sample per day, traded on the day's closing bars), or dates for panels, factor images
    and pairs."""

    data: DataFiles
    """The bars."""
    features: Features = Features.model_validate("default")
    """The feature columns of every sample: default, or {features: [{kind: ret, params: {n: 1}}, ...]}."""
    labels: Labels = Labels()
    """The target."""
    model: ModelChoice = Field(default_factory=ModelChoice)
    """The net."""
    window: int = Field(WINDOW, ge=1)
    """Feature rows per input window (bars beside fundamentals; days per factor image; day x intraday and pair
    samples do not read it)."""
    train: Training = Training()
    """Training of each fold's net."""
    walk_forward: WalkForward = WalkForward()
    """The folds."""
    seeds: int = Field(1, ge=1)
    """Each fold's model is trained with seeds 0 .. seeds-1."""
    ensemble: bool = False
    """The report also backtests the mean of every seed's stitched predictions, labelled as that ensemble, beside
    each seed's own backtest; the metrics stay per fold and seed either way."""
    baselines: list[str] | None = Field(None, validate_default=True)
    """Naive baselines fitted per fold (research/baselines.py): majority, logistic, gbm, buy_and_hold for classes;
    mean, ridge, gbm, buy_and_hold for returns. Default: all of them."""
    surrogates: Surrogates = Surrogates()
    """Series with no signal that give each metric's distribution under chance."""
    backtest: Backtest = Field(default_factory=dict, validate_default=True)
    """How the predictions are traded."""
    export: bool = True
    """Write each fold's model as ONNX with its card (a few seconds per model)."""
    symbol_embedding: bool = False
    """A panel's: one-hot symbol channels beside the features in every window row (the first layer learns a vector
    per symbol); such a model needs the symbol, which bars alone do not give, so it needs export: false."""
    search: Search | None = None
    """The space `signalstack tune` explores."""
    fundamentals: str | None = None
    """Two-input nets (dual_rnn, dual_lstm, multitask): a CSV of dated factors (first column: the date each row
    became known); a sample at bar t sees the latest row dated <= t."""
    intraday: Intraday | None = None
    """Day x intraday nets on intraday bars (one data.path); a (T, F) net given this section reads one day's block."""
    image: list[PositiveInt] | None = None
    """inception: [HEIGHT, WIDTH] each symbol's factor image (`window` days x features) is reshaped to
    (HEIGHT * WIDTH = window * features); default not reshaped."""
    pairs_per_date: PositiveInt | None = None
    """rank: ordered pairs of symbols drawn per date (default all)."""
    tracking: Tracking | None = None
    """Where the run is also logged (MLflow); not part of the digest."""

    @field_validator("baselines")
    @classmethod
    def _baselines(cls, names: list[str] | None, info: ValidationInfo) -> list[str] | None:
        if "labels" not in info.data:
            return names
        labels = info.data["labels"].spec
        valid = baseline_names(labels)
        for name in names or ():
            if name not in valid:
                raise ValueError(f"{name!r}, expected names among {', '.join(valid)} for {labels.kind} labels")
        return list(valid if names is None else dict.fromkeys(names))

    @field_validator("backtest", mode="before")
    @classmethod
    def _trading(cls, given: Any, info: ValidationInfo) -> Any:
        if "labels" not in info.data or not isinstance(given, Mapping):
            return given
        return Backtest.for_labels(info.data["labels"].spec, given)

    @field_validator("image")
    @classmethod
    def _shape(cls, image: list[int] | None) -> list[int] | None:
        if image is not None and len(image) != 2:
            raise ValueError(f"{image!r}, expected [HEIGHT, WIDTH], two positive integers such as [224, 224]")
        return image

    @field_validator("fundamentals")
    @classmethod
    def _factors(cls, path: str | None, info: ValidationInfo) -> str | None:
        if path is None:
            return None
        resolved = (_folder(info) / path).resolve()
        if not resolved.is_file():
            raise ValueError(
                f"{resolved}: no such file (expected a CSV of dated factors, first column the date each "
                "row became known)"
            )
        return str(resolved)

    @model_validator(mode="after")
    def _consistent(self) -> ExperimentFile:
        from signalstack.models.pipeline import has_forecast_head  # torch, as the zoo: only where a file is read

        horizon = self.labels.horizon
        if self.embargo < horizon:
            raise ValueError(
                f"walk_forward.embargo: {self.embargo}, expected auto or >= the label horizon {horizon} "
                "(no training label may read a test bar)"
            )
        if self.cross_sectional and not self.data.is_panel:
            raise ValueError(
                "labels.kind: 'cross_sectional' compares symbols on each date: expected a panel "
                "(data.path: a list of at least two CSV files)"
            )
        if self.symbol_embedding and not self.data.is_panel:
            raise ValueError("symbol_embedding: true, expected a panel (data.path: a list of CSV files)")
        if self.symbol_embedding and self.export:
            raise ValueError(
                "symbol_embedding: true with export: true, expected export: false (a model that reads "
                "the symbol cannot be served from bars alone)"
            )
        if not self.labels.spec.is_classification and has_forecast_head(self.model.name):
            raise ValueError(
                f"labels.kind: {self.labels.kind!r}, but model {self.model.name} has a class head beside "
                "its forecast head: expected binary or three"
            )
        if self.search is not None:
            self.search.check_names(self.model.declared)
        return self

    @field_serializer("backtest")
    def _given_trading(self, backtest: Backtest) -> dict[str, Any]:
        return self.backtest_changes()

    def backtest_changes(self) -> dict[str, Any]:
        """What the `backtest:` section changes from the labels' default trading: the keys it is written with."""
        default = Backtest.for_labels(self.labels.spec).model_dump(mode="json")
        return {key: value for key, value in self.backtest.model_dump(mode="json").items() if value != default[key]}

    @model_serializer(mode="wrap")
    def _written(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """The document that parses back to this experiment: paths absolute, defaults written out, the keys of
        other layouts and of no search left out, and the switches that are off (symbol_embedding, ensemble), so
        that a file without them keeps its digest."""
        return {
            key: value
            for key, value in handler(self).items()
            if not (value is None or (key in ("symbol_embedding", "ensemble") and not value))
        }

    @property
    def cross_sectional(self) -> bool:
        """labels.kind cross_sectional (a panel's): `labels.spec` is then the binary rule of the same horizon."""
        return self.labels.kind == "cross_sectional"

    @property
    def embargo(self) -> int:
        """Samples dropped between training and test (and before the validation tail)."""
        embargo = self.walk_forward.embargo
        return self.labels.horizon if embargo == "auto" else embargo

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    @property
    def digest(self) -> str:
        """Eight hex digits of the SHA-256 of the resolved document less its `tracking:` section: the same experiment,
        the same digest, wherever it is logged."""
        document = {key: value for key, value in self.to_dict().items() if key != "tracking"}
        return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()[:8]
