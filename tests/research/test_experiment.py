"""Experiment files: every key checked, typos named with the valid keys, defaults written out, round trips, and a
JSON Schema that documents every key."""

import re

import pytest
import yaml

from signalstack.core.errors import SettingsError
from signalstack.core.features import FeatureSpec
from signalstack.core.settings import json_schema
from signalstack.research.experiment import load_experiment, parse_experiment
from signalstack.research.settings import ExperimentFile

from ..support import SMALL
from .support import TINY

MINIMAL = {"data": {"path": "sample:sp500"}}


def test_a_minimal_file_gets_the_documented_defaults():
    experiment = parse_experiment(MINIMAL)
    assert experiment.features.spec == FeatureSpec.default()
    assert (experiment.labels.kind, experiment.labels.horizon) == ("binary", 1)
    assert experiment.model.name == "lstm" and experiment.window == 60 and experiment.seeds == 1
    assert experiment.embargo == 1 and experiment.walk_forward.step == experiment.walk_forward.test == 250
    assert experiment.baselines == ["majority", "logistic", "gbm", "buy_and_hold"]
    assert experiment.surrogates.n == 0 and experiment.export is True
    assert experiment.train.config(seed=3).progress is False and experiment.train.config(seed=3).seed == 3


@pytest.mark.parametrize(
    "doc, named",
    [
        (
            {**MINIMAL, "walkforward": {}},
            "exp.yaml: walkforward: unknown key (did you mean 'walk_forward'? expected one of data, features, labels",
        ),
        (
            {**MINIMAL, "walk_forward": {"trian": 100}},
            "walk_forward.trian: unknown key (did you mean 'train'? expected one of train, test, step, expanding, "
            "embargo, val)",
        ),
        ({"data": {"path": "x.csv", "begin": "2010"}}, "data.begin: unknown key (expected one of path, start, end)"),
        ({**MINIMAL, "train": {"seed": 3}}, "train.seed: unknown key (expected one of epochs, batch_size, lr"),
        (
            {**MINIMAL, "model": {"name": "lstm", "params": {"hiden": [4]}}},
            "model.params.hiden: unknown key (did you mean 'hidden'? expected one of hidden, dropout",
        ),
        ({**MINIMAL, "backtest": {"buy": 0.6}}, "backtest.buy: unknown key (expected one of line, buy_threshold"),
        ({**MINIMAL, "backtest": {"top_k": 2}}, "backtest.top_k: unknown key (expected one of line, buy_threshold"),
        (
            {**MINIMAL, "surrogates": {"count": 3}},
            "surrogates.count: unknown key (expected one of kind, n, block, seed)",
        ),
        (
            {**MINIMAL, "features": {"features": [{"kind": "ret", "param": {}}]}},
            "features.features[0].param: unknown key (did you mean 'params'? expected one of kind, params)",
        ),
    ],
)
def test_an_unknown_key_is_an_error_naming_it_and_the_valid_ones(doc, named):
    with pytest.raises(SettingsError, match=re.escape(named)):
        parse_experiment(doc, source="exp.yaml")


@pytest.mark.parametrize(
    "change, message",
    [
        (
            {"labels": {"kind": "pair"}},
            "labels.kind: 'pair', expected one of 'binary', 'three', 'regression', 'path', 'cross_sectional'",
        ),
        (
            {"labels": {"horizon": 5}, "walk_forward": {"embargo": 2}},
            "walk_forward.embargo: 2, expected auto or >= the label horizon 5",
        ),
        ({"walk_forward": {"test": 100, "step": 50}}, "walk_forward.step: 50, expected >= test"),
        ({"walk_forward": {"embargo": 0}}, "walk_forward.embargo: 0, expected 'auto' or >= 1"),
        ({"walk_forward": {"val": 1.5}}, "walk_forward.val: 1.5, expected < 1"),
        ({"seeds": 0}, "seeds: 0, expected >= 1"),
        ({"window": "60"}, "window: '60', expected an integer"),
        ({"train": {"epochs": 2.5}}, "train.epochs: 2.5, expected an integer"),
        ({"train": {"lr": 0}}, "train.lr: 0, expected > 0"),
        ({"train": {"optimizer": "rmsprop"}}, "train.optimizer: 'rmsprop', expected one of 'adam', 'sgd'"),
        ({"model": {"name": "transformer"}}, "model.name: 'transformer', expected one of"),
        ({"features": "all"}, "features: 'all', expected 'default' or"),
        ({"features": {"features": [{"kind": "magic"}]}}, r"features.features\[0\]: unknown feature kind 'magic'"),
        (
            {"labels": {"kind": "three", "up": -0.1}},
            "labels: three-class thresholds down=-0.01, up=-0.1: expected down",
        ),
        (
            {"baselines": ["majority", "ridge"]},
            "baselines: 'ridge', expected names among majority, logistic, gbm, buy_and_hold for binary labels",
        ),
        ({"surrogates": {"kind": "phase"}}, "surrogates.kind: 'phase', expected one of 'random_walk', 'block_shuffle'"),
        ({"export": "yes"}, "export: 'yes', expected true or false"),
        ({"backtest": {"commission": -0.1}}, "backtest.commission: -0.1, expected >= 0"),
        (
            {"data": {"path": "x.csv", "start": "2012-01-01", "end": "2011-01-01"}},
            "data.start: 2012-01-01T00:00:00 is after end 2011-01-01T00:00:00: expected start <= end",
        ),
    ],
)
def test_bad_values_are_errors_naming_the_value_and_what_was_expected(change, message):
    with pytest.raises(SettingsError, match=f"^exp.yaml: {message}"):
        parse_experiment({**MINIMAL, **change}, source="exp.yaml")


def test_a_date_that_does_not_exist_is_named_with_the_file_and_its_key(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text("data: {path: bars.csv, start: 2016-13-45}\n")
    with pytest.raises(SettingsError, match=re.escape(f"{path}: data.start: '2016-13-45', expected a date such as")):
        load_experiment(path)


def test_relative_paths_are_read_from_the_experiment_files_folder(tmp_path):
    (tmp_path / "nets").mkdir()
    path = tmp_path / "exp.yaml"
    path.write_text(
        yaml.safe_dump(
            {"data": {"path": "data/bars.csv", "start": "2010-01-04"}, "model": {"name": "nets/my_net.yaml"}}
        )
    )
    experiment = load_experiment(path)
    assert experiment.data.path == str(tmp_path / "data" / "bars.csv")
    assert experiment.model.name == str(tmp_path / "nets" / "my_net.yaml")
    assert experiment.data.start == "2010-01-04T00:00:00"


def test_the_resolved_document_parses_back_to_the_same_experiment_and_digest(tmp_path):
    doc = {
        "data": {"path": "bars.csv"},
        **TINY,
        "labels": {"kind": "regression", "horizon": 3},
        "baselines": ["mean", "ridge"],
        "walk_forward": {"train": 500, "test": 100, "step": 120, "embargo": 4, "expanding": True},
        "surrogates": {"kind": "block_shuffle", "n": 5, "block": 10},
        "backtest": {"commission": 0.0},
    }
    experiment = parse_experiment(doc, base=tmp_path)
    again = parse_experiment(yaml.safe_load(experiment.to_yaml()))
    assert again == experiment and again.digest == experiment.digest
    assert experiment.features.spec == SMALL and experiment.model.params["hidden"] == (4,)
    trading = experiment.backtest  # a regressor trades its forecast line with thresholds 0 unless told
    assert (trading.line, trading.buy_threshold, trading.sell_threshold, trading.commission) == ("forecast", 0, 0, 0)
    assert experiment.to_dict()["backtest"] == {"commission": 0.0}  # written as the file said it
    assert experiment.replaced(seeds=3).digest != experiment.digest
    assert experiment.replaced(seeds=3).replaced(seeds=1) == experiment
    minimal = parse_experiment(MINIMAL)
    assert parse_experiment(yaml.safe_load(minimal.to_yaml())) == minimal
    assert minimal.to_dict()["labels"] == {"kind": "binary", "horizon": 1}  # no three-class thresholds
    three = parse_experiment({**MINIMAL, "labels": {"kind": "three", "up": 0.02}})
    assert three.to_dict()["labels"] == {"kind": "three", "horizon": 1, "up": 0.02, "down": -0.01}
    assert parse_experiment(yaml.safe_load(three.to_yaml())) == three


def test_a_missing_file_and_broken_yaml_are_named(tmp_path):
    with pytest.raises(SettingsError, match="nope.yaml: no such file"):
        load_experiment(tmp_path / "nope.yaml")
    (tmp_path / "bad.yaml").write_text("data: {path: [unclosed\n")
    with pytest.raises(SettingsError, match="bad.yaml: not valid YAML"):
        load_experiment(tmp_path / "bad.yaml")
    (tmp_path / "list.yaml").write_text("- data\n")
    with pytest.raises(SettingsError, match="list.yaml: a list at the top, expected a mapping"):
        load_experiment(tmp_path / "list.yaml")


def test_the_json_schema_documents_every_key_of_every_section():
    schema = json_schema(ExperimentFile)
    sections = {
        name: schema["$defs"][ref["$ref"].rsplit("/", 1)[1]]
        for name, ref in (
            (name, next(iter(field.get("anyOf", [field])))) for name, field in schema["properties"].items()
        )
        if "$ref" in ref
    }
    assert set(sections) >= {
        "data",
        "features",
        "labels",
        "model",
        "train",
        "walk_forward",
        "surrogates",
        "backtest",
        "search",
        "intraday",
    }
    for name, field in [
        *schema["properties"].items(),
        *((f"{s}.{k}", v) for s, d in sections.items() for k, v in d["properties"].items()),
    ]:
        assert field.get("description"), f"{name} has no description"
    assert "label horizon" in sections["walk_forward"]["properties"]["embargo"]["description"]
    assert schema["required"] == ["data"] and sections["data"]["required"] == ["path"]
