"""Training loop: seeded, early-stopped on validation loss, gradient-clipped, checkpointed."""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from signalstack.core.errors import InvalidInput, SettingsError
from signalstack.core.labels import LabelSpec

from .config import TrainConfig
from .metrics import classification_metrics, regression_metrics
from .network import Head, SignalNet
from .windows import Arrays, Dataset, WindowSet, as_named
from .zoo import create_model
from .zoo.spec import CLASSIFICATION_LOSSES, SpecModel, canonical_loss

if TYPE_CHECKING:
    from matplotlib.figure import Figure

log = logging.getLogger(__name__)


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


def resolve_precision(name: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype of `TrainConfig.precision` on `device`; None for plain float32."""
    if name == "auto":
        return torch.float16 if device.type == "cuda" else None
    if name == "fp16" and device.type != "cuda":
        raise SettingsError(f"precision fp16 on {device}: expected a CUDA device (use bf16 or fp32 on the CPU)")
    return {"fp32": None, "fp16": torch.float16, "bf16": torch.bfloat16}[name]


def train(
    dataset: Dataset,
    architecture: str | Path,
    config: TrainConfig = TrainConfig(),
    out_dir: Path | None = None,
    on_epoch: Callable[[int, float], None] | None = None,
    **params: Any,
) -> TrainResult:
    """Train `architecture` (a zoo name or a spec file) on the train split; returns the best-validation model.

    Test metrics are computed on the test split. With `out_dir`, writes `checkpoint.pt` (best
    weights), `training.png` and `metrics.json` there. `on_epoch(epoch, val_loss)`, when given, is called
    after each epoch (1-based) and may raise to stop training (a tuner's pruner): the exception propagates.
    """
    seed_everything(config.seed)
    device = resolve_device(config.device)
    amp = _Precision(resolve_precision(config.precision, device), device)
    targets = dataset.targets
    shapes = {name: a.shape[1:] for name, a in dataset.x_of(dataset.train).items()}
    sizes = {name: label.n_outputs for name, label in targets.items()}
    body = create_model(architecture, shapes, next(iter(sizes.values())) if len(sizes) == 1 else sizes, **params)
    bound = bind_heads(body, targets)
    scalers = {i.name: dataset.scalers.get(i.name) if i.scale else None for i in body.spec.inputs}
    net = SignalNet(body, scalers, [head for head, _ in bound]).to(device)
    optimizer = _optimizer(net, config)
    generator = torch.Generator().manual_seed(config.seed)
    batches = {
        name: _Split(dataset.x_of(part), dataset.y_of(part), [target for _, target in bound], device)
        for name, part in (("train", dataset.train), ("val", dataset.val))
    }

    history: list[dict[str, float]] = []
    best_loss, best_epoch, best_state = float("inf"), -1, None
    bar = tqdm(range(config.epochs), desc=f"train {architecture}", unit="epoch", disable=not config.progress)
    for epoch in bar:
        train_loss, train_acc = _run_epoch(net, batches["train"], config, amp, optimizer, generator)
        val_loss, val_acc = _run_epoch(net, batches["val"], config, amp)
        history.append(
            {
                "epoch": epoch + 1,
                "loss": train_loss,
                "accuracy": train_acc,
                "val_loss": val_loss,
                "val_accuracy": val_acc,
            }
        )
        bar.set_postfix(loss=f"{train_loss:.4f}", val_loss=f"{val_loss:.4f}")
        if on_epoch is not None:
            on_epoch(epoch + 1, val_loss)
        if val_loss < best_loss - 1e-6:
            best_loss, best_epoch = val_loss, epoch + 1
            best_state = {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}
            if out_dir is not None:
                out_dir.mkdir(parents=True, exist_ok=True)
                torch.save(
                    {
                        "state_dict": best_state,
                        "epoch": best_epoch,
                        "architecture": str(architecture),
                        "params": params,
                        "config": config.model_dump(),
                    },
                    out_dir / "checkpoint.pt",
                )
        elif epoch + 1 - best_epoch >= config.patience:
            log.info("early stop at epoch %d: val_loss has not improved since epoch %d", epoch + 1, best_epoch)
            break
    bar.close()
    assert best_state is not None  # at least one epoch ran and val_loss is finite or inf
    net.load_state_dict(best_state)
    net = net.cpu().eval()
    metrics = evaluate(net, dataset, dataset.test)
    result = TrainResult(net, history, metrics, best_epoch, str(device), dict(params))
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "metrics.json").write_text(
            json.dumps(
                {"test": metrics, "best_epoch": best_epoch, "history": history, "test_range": dataset.test.time_range},
                indent=2,
            )
        )
        plot_history(history, out_dir / "training.png", title=str(architecture))
    return result


def bind_heads(body: SpecModel, targets: Mapping[str, LabelSpec]) -> list[tuple[Head, str]]:
    """Each spec output's head (ONNX name, loss, weight) and the target it learns, checked against the labels.

    A single output learns the single target; several outputs are matched to targets by name.
    A missing loss is cross-entropy for classes and MAE for returns.
    """
    outputs = body.spec.outputs
    if len(outputs) == 1 and len(targets) == 1:
        pairs = [(outputs[0], next(iter(targets)))]
    elif sorted(o.name for o in outputs) == sorted(targets):
        pairs = [(o, o.name) for o in outputs]
    else:
        raise SettingsError(
            f"model outputs {[o.name or o.layer for o in outputs]}, dataset targets {list(targets)}: "
            "expected one of each or the same names"
        )
    bound = []
    for out, target in pairs:
        label = targets[target]
        loss = canonical_loss(out.loss) or ("crossentropy" if label.is_classification else "mae")
        name = out.name or target
        if (loss in CLASSIFICATION_LOSSES) != label.is_classification:
            raise SettingsError(f"output {name!r} (layer {out.layer!r}): loss {loss} does not fit {label.kind} labels")
        units = 1 if loss == "binary_crossentropy" else label.n_outputs
        if loss == "binary_crossentropy" and len(label.classes) != 2:
            raise SettingsError(
                f"output {name!r}: binary_crossentropy needs two classes, {label.kind} labels have {len(label.classes)}"
            )
        shape = body.shapes[out.layer]
        if shape != (units,):
            raise SettingsError(
                f"output {name!r} (layer {out.layer!r}) has shape {shape}: the {label.kind} labels need ({units},)"
            )
        bound.append((Head(name, loss, out.weight), target))
    return bound


def _optimizer(net: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    if config.optimizer == "adam":
        return torch.optim.Adam(net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.SGD(net.parameters(), lr=config.lr, momentum=0.9, weight_decay=config.weight_decay)


class _Split:
    """One split's inputs by name and its targets in head order, as tensors on the training device (moved
    there once, not once per batch)."""

    def __init__(
        self, x: Mapping[str, np.ndarray], y: Mapping[str, np.ndarray], targets: list[str], device: torch.device
    ) -> None:
        self.x = {name: torch.as_tensor(a, dtype=torch.float32).to(device) for name, a in x.items()}
        self.y = [torch.as_tensor(y[t], dtype=torch.float32).to(device) for t in targets]

    def __len__(self) -> int:
        return len(self.y[0])


class _Precision:
    """Autocast of the forward pass and, for fp16, loss scaling of the backward pass (small gradients
    would underflow in half precision); plain float32 when `dtype` is None."""

    def __init__(self, dtype: torch.dtype | None, device: torch.device) -> None:
        self.dtype, self.device = dtype, device
        self.scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)

    def autocast(self) -> torch.autocast:
        return torch.autocast(self.device.type, dtype=self.dtype or torch.float32, enabled=self.dtype is not None)

    def logits(self, net: SignalNet, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        """The net's logits in float32 (losses are computed in float32), the forward pass autocast.

        A CPU without bfloat16 kernels (oneDNN's LSTM on CPUs lacking AVX-512 BF16, for one) fails inside the
        forward pass: that is the user's choice of precision meeting the machine, so it is refused as such.
        """
        with self.autocast():
            try:
                return [z.float() for z in net.logits(*xs)]
            except RuntimeError as exc:
                if self.dtype is not torch.bfloat16 or self.device.type != "cpu":
                    raise
                reason = str(exc).splitlines()[0]
                raise InvalidInput(
                    f"precision bf16 on this CPU: {reason}; expected a CPU with bfloat16 "
                    "kernels for this net (use precision fp32 or auto here)"
                ) from exc

    def step(self, loss: torch.Tensor, net: nn.Module, optimizer: torch.optim.Optimizer, clip_norm: float) -> None:
        optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.unscale_(optimizer)  # clip the true gradients
        nn.utils.clip_grad_norm_(net.parameters(), clip_norm)
        self.scaler.step(optimizer)
        self.scaler.update()


def _loss(head: Head, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    if head.loss == "crossentropy":
        return nn.functional.cross_entropy(z, y.long())
    z = z.reshape(y.shape)
    if head.loss == "binary_crossentropy":
        return nn.functional.binary_cross_entropy_with_logits(z, y)
    return nn.functional.l1_loss(z, y) if head.loss == "mae" else nn.functional.mse_loss(z, y)


def _hits(head: Head, z: torch.Tensor, y: torch.Tensor) -> float:
    """Correct classes, or forecasts with the right sign (averaged over a path's steps)."""
    if head.loss == "crossentropy":
        return float((z.argmax(dim=-1) == y.long()).sum())
    threshold = 0.5 if head.loss == "binary_crossentropy" else 0.0
    return float(((z.reshape(y.shape) > 0) == (y > threshold)).float().reshape(len(y), -1).mean(dim=1).sum())


def _run_epoch(
    net: SignalNet,
    split: _Split,
    config: TrainConfig,
    amp: _Precision,
    optimizer: torch.optim.Optimizer | None = None,
    generator: torch.Generator | None = None,
) -> tuple[float, float]:
    """One pass; trains when an optimizer is given, else evaluates. Returns (weighted loss, first head's accuracy)."""
    training = optimizer is not None
    net.train(training)
    n = len(split)
    order = (torch.randperm(n, generator=generator) if training else torch.arange(n)).to(amp.device)
    inputs = [split.x[name] for name in net.input_names]
    total_loss, correct = 0.0, 0.0
    with torch.set_grad_enabled(training):
        for start in range(0, n, config.batch_size):
            idx = order[start : start + config.batch_size]
            if training and len(idx) < 2:
                continue  # BatchNorm cannot normalise a batch of one
            outs = amp.logits(net, [x[idx] for x in inputs])
            ys = [y[idx] for y in split.y]
            loss = sum(head.weight * _loss(head, z, y) for head, z, y in zip(net.heads, outs, ys))
            correct += _hits(net.heads[0], outs[0], ys[0])
            if training:
                amp.step(loss, net, optimizer, config.clip_norm)
            total_loss += loss.item() * len(idx)
    return total_loss / n, correct / n


@torch.no_grad()
def predict(net: SignalNet, x: Arrays, batch_size: int = 1024) -> np.ndarray | dict[str, np.ndarray]:
    """The net's outputs for raw inputs, in eval mode: one array, or {output name: array} for several heads.

    `x` is an array for a single-input net, else {input name: array}.
    """
    net.eval()
    arrays = [x[name] for name in net.input_names] if isinstance(x, Mapping) else [x]
    parts: list[list[np.ndarray]] = [[] for _ in net.heads]
    for i in range(0, len(arrays[0]), batch_size):
        out = net(*(torch.as_tensor(a[i : i + batch_size], dtype=torch.float32) for a in arrays))
        for k, tensor in enumerate(out if isinstance(out, tuple) else (out,)):
            parts[k].append(tensor.numpy())
    merged = [np.concatenate(p) for p in parts]
    return merged[0] if len(merged) == 1 else dict(zip(net.output_names, merged))


def evaluate(net: SignalNet, dataset: Dataset, part: WindowSet) -> dict[str, float]:
    """Out-of-sample metrics on one split with their naive baselines, prefixed by output name when several."""
    out = predict(net, dataset.x_of(part))
    outputs = as_named(out, net.output_names[0])
    targets, ys = dataset.targets, dataset.y_of(part)
    single = len(net.heads) == 1
    metrics: dict[str, float] = {}
    for head in net.heads:
        target = next(iter(targets)) if single else head.name
        label, y, values = targets[target], ys[target], outputs[head.name]
        if head.loss == "binary_crossentropy":
            values = np.column_stack([1.0 - values[:, 0], values[:, 0]])
        found = (
            classification_metrics(values, y, label.classes)
            if label.is_classification
            else regression_metrics(values, y)
        )
        metrics.update(found if single else {f"{head.name}.{k}": v for k, v in found.items()})
    return metrics


def plot_history(history: list[dict[str, float]], path: Path, title: str = "") -> None:
    """Loss and accuracy per epoch, train vs validation, as a PNG."""
    history_figure(history, title).savefig(path, dpi=110)


def history_figure(history: list[dict[str, float]], title: str = "") -> Figure:
    """The figure `plot_history` saves: loss and accuracy against whole epochs."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    epochs = [h["epoch"] for h in history]
    fig = Figure(figsize=(9, 3.5))
    FigureCanvasAgg(fig)
    for ax, key, label in zip(fig.subplots(1, 2), ("loss", "accuracy"), ("loss", "accuracy")):
        ax.plot(epochs, [h[key] for h in history], label="train")
        ax.plot(epochs, [h[f"val_{key}"] for h in history], label="validation")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole: no 0.5 ticks on a short run
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(f"{title} training curves")
    fig.tight_layout()
    return fig
