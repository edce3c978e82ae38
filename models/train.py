"""Training loop: seeded, early-stopped on validation loss, gradient-clipped, checkpointed."""

from __future__ import annotations

import json
import logging
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from .metrics import classification_metrics, regression_metrics
from .network import SignalNet
from .windows import Dataset, WindowSet
from .zoo import create_model

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 30
    batch_size: int = 64
    lr: float = 1e-3
    optimizer: Literal["adam", "sgd"] = "adam"
    weight_decay: float = 0.0
    patience: int = 5
    clip_norm: float = 1.0
    seed: int = 0
    device: str = "auto"
    progress: bool = True

    def __post_init__(self) -> None:
        if self.optimizer not in ("adam", "sgd"):
            raise ValueError(f"optimizer {self.optimizer!r}: expected 'adam' or 'sgd'")
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError(f"epochs={self.epochs}, batch_size={self.batch_size}: expected both >= 1")


@dataclass
class TrainResult:
    net: SignalNet
    history: list[dict[str, float]]
    metrics: dict[str, float]
    best_epoch: int
    device: str
    params: dict[str, Any] = field(default_factory=dict)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def train(dataset: Dataset, architecture: str, config: TrainConfig = TrainConfig(),
          out_dir: Path | None = None, **params: Any) -> TrainResult:
    """Train `architecture` on the dataset's train split; returns the best-validation model and test metrics.

    With `out_dir`, writes `checkpoint.pt` (best weights), `training.png` and `metrics.json` there.
    """
    seed_everything(config.seed)
    device = resolve_device(config.device)
    regression = dataset.labels.kind == "regression"
    n_outputs = 1 if regression else len(dataset.labels.classes)
    shape = dataset.train.x.shape[1:]
    body = create_model(architecture, {"features": shape}, n_outputs, **params)
    net = SignalNet(body, dataset.scaler, regression).to(device)
    loss_fn: nn.Module = nn.L1Loss() if regression else nn.CrossEntropyLoss()
    optimizer = _optimizer(net, config)
    generator = torch.Generator().manual_seed(config.seed)

    history: list[dict[str, float]] = []
    best_loss, best_epoch, best_state = float("inf"), -1, None
    bar = tqdm(range(config.epochs), desc=f"train {architecture}", unit="epoch", disable=not config.progress)
    for epoch in bar:
        train_loss, train_acc = _run_epoch(net, dataset.train, loss_fn, config, device, optimizer, generator)
        val_loss, val_acc = _run_epoch(net, dataset.val, loss_fn, config, device)
        history.append({"epoch": epoch + 1, "loss": train_loss, "accuracy": train_acc,
                        "val_loss": val_loss, "val_accuracy": val_acc})
        bar.set_postfix(loss=f"{train_loss:.4f}", val_loss=f"{val_loss:.4f}")
        if val_loss < best_loss - 1e-6:
            best_loss, best_epoch = val_loss, epoch + 1
            best_state = {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}
            if out_dir is not None:
                out_dir.mkdir(parents=True, exist_ok=True)
                torch.save({"state_dict": best_state, "epoch": best_epoch, "architecture": architecture,
                            "params": params, "config": asdict(config)}, out_dir / "checkpoint.pt")
        elif epoch + 1 - best_epoch >= config.patience:
            log.info("early stop at epoch %d: val_loss has not improved since epoch %d", epoch + 1, best_epoch)
            break
    bar.close()
    assert best_state is not None  # at least one epoch ran and val_loss is finite or inf
    net.load_state_dict(best_state)
    net = net.cpu().eval()
    metrics = evaluate(net, dataset.test, dataset.labels.classes, regression)
    result = TrainResult(net, history, metrics, best_epoch, str(device), dict(params))
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "metrics.json").write_text(json.dumps(
            {"test": metrics, "best_epoch": best_epoch, "history": history, "test_range": dataset.test.time_range},
            indent=2))
        plot_history(history, out_dir / "training.png", title=architecture)
    return result


def _optimizer(net: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    if config.optimizer == "adam":
        return torch.optim.Adam(net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.SGD(net.parameters(), lr=config.lr, momentum=0.9, weight_decay=config.weight_decay)


def _run_epoch(net: SignalNet, part: WindowSet, loss_fn: nn.Module, config: TrainConfig, device: torch.device,
               optimizer: torch.optim.Optimizer | None = None,
               generator: torch.Generator | None = None) -> tuple[float, float]:
    """One pass; trains when an optimizer is given, else evaluates. Returns (mean loss, accuracy)."""
    training = optimizer is not None
    net.train(training)
    n = len(part)
    order = torch.randperm(n, generator=generator) if training else torch.arange(n)
    x_all = torch.from_numpy(part.x)
    y_all = torch.from_numpy(part.y)
    total_loss, correct = 0.0, 0
    with torch.set_grad_enabled(training):
        for start in range(0, n, config.batch_size):
            idx = order[start:start + config.batch_size]
            if training and len(idx) < 2:
                continue  # BatchNorm cannot normalise a batch of one
            x, y = x_all[idx].to(device), y_all[idx].to(device)
            out = net.logits(x)
            if net.regression:
                loss = loss_fn(out.squeeze(-1), y)
                correct += int(((out.squeeze(-1) > 0) == (y > 0)).sum())
            else:
                loss = loss_fn(out, y.long())
                correct += int((out.argmax(dim=-1) == y.long()).sum())
            if training:
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                nn.utils.clip_grad_norm_(net.parameters(), config.clip_norm)
                optimizer.step()
            total_loss += loss.item() * len(idx)
    return total_loss / n, correct / n


@torch.no_grad()
def predict(net: SignalNet, x: np.ndarray, batch_size: int = 1024) -> np.ndarray:
    """The net's outputs (probabilities or forecasts) for raw feature windows, in eval mode."""
    net.eval()
    parts = [net(torch.from_numpy(x[i:i + batch_size])).numpy() for i in range(0, len(x), batch_size)]
    return np.concatenate(parts)


def evaluate(net: SignalNet, part: WindowSet, classes: list[str], regression: bool) -> dict[str, float]:
    """Out-of-sample metrics on one split, with their naive baselines."""
    out = predict(net, part.x)
    if regression:
        return regression_metrics(out, part.y)
    return classification_metrics(out, part.y, classes)


def plot_history(history: list[dict[str, float]], path: Path, title: str = "") -> None:
    """Loss and accuracy per epoch, train vs validation, as a PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    epochs = [h["epoch"] for h in history]
    fig = Figure(figsize=(9, 3.5))
    FigureCanvasAgg(fig)
    for ax, key, label in zip(fig.subplots(1, 2), ("loss", "accuracy"), ("loss", "accuracy")):
        ax.plot(epochs, [h[key] for h in history], label="train")
        ax.plot(epochs, [h[f"val_{key}"] for h in history], label="validation")
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(f"{title} training curves")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
