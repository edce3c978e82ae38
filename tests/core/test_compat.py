"""A model file written by signalstack 0.2.0 still loads, reads, scores as 0.2.0 scored it, and trades.

What a version promises for the card's format (docs/reference/versions.md); tests/data/model_v0_2_0/README.md
says how the file was made. The files of 0.1.0 are tests/core/test_card.py's.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pandas as pd
import pytest

from signalstack.cli import main
from signalstack.core.bars import load_bars
from signalstack.core.card import METADATA_KEY, ModelCard
from signalstack.core.model import OnnxModel

OLD = Path(__file__).resolve().parents[1] / "data" / "model_v0_2_0"
MODEL = OLD / "lstm_v0_2_0.onnx"


def _stored_card() -> dict:
    (entry,) = [p for p in onnx.load(str(MODEL)).metadata_props if p.key == METADATA_KEY]
    return json.loads(entry.value)


def test_a_0_2_0_model_scores_bars_as_0_2_0_did() -> None:
    model = OnnxModel(MODEL, device="cpu")
    expected = pd.read_csv(OLD / "lstm_v0_2_0.expected.csv", index_col=0, parse_dates=True)
    got = model.predict_series(load_bars("sample:sp500").iloc[-600:])
    assert list(got.columns) == list(expected.columns) == ["down", "up"]
    assert (got.index == expected.index).all() and len(got) == 175
    np.testing.assert_allclose(got.to_numpy(), expected.to_numpy(), rtol=0, atol=1e-6)


def test_a_0_2_0_card_parses_and_writes_back_the_same_json() -> None:
    stored = _stored_card()
    card = ModelCard.from_json(json.dumps(stored))
    assert card.architecture == "lstm" and card.window == 30 and card.classes == ["down", "up"]
    assert card.bars_input is not None and card.bars_input.origin == "bars"  # stored as "source" by 0.2.0
    assert card.bars_required == 30 + stored["features"]["warmup"]
    assert json.loads(card.to_json()) == stored


def test_info_prints_a_0_2_0_card(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", str(MODEL)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["architecture"] == "lstm" and printed["params"] == {"hidden": [8, 8]}


def test_a_0_2_0_model_backtests(tmp_path: Path) -> None:
    out = tmp_path / "report"
    assert (
        main(
            [
                "backtest",
                "--model",
                str(MODEL),
                "--data",
                "sample:sp500",
                "--start",
                "2018-04-23",
                "--buy-threshold",
                "0.55",
                "--sell-threshold",
                "0.52",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    stats = json.loads((out / "stats.json").read_text())
    assert stats["strategy"]["trades"] > 0
