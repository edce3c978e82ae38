import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from signalstack.core.card import METADATA_KEY, ModelCard
from signalstack.core.features import FeatureSpec
from signalstack.core.labels import LabelSpec
from signalstack.models import export as export_module
from signalstack.models.config import TrainConfig
from signalstack.models.export import PARITY_TOLERANCE, ExportError, parity_error
from signalstack.models.pipeline import train_and_export
from signalstack.models.windows import build_dataset

from ..conftest import TINY_PARAMS, TINY_WINDOW


def card_of(path) -> dict:
    props = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    return json.loads(props[METADATA_KEY])


def test_model_file_carries_everything_needed_to_use_it(tiny_model):
    card = card_of(tiny_model)
    for key in (
        "features",
        "scaler",
        "window",
        "horizon",
        "classes",
        "label",
        "train_range",
        "test_range",
        "metrics",
        "version",
    ):
        assert key in card, key
    assert card["window"] == TINY_WINDOW and card["horizon"] == 1 and card["classes"] == ["down", "up"]
    assert set(card["metrics"]) >= {"accuracy", "roc_auc", "log_loss", "baseline_accuracy"}
    assert card["train_range"][1] < card["val_range"][0] < card["val_range"][1] < card["test_range"][0]
    assert len(card["scaler"]["mean"]) == len(card["features"]["columns"])
    assert ModelCard.from_json(json.dumps(card)).features == FeatureSpec.default()


def test_onnx_has_a_dynamic_batch_axis(tiny_model):
    session = ort.InferenceSession(str(tiny_model), providers=["CPUExecutionProvider"])
    (inp,), (out,) = session.get_inputs(), session.get_outputs()
    assert (inp.name, out.name) == ("features", "probabilities")
    rng = np.random.default_rng(0)
    for batch in (1, 33):
        probs = session.run(None, {"features": rng.normal(size=(batch, TINY_WINDOW, 21)).astype("float32")})[0]
        assert probs.shape == (batch, 2)
        np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, sp500):
    out = tmp_path_factory.mktemp("export") / "m.onnx"
    return train_and_export(
        sp500.iloc[:1500], out, window=10, params=TINY_PARAMS, config=TrainConfig(epochs=1, progress=False)
    )


def test_parity_with_torch_on_real_windows(trained, sp500):
    assert trained.parity <= PARITY_TOLERANCE
    windows = build_dataset(sp500.iloc[:1500], FeatureSpec.default(), LabelSpec(), window=10).test.x
    assert parity_error(trained.result.net, trained.path, windows) <= PARITY_TOLERANCE


def test_parity_check_detects_a_graph_that_differs_from_torch(trained):
    net = trained.result.net
    x = np.random.default_rng(1).normal(size=(16, 10, 21)).astype("float32")
    bias = net.body.layers["head"].linear.bias
    with torch.no_grad():
        bias[0] += 0.5
    try:
        assert parity_error(net, trained.path, x) > PARITY_TOLERANCE
    finally:
        with torch.no_grad():
            bias[0] -= 0.5


def test_export_fails_loudly_and_leaves_no_file_when_parity_breaks(trained, tmp_path, monkeypatch):
    monkeypatch.setattr(export_module, "parity_error", lambda net, path, sample: 0.1)
    target = tmp_path / "broken.onnx"
    with pytest.raises(ExportError, match=r"broken.onnx: onnxruntime differs from torch by 0.1"):
        export_module.export_onnx(trained.result.net, trained.card, target, np.zeros((4, 10, 21), dtype="float32"))
    assert not target.exists()


def test_training_writes_checkpoint_curves_and_metrics(trained):
    files = {p.name for p in trained.artefacts.iterdir()}
    assert files == {"checkpoint.pt", "training.png", "metrics.json"}
    assert (trained.artefacts / "training.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    metrics = json.loads((trained.artefacts / "metrics.json").read_text())
    assert metrics["test"]["accuracy"] == trained.card.metrics["accuracy"]
