"""Recurrent layers (SimpleRNN, LSTM, GRU) and the wrappers Bidirectional and TimeDistributed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from .layers import Layer, Shape, ShapeError, check_rank, check_rate, layer_type, make_layer


class Recurrent(Layer):
    """A recurrent layer over (steps, features); torch's fused kernel whenever no dropout is active.

    Keras' `dropout` (on the inputs) and `recurrent_dropout` (on the previous hidden state) draw
    one mask per sequence, reused at every step. With either on, training runs the cell step by
    step with those masks on the very weights the fused module uses at inference, so the
    exported graph is the fused one and training matches Keras' regularisation.
    """

    cell: ClassVar[type[nn.RNNBase]]
    gates: ClassVar[int]
    keras_biases: ClassVar[int]
    """Bias vectors of `units` per gate that Keras keeps: one (SimpleRNN, LSTM) or two (GRU, reset_after)."""
    unroll_for_export: ClassVar[bool] = False
    """Export the step loop instead of the fused module: the exporter lowers LSTM and GRU to ONNX's
    fused ops, but unrolls a plain RNN with a folded copy of the recurrent weights per step."""

    def __init__(
        self,
        shapes: Sequence[Shape],
        *,
        units: int,
        activation: str = "tanh",
        return_sequences: bool = False,
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
    ) -> None:
        super().__init__()
        (shape,) = shapes
        check_rank(shape, 2, type(self).__name__)
        allowed = ("tanh", "relu") if self.cell is nn.RNN else ("tanh",)
        if activation not in allowed:
            raise ValueError(f"{type(self).__name__} activation {activation!r}: expected one of {allowed}")
        extra = {"nonlinearity": activation} if self.cell is nn.RNN else {}
        self.rnn = self.cell(shape[1], int(units), batch_first=True, **extra)
        self.activation = activation
        self.return_sequences = bool(return_sequences)
        self.dropout = check_rate(dropout, "dropout")
        self.recurrent_dropout = check_rate(recurrent_dropout, "recurrent_dropout")

    @property
    def units(self) -> int:
        return self.rnn.hidden_size

    def output_shape(self, shapes: Sequence[Shape]) -> Shape:
        (shape,) = shapes
        if len(shape) != 2 or shape[1] != self.rnn.input_size:
            raise ShapeError(f"{type(self).__name__} built for (steps, {self.rnn.input_size}), got shape {shape}")
        return (shape[0], self.units) if self.return_sequences else (self.units,)

    def keras_params(self) -> int:
        torch_biases = 2 * self.gates * self.units
        return super().keras_params() - torch_biases + self.keras_biases * self.gates * self.units

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and (self.dropout or self.recurrent_dropout):
            return self.stepwise(
                x, self._mask(x, x.shape[-1], self.dropout), self._mask(x, self.units, self.recurrent_dropout)
            )
        if self.unroll_for_export and torch.compiler.is_exporting():
            return self.stepwise(x, None, None)
        out, _ = self.rnn(x)
        return out if self.return_sequences else out[:, -1]

    @staticmethod
    def _mask(x: torch.Tensor, size: int, rate: float) -> torch.Tensor | None:
        if not rate:
            return None
        return torch.bernoulli(x.new_full((x.shape[0], size), 1.0 - rate)) / (1.0 - rate)

    def stepwise(
        self, x: torch.Tensor, input_mask: torch.Tensor | None, hidden_mask: torch.Tensor | None
    ) -> torch.Tensor:
        """The layer unrolled in Python with per-sequence masks; equals the fused module for unit masks."""
        rnn = self.rnn
        if input_mask is not None:
            x = x * input_mask.unsqueeze(1)
        projected = F.linear(x, rnn.weight_ih_l0, rnn.bias_ih_l0)
        h = x.new_zeros(x.shape[0], self.units)
        c = torch.zeros_like(h)
        steps = []
        for t in range(x.shape[1]):
            recurrent = F.linear(h if hidden_mask is None else h * hidden_mask, rnn.weight_hh_l0, rnn.bias_hh_l0)
            h, c = self._step(projected[:, t], recurrent, h, c)
            steps.append(h)
        return torch.stack(steps, dim=1) if self.return_sequences else h

    def _step(
        self, xw: torch.Tensor, hw: torch.Tensor, h: torch.Tensor, c: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError


@layer_type("SimpleRNN")
class SimpleRNN(Recurrent):
    cell, gates, keras_biases = nn.RNN, 1, 1
    unroll_for_export = True

    def _step(self, xw, hw, h, c):
        return (torch.tanh(xw + hw) if self.activation == "tanh" else torch.relu(xw + hw)), c


@layer_type("LSTM")
class LSTM(Recurrent):
    cell, gates, keras_biases = nn.LSTM, 4, 1

    def _step(self, xw, hw, h, c):
        i, f, g, o = (xw + hw).chunk(4, dim=1)  # torch's gate order
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), c


@layer_type("GRU")
class GRU(Recurrent):
    """GRU with the reset gate applied after the recurrent matmul: Keras' reset_after=True (TF2 default)."""

    cell, gates, keras_biases = nn.GRU, 3, 2

    def _step(self, xw, hw, h, c):
        xr, xz, xn = xw.chunk(3, dim=1)
        hr, hz, hn = hw.chunk(3, dim=1)
        r, z = torch.sigmoid(xr + hr), torch.sigmoid(xz + hz)
        return (1.0 - z) * torch.tanh(xn + r * hn) + z * h, c


def _inner(spec: Mapping[str, Any], wrapper: str) -> tuple[str, Mapping[str, Any]]:
    """The wrapped layer of a `{type, params}` mapping."""
    if not isinstance(spec, Mapping) or "type" not in spec or set(spec) - {"type", "params"}:
        raise ValueError(f"{wrapper} layer {spec!r}: expected a mapping with 'type' and optional 'params'")
    return str(spec["type"]), dict(spec.get("params") or {})


_MERGES = ("concat", "sum", "mul", "ave")


@layer_type("Bidirectional")
class Bidirectional(Layer):
    """A recurrent layer run forwards and over the reversed sequence, outputs merged per step."""

    def __init__(self, shapes: Sequence[Shape], *, layer: Mapping[str, Any], merge_mode: str = "concat") -> None:
        super().__init__()
        kind, params = _inner(layer, "Bidirectional")
        if merge_mode not in _MERGES:
            raise ValueError(f"merge_mode {merge_mode!r}: expected one of {', '.join(_MERGES)}")
        self.forward_layer = make_layer(kind, shapes, params)
        if not isinstance(self.forward_layer, Recurrent):
            raise ValueError(f"Bidirectional wraps a recurrent layer (SimpleRNN, LSTM, GRU), got {kind!r}")
        self.backward_layer = make_layer(kind, shapes, params)
        self.merge_mode = merge_mode

    def output_shape(self, shapes: Sequence[Shape]) -> Shape:
        shape = self.forward_layer.output_shape(shapes)
        return (*shape[:-1], 2 * shape[-1]) if self.merge_mode == "concat" else shape

    def keras_params(self) -> int:
        return self.forward_layer.keras_params() + self.backward_layer.keras_params()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.forward_layer(x)
        b = self.backward_layer(x.flip(1))
        if self.forward_layer.return_sequences:
            b = b.flip(1)  # align the reversed pass with the forward steps, as Keras does
        if self.merge_mode == "concat":
            return torch.cat((a, b), dim=-1)
        if self.merge_mode == "sum":
            return a + b
        if self.merge_mode == "mul":
            return a * b
        return (a + b) / 2.0


@layer_type("TimeDistributed")
class TimeDistributed(Layer):
    """One layer (one set of weights) applied to every slice along axis 1."""

    def __init__(self, shapes: Sequence[Shape], *, layer: Mapping[str, Any]) -> None:
        super().__init__()
        (shape,) = shapes
        if len(shape) < 2:
            raise ShapeError(f"TimeDistributed needs (steps, ...) inputs of rank >= 2, got shape {shape}")
        kind, params = _inner(layer, "TimeDistributed")
        self.layer = make_layer(kind, [shape[1:]], params)

    def output_shape(self, shapes: Sequence[Shape]) -> Shape:
        (shape,) = shapes
        if len(shape) < 2:
            raise ShapeError(f"TimeDistributed needs (steps, ...) inputs of rank >= 2, got shape {shape}")
        return (shape[0], *self.layer.output_shape([shape[1:]]))

    def keras_params(self) -> int:
        return self.layer.keras_params()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.layer(x.reshape(-1, *x.shape[2:]))
        return y.reshape(-1, x.shape[1], *y.shape[1:])
