"""Training settings and their defaults, without torch: the command line shows them in `--help` from here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from signalstack.core.errors import SettingsError

WINDOW = 60
"""Bars per input window of a model made from bars, unless a run says otherwise."""

INTRADAY_DAYS = 10
"""Days per sample of a day x intraday net when a run does not say (hier_lstm's and td_cnn_lstm's posts)."""


PRECISIONS = ("auto", "fp32", "fp16", "bf16")
"""What `TrainConfig.precision` accepts."""


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
    precision: Literal["auto", "fp32", "fp16", "bf16"] = "auto"
    """Mixed precision of the forward pass: auto is fp16 with loss scaling on CUDA (tensor cores make it pay)
    and fp32 on the CPU (where autocast slows nets this small down); bf16 runs on either."""
    progress: bool = True

    def __post_init__(self) -> None:
        if self.optimizer not in ("adam", "sgd"):
            raise SettingsError(f"optimizer {self.optimizer!r}: expected 'adam' or 'sgd'")
        if self.precision not in PRECISIONS:
            raise SettingsError(f"precision {self.precision!r}: expected one of {', '.join(PRECISIONS)}")
        if self.epochs < 1 or self.batch_size < 1:
            raise SettingsError(f"epochs={self.epochs}, batch_size={self.batch_size}: expected both >= 1")
