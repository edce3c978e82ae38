import numpy as np
import pytest

from signalstack.core.errors import InvalidInput
from signalstack.core.features import FeatureSpec
from signalstack.core.labels import LabelSpec
from signalstack.models.metrics import classification_metrics, roc_auc
from signalstack.models.train import TrainConfig, history_figure, predict, train
from signalstack.models.windows import build_dataset
from signalstack.models.zoo import create_model, list_models

from ..conftest import TINY_PARAMS


@pytest.fixture(scope="module")
def small(sp500):
    return build_dataset(sp500.iloc[:1200], FeatureSpec.default(), LabelSpec(), window=10)


def test_same_seed_gives_the_same_model(small):
    config = TrainConfig(epochs=2, progress=False, seed=7)
    a = train(small, "lstm", config, **TINY_PARAMS)
    b = train(small, "lstm", config, **TINY_PARAMS)
    np.testing.assert_array_equal(predict(a.net, small.test.x), predict(b.net, small.test.x))
    assert a.metrics == b.metrics


def test_early_stopping_keeps_the_best_validation_epoch(small):
    result = train(small, "lstm", TrainConfig(epochs=40, patience=2, lr=3e-2, progress=False), **TINY_PARAMS)
    losses = [h["val_loss"] for h in result.history]
    assert len(losses) < 40, "a 3e-2 learning rate should overfit and stop early"
    assert result.best_epoch == int(np.argmin(losses)) + 1
    assert len(losses) - result.best_epoch == 2


def test_sgd_and_three_class_labels_train(sp500):
    data = build_dataset(sp500.iloc[:1500], FeatureSpec.default(), LabelSpec.three_class(horizon=5), window=10)
    result = train(data, "lstm", TrainConfig(epochs=1, optimizer="sgd", progress=False), **TINY_PARAMS)
    probs = predict(result.net, data.test.x)
    assert probs.shape == (len(data.test), 3)
    assert set(result.metrics) >= {"accuracy", "roc_auc", "log_loss", "baseline_accuracy"}


def test_regression_reports_errors_against_a_zero_forecast(sp500):
    data = build_dataset(sp500.iloc[:1200], FeatureSpec.default(), LabelSpec("regression", 1), window=10)
    result = train(data, "lstm", TrainConfig(epochs=1, progress=False), **TINY_PARAMS)
    assert set(result.metrics) >= {"mae", "rmse", "direction_accuracy", "baseline_mae"}


def test_registry_refuses_unknown_models_and_parameters():
    assert "lstm" in list_models()
    with pytest.raises(KeyError, match="unknown model 'transformer'"):
        create_model("transformer", {"features": (10, 3)}, 2)
    with pytest.raises(ValueError, match=r"model 'lstm': unknown parameter\(s\) \['units'\]"):
        create_model("lstm", {"features": (10, 3)}, 2, units=5)


def test_roc_auc_matches_hand_computation():
    scores = np.array([0.1, 0.4, 0.35, 0.8])
    labels = np.array([0, 0, 1, 1])
    assert roc_auc(scores, labels) == pytest.approx(0.75)
    assert roc_auc(np.array([0.5, 0.5]), np.array([0, 1])) == pytest.approx(0.5)
    metrics = classification_metrics(
        np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]]), np.array([0, 1, 1]), ["down", "up"]
    )
    assert metrics["accuracy"] == pytest.approx(2 / 3)
    assert metrics["baseline_accuracy"] == pytest.approx(2 / 3)
    assert metrics["log_loss"] == pytest.approx(-(np.log(0.9) + np.log(0.8) + np.log(0.4)) / 3, rel=1e-6)


def test_mixed_precision_autocasts_the_forward_pass_and_is_refused_where_it_cannot_run(small, monkeypatch):
    """bf16 autocast trains on the CPU (the path CUDA's fp16 takes, loss scaling aside), or is refused as one line
    on a CPU without bfloat16 LSTM kernels; auto stays fp32 on the CPU, and fp16 without CUDA is refused naming
    the device."""
    import torch

    from signalstack.models.train import resolve_precision

    assert resolve_precision("auto", torch.device("cpu")) is None
    assert resolve_precision("auto", torch.device("cuda")) is torch.float16
    with pytest.raises(ValueError, match="precision fp16 on cpu: expected a CUDA device"):
        resolve_precision("fp16", torch.device("cpu"))
    with pytest.raises(ValueError, match="precision: 'fp8', expected one of 'auto', 'fp32', 'fp16', 'bf16'"):
        TrainConfig.of(precision="fp8")
    if not _cpu_runs_bf16_lstm():
        with pytest.raises(InvalidInput, match="precision bf16 on this CPU: .*use precision fp32"):
            train(small, "lstm", TrainConfig(epochs=1, progress=False, precision="bf16", device="cpu"), **TINY_PARAMS)
        return
    seen = []
    forward = torch.nn.LSTM.forward
    monkeypatch.setattr(
        torch.nn.LSTM,
        "forward",
        lambda self, *a, **k: seen.append(torch.is_autocast_enabled("cpu")) or forward(self, *a, **k),
    )
    mixed = train(small, "lstm", TrainConfig(epochs=2, progress=False, precision="bf16", device="cpu"), **TINY_PARAMS)
    assert seen[0] and True in seen  # training autocasts; the final evaluation runs in float32
    seen.clear()
    plain = train(small, "lstm", TrainConfig(epochs=2, progress=False, device="cpu"), **TINY_PARAMS)
    assert seen and True not in seen
    assert np.isfinite(mixed.history[-1]["loss"]) and mixed.metrics["accuracy"] > 0
    assert mixed.history[0]["loss"] != plain.history[0]["loss"]  # bf16 rounding shows in the first epoch already


def _cpu_runs_bf16_lstm() -> bool:
    """Whether this CPU has oneDNN's bfloat16 LSTM (CPUs without AVX-512 BF16 fail to build the primitive)."""
    import torch

    with torch.autocast("cpu", dtype=torch.bfloat16):
        try:
            torch.nn.LSTM(3, 4, batch_first=True)(torch.zeros(2, 5, 3))
        except RuntimeError:
            return False
    return True


def test_the_training_plot_ticks_whole_epochs_only():
    history = [
        {"epoch": e, "loss": 0.7 - 0.01 * e, "val_loss": 0.69, "accuracy": 0.5, "val_accuracy": 0.5} for e in (1, 2)
    ]
    figure = history_figure(history, "lstm")
    figure.canvas.draw()
    for ax in figure.axes:
        ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
        assert ticks and all(float(t).is_integer() for t in ticks), ticks
