"""`SignalNet`: the train-fitted scaler, a zoo body and the output head as one exportable module."""

from __future__ import annotations

import torch
from torch import nn

from .scaler import Scaler


class SignalNet(nn.Module):
    """features (N, T, F) raw -> probabilities (N, C), or forecasts (N, 1) for regression.

    The scaler lives in the graph as buffers, so the ONNX file takes raw features and no
    caller can forget or mis-apply it. `logits` is what training optimises.
    """

    def __init__(self, body: nn.Module, scaler: Scaler, regression: bool = False) -> None:
        super().__init__()
        self.body = body
        self.regression = regression
        self.register_buffer("mean", torch.as_tensor(scaler.mean, dtype=torch.float32))
        self.register_buffer("std", torch.as_tensor(scaler.std, dtype=torch.float32))

    def logits(self, features: torch.Tensor) -> torch.Tensor:
        return self.body((features - self.mean) / self.std)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        out = self.logits(features)
        return out if self.regression else torch.softmax(out, dim=-1)
