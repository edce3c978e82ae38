"""Training settings and their defaults, without torch: the command line shows them in `--help` from here."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from signalstack.core.settings import Settings

WINDOW = 60
"""Bars per input window of a model made from bars, unless a run says otherwise."""

INTRADAY_DAYS = 10
"""Days per sample of a day x intraday net when a run does not say (hier_lstm's and td_cnn_lstm's posts)."""


PRECISIONS = ("auto", "fp32", "fp16", "bf16")
"""What `TrainConfig.precision` accepts."""


class Training(Settings):
    """How a net is trained: an experiment file's `train:` section, and the part of `TrainConfig` it shares."""

    epochs: int = Field(30, ge=1)
    """Maximum epochs (early stopping may end sooner)."""
    batch_size: int = Field(64, ge=1)
    """Samples per step."""
    lr: float = Field(1e-3, gt=0)
    """Learning rate."""
    optimizer: Literal["adam", "sgd"] = "adam"
    """adam or sgd."""
    weight_decay: float = Field(0.0, ge=0)
    """L2 penalty."""
    patience: int = Field(5, ge=1)
    """Epochs without validation improvement before stopping."""
    clip_norm: float = Field(1.0, gt=0)
    """Gradients are clipped to this norm."""
    device: str = "auto"
    """auto (CUDA when present), cpu or cuda[:N]."""
    precision: Literal[PRECISIONS] = "auto"
    """Mixed precision of the forward pass: auto is fp16 with loss scaling on CUDA (tensor cores make it pay)
    and fp32 on the CPU (where autocast slows nets this small down); bf16 runs on either."""

    def config(self, seed: int) -> TrainConfig:
        """The train config of a research task with `seed` (no progress bars: tasks run side by side)."""
        return TrainConfig(**{**self.model_dump(), "seed": seed, "progress": False})


class TrainConfig(Training):
    """How a net is trained, with its seed; `signalstack train`'s flags are made from these fields."""

    seed: int = 0
    """Random seed."""
    progress: bool = True
    """Show a progress bar per epoch."""
