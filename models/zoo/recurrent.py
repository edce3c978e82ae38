"""Recurrent stacks over (T, F) feature windows."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from .registry import register_model


class _SeqBatchNorm(nn.BatchNorm1d):
    """BatchNorm over the feature axis of a (N, T, F) sequence (Keras' default axis=-1)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.transpose(1, 2)).transpose(1, 2)


class StackedLSTM(nn.Module):
    """BatchNorm -> Dropout -> LSTM per layer, last step -> BatchNorm -> Dropout -> Linear."""

    def __init__(self, n_features: int, n_outputs: int, hidden: tuple[int, ...], dropout: float) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = n_features
        for size in hidden:
            layers.append(nn.ModuleDict({"norm": _SeqBatchNorm(width), "drop": nn.Dropout(dropout),
                                         "rnn": nn.LSTM(width, size, batch_first=True)}))
            width = size
        self.layers = nn.ModuleList(layers)
        self.head = nn.Sequential(nn.BatchNorm1d(width), nn.Dropout(dropout), nn.Linear(width, n_outputs))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x, _ = layer["rnn"](layer["drop"](layer["norm"](x)))
        return self.head(x[:, -1, :])


@register_model("lstm")
def lstm(*, inputs: Mapping[str, tuple[int, ...]], n_outputs: int, hidden: tuple[int, ...] = (50, 50),
         dropout: float = 0.2) -> nn.Module:
    """Two-layer LSTM 50 -> 50 with batch-norm and dropout on each layer's input (Keras post, Example 4)."""
    (window, n_features), = inputs.values()
    return StackedLSTM(n_features, n_outputs, tuple(hidden), dropout)
