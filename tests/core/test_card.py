"""Model cards: typed in Python, the same JSON on disk, and files exported by earlier releases still load."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pandas as pd
import pytest

from signalstack.core.bars import load_bars
from signalstack.core.card import METADATA_KEY, ModelCard
from signalstack.core.features import FeatureSpec
from signalstack.core.fundamentals import fundamentals_at, load_fundamentals
from signalstack.core.labels import LabelSpec
from signalstack.core.model import OnnxModel
from signalstack.core.scaler import Scaler

OLD = Path(__file__).resolve().parents[1] / "data" / "v0_1_0"
"""Files exported by signalstack 0.1.0 (before the inference core), with the outputs 0.1.0 computed for
the last 300 S&P 500 bars: an LSTM on bars, and the two-input, two-output multitask net."""


def _stored_card(path: Path) -> dict:
    (entry,) = [p for p in onnx.load(str(path)).metadata_props if p.key == METADATA_KEY]
    return json.loads(entry.value)


@pytest.mark.parametrize("name", ["lstm_v0_1_0", "multitask_v0_1_0"])
def test_files_exported_by_0_1_0_load_and_predict_what_0_1_0_predicted(name: str) -> None:
    model = OnnxModel(OLD / f"{name}.onnx", device="cpu")
    expected = pd.read_csv(OLD / f"{name}.expected.csv", index_col=0, parse_dates=True)
    bars = load_bars("sample:sp500").iloc[-300:]
    factors = load_fundamentals(OLD / "factors.csv")
    tensors = {i.name: fundamentals_at(factors, bars.index, i.columns) for i in model.tensor_inputs}
    got = model.predict_series(bars, tensors=tensors)
    assert list(got.columns) == list(expected.columns)
    np.testing.assert_allclose(got.to_numpy(), expected.to_numpy(), rtol=0, atol=1e-6)
    assert (got.index == expected.index).all()


@pytest.mark.parametrize("name", ["lstm_v0_1_0", "multitask_v0_1_0"])
def test_a_card_read_and_written_again_is_the_same_json(name: str) -> None:
    stored = _stored_card(OLD / f"{name}.onnx")
    card = ModelCard.from_json(json.dumps(stored))
    assert json.loads(card.to_json()) == stored
    assert ModelCard.from_json(card.to_json()) == card


def test_the_card_s_parts_are_typed() -> None:
    card = ModelCard.from_json(json.dumps(_stored_card(OLD / "multitask_v0_1_0.onnx")))
    assert isinstance(card.features, FeatureSpec) and isinstance(card.label, LabelSpec)
    assert card.label.kind == "three" and card.horizon == 5 and card.classes == ["down", "flat", "up"]
    assert set(card.targets) == {"probabilities", "forecast"} and card.targets["forecast"].kind == "regression"
    assert set(card.scalers) == {"fundamentals", "features"}
    assert all(isinstance(s, Scaler) for s in card.scalers.values())
    assert {i.name: i.origin for i in card.inputs} == {"fundamentals": "tensor", "features": "bars"}
    single = ModelCard.from_json(json.dumps(_stored_card(OLD / "lstm_v0_1_0.onnx")))
    assert list(single.scalers) == [single.inputs[0].name]  # stored flat, read keyed by its input
