"""`SignalNet`: the train-fitted scalers, a zoo body and the output heads as one exportable module."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from signalstack.core.scaler import Scaler

from .zoo.spec import SpecModel


@dataclass(frozen=True)
class Head:
    """One model output: its ONNX name, its training loss and the loss's weight.

    The loss decides what the exported output is: crossentropy -> softmax probabilities,
    binary_crossentropy -> a sigmoid probability, mae/mse -> the raw value. An empty loss marks
    an output that is served but not trained (the ranking net's score).
    """

    name: str
    loss: str
    weight: float = 1.0

    def activate(self, z: torch.Tensor) -> torch.Tensor:
        if self.loss == "crossentropy":
            return torch.softmax(z, dim=-1)
        if self.loss == "binary_crossentropy":
            return torch.sigmoid(z)
        return z


class SignalNet(nn.Module):
    """Raw inputs -> outputs: probabilities for classifiers, values for regressors, one tensor per head.

    The scalers live in the graph as buffers, so the ONNX file takes raw inputs and no caller
    can forget or mis-apply them. `logits` is what training optimises. With one head, forward
    returns a tensor; with several, a tuple in head order.
    """

    def __init__(self, body: SpecModel, scalers: Mapping[str, Scaler | None], heads: Sequence[Head]) -> None:
        super().__init__()
        if len(heads) != len(body.output_nodes):
            raise ValueError(f"{len(heads)} heads for a body with outputs {list(body.output_nodes)}")
        self.body = body
        self.heads = tuple(heads)
        self.input_names = body.input_names
        self.scaled = tuple(scalers.get(name) is not None for name in self.input_names)
        for name, scaled in zip(self.input_names, self.scaled):
            if scaled:
                self.register_buffer(f"{name}_mean", torch.as_tensor(scalers[name].mean, dtype=torch.float32))
                self.register_buffer(f"{name}_std", torch.as_tensor(scalers[name].std, dtype=torch.float32))

    @property
    def output_names(self) -> tuple[str, ...]:
        return tuple(h.name for h in self.heads)

    def logits(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        scaled = [
            (x - getattr(self, f"{name}_mean")) / getattr(self, f"{name}_std") if on else x
            for x, name, on in zip(inputs, self.input_names, self.scaled)
        ]
        return self.body(*scaled)

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        out = tuple(head.activate(z) for head, z in zip(self.heads, self.logits(*inputs)))
        return out[0] if len(out) == 1 else out

    def for_serving(self) -> SignalNet:
        """The net that export writes: itself, or the subgraph its spec's `serve` section names.

        The ranking net trains on pairs but serves its scorer: one stock's factors -> score.
        """
        serve = self.body.spec.serve
        if not serve:
            return self
        inputs, outputs = dict(serve["inputs"]), dict(serve["outputs"])
        body = self.body.subgraph(inputs, list(outputs.values()))
        trained = dict(zip(self.body.output_nodes, self.heads))
        heads = [Head(name, trained[node].loss if node in trained else "") for name, node in outputs.items()]
        return SignalNet(body, {new: self.scaler(old) for new, old in inputs.items()}, heads).eval()

    def scaler(self, name: str) -> Scaler | None:
        """The scaler of input `name` as stored in the graph; None for an unscaled input."""
        if not self.scaled[self.input_names.index(name)]:
            return None
        return Scaler(getattr(self, f"{name}_mean").cpu().numpy(), getattr(self, f"{name}_std").cpu().numpy())
