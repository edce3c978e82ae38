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


class TrainConfig(Settings):
    """How a net is trained; `signalstack train`'s flags are made from these fields."""

    epochs: int = Field(30, ge=1)
    """Maximum epochs (early stopping may end sooner)."""
    batch_size: int = Field(64, ge=1)
    """Samples per step."""
    lr: float = 1e-3
    """Learning rate."""
    optimizer: Literal["adam", "sgd"] = "adam"
    """adam or sgd."""
    weight_decay: float = 0.0
    """L2 penalty."""
    patience: int = 5
    """Epochs without validation improvement before stopping."""
    clip_norm: float = 1.0
    """Gradients are clipped to this norm."""
    seed: int = 0
    """Random seed."""
    device: str = "auto"
    """auto (CUDA when present), cpu or cuda."""
    precision: Literal[PRECISIONS] = "auto"
    """Mixed precision of the forward pass: auto is fp16 with loss scaling on CUDA (tensor cores make it pay)
    and fp32 on the CPU (where autocast slows nets this small down); bf16 runs on either."""
    progress: bool = True
    """Show a progress bar per epoch."""
