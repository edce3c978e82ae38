"""The spec layer catalogue, Keras semantics: core, merge, normalisation, embedding and noise layers.

Shapes exclude the batch axis and are channels-last, as in Keras. A layer is built for the
shapes of its first call and then checks every call's shapes, which is what makes one layer
usable at two places of a graph (shared weights) and lets shape errors surface before training.
Recurrent and convolutional layers live in `layers_recurrent` and `layers_conv`.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from signalstack.core.errors import InvalidInput

Shape = tuple[int, ...]


class ShapeError(InvalidInput):
    """Input shapes a layer cannot take; the spec builder prefixes the layer's name."""


class Layer(nn.Module):
    """A layer of the catalogue: `output_shape` checks a call's input shapes and returns its output's."""

    arity: ClassVar[int | None] = 1
    """Inputs per call; None for merge layers, which take two or more."""

    def output_shape(self, shapes: Sequence[Shape]) -> Shape:
        raise NotImplementedError

    def keras_params(self) -> int:
        """The parameter count Keras reports for this layer (differs for recurrent biases, batch-norm)."""
        return sum(p.numel() for p in self.parameters())


LAYER_TYPES: dict[str, type[Layer]] = {}


def layer_type(*names: str) -> Callable[[type[Layer]], type[Layer]]:
    """Register a layer class under its Keras name(s)."""

    def register(cls: type[Layer]) -> type[Layer]:
        for name in names:
            LAYER_TYPES[name] = cls
        return cls

    return register


def make_layer(kind: str, shapes: Sequence[Shape], params: Mapping[str, Any]) -> Layer:
    """Build the layer `kind` for its first call's input shapes, checking its parameters by name."""
    if kind not in LAYER_TYPES:
        raise ValueError(f"unknown layer type {kind!r} (expected one of {', '.join(sorted(LAYER_TYPES))})")
    cls = LAYER_TYPES[kind]
    if cls.arity is None and len(shapes) < 2:
        raise ShapeError(f"{kind} merges two or more inputs, got {len(shapes)}")
    if cls.arity is not None and len(shapes) != cls.arity:
        raise ShapeError(f"{kind} takes {cls.arity} input(s), got {len(shapes)}")
    signature = inspect.signature(cls.__init__).parameters.values()
    allowed = {p.name for p in signature if p.kind is p.KEYWORD_ONLY}
    required = {p.name for p in signature if p.kind is p.KEYWORD_ONLY and p.default is p.empty}
    unknown, missing = set(params) - allowed, required - set(params)
    if unknown:
        raise ValueError(f"{kind}: unknown parameter(s) {sorted(unknown)} (expected some of {sorted(allowed)})")
    if missing:
        raise ValueError(f"{kind}: missing parameter(s) {sorted(missing)}")
    return cls(list(shapes), **params)


def _hard_sigmoid(x: torch.Tensor) -> torch.Tensor:
    return torch.clamp(0.2 * x + 0.5, 0.0, 1.0)


ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "linear": lambda x: x,
    "relu": torch.relu,
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "softmax": lambda x: torch.softmax(x, dim=-1),
    "elu": F.elu,
    "selu": F.selu,
    "softplus": F.softplus,
    "softsign": F.softsign,
    "hard_sigmoid": _hard_sigmoid,
    "exponential": torch.exp,
    "gelu": F.gelu,
    "swish": F.silu,
    "leaky_relu": F.leaky_relu,
}


def check_activation(name: str | None) -> str:
    name = name or "linear"
    if name not in ACTIVATIONS:
        raise ValueError(f"activation {name!r}: expected one of {', '.join(sorted(ACTIVATIONS))}")
    return name


def check_rate(rate: float, name: str = "rate") -> float:
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"{name} {rate}: expected 0 <= {name} < 1")
    return float(rate)


def check_rank(shape: Shape, rank: int, what: str) -> None:
    if len(shape) != rank:
        raise ShapeError(f"{what} takes inputs of rank {rank} (batch excluded), got shape {shape}")


def _one(shapes: Sequence[Shape]) -> Shape:
    (shape,) = shapes
    return shape


class _SameShape(Layer):
    """Layers whose output has their input's shape."""

    def output_shape(self, shapes: Sequence[Shape]) -> Shape:
        return _one(shapes)


@layer_type("Dense")
class Dense(Layer):
    """Affine map of the last axis (Keras applies Dense to the last axis of any rank)."""

    def __init__(
        self, shapes: Sequence[Shape], *, units: int, activation: str | None = "linear", use_bias: bool = True
    ) -> None:
        super().__init__()
        shape = _one(shapes)
        if not shape:
            raise ShapeError("Dense needs an input with at least one axis")
        self.activation = check_activation(activation)
        self.linear = nn.Linear(shape[-1], int(units), bias=use_bias)

    def output_shape(self, shapes: Sequence[Shape]) -> Shape:
        shape = _one(shapes)
        if not shape or shape[-1] != self.linear.in_features:
            raise ShapeError(f"Dense built for a last axis of {self.linear.in_features}, got shape {shape}")
        return (*shape[:-1], self.linear.out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return ACTIVATIONS[self.activation](self.linear(x))


@layer_type("Activation")
class Activation(_SameShape):
    def __init__(self, shapes: Sequence[Shape], *, activation: str) -> None:
        super().__init__()
        self.activation = check_activation(activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return ACTIVATIONS[self.activation](x)


@layer_type("Dropout")
class Dropout(_SameShape):
    module: ClassVar[type[nn.Module]] = nn.Dropout

    def __init__(self, shapes: Sequence[Shape], *, rate: float) -> None:
        super().__init__()
        self.drop = self.module(check_rate(rate))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(x)


@layer_type("AlphaDropout")
class AlphaDropout(Dropout):
    """Dropout that keeps a SELU network's mean and variance."""

    module = nn.AlphaDropout


@layer_type("GaussianNoise")
class GaussianNoise(_SameShape):
    """Adds N(0, stddev²) noise in training; the identity at inference."""

    def __init__(self, shapes: Sequence[Shape], *, stddev: float) -> None:
        super().__init__()
        if stddev < 0:
            raise ValueError(f"stddev {stddev}: expected >= 0")
        self.stddev = float(stddev)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + torch.randn_like(x) * self.stddev if self.training else x


@layer_type("GaussianDropout")
class GaussianDropout(_SameShape):
    """Multiplies by N(1, rate / (1 - rate)) noise in training; the identity at inference."""

    def __init__(self, shapes: Sequence[Shape], *, rate: float) -> None:
        super().__init__()
        self.stddev = math.sqrt(check_rate(rate) / (1.0 - rate))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * (1.0 + torch.randn_like(x) * self.stddev) if self.training else x


@layer_type("BinaryLogits")
class BinaryLogits(Layer):
    """One logit z -> the two logits [0, z], whose softmax is [1 - sigmoid(z), sigmoid(z)].

    The Keras posts end binary classifiers in Dense(1, sigmoid); this keeps that single unit
    (and its parameter count) while the net still exports a probability per class, as every
    classifier's `probabilities` output does. Cross-entropy on [0, z] equals binary
    cross-entropy on z, so training is the post's too.
    """

    def __init__(self, shapes: Sequence[Shape]) -> None:
        super().__init__()
        self.output_shape(shapes)

    def output_shape(self, shapes: Sequence[Shape]) -> Shape:
        shape = _one(shapes)
        if shape != (1,):
            raise ShapeError(f"BinaryLogits takes one logit per sample, shape (1,), got shape {shape}")
        return (2,)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.cat((torch.zeros_like(z), z), dim=-1)


@layer_type("Flatten")
class Flatten(Layer):
    """All non-batch axes into one, in channels-last (Keras) order."""

    def __init__(self, shapes: Sequence[Shape]) -> None:
        super().__init__()

    def output_shape(self, shapes: Sequence[Shape]) -> Shape:
        return (math.prod(_one(shapes)),)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1)


@layer_type("Reshape")
class Reshape(Layer):
    def __init__(self, shapes: Sequence[Shape], *, target_shape: Sequence[int]) -> None:
        super().__init__()
        self.target = tuple(int(d) for d in target_shape)
        if self.target.count(-1) > 1 or any(d == 0 or d < -1 for d in self.target):
            raise ValueError(f"target_shape {list(self.target)}: expected positive sizes and at most one -1")

    def output_shape(self, shapes: Sequence[Shape]) -> Shape:
        shape = _one(shapes)
        size, known = math.prod(shape), math.prod(d for d in self.target if d != -1)
        if -1 in self.target and size % known == 0:
            return tuple(size // known if d == -1 else d for d in self.target)
        if -1 not in self.target and known == size:
            return self.target
        raise ShapeError(f"cannot reshape {shape} ({size} values) to {list(self.target)}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(-1, *self.target) if -1 not in self.target else x.reshape(x.shape[0], *self.target)


class _Merge(Layer):
    """Element-wise merges of inputs of one shape."""

    arity = None

    def __init__(self, shapes: Sequence[Shape]) -> None:
        super().__init__()

    def output_shape(self, shapes: Sequence[Shape]) -> Shape:
        if len(set(shapes)) != 1:
            raise ShapeError(f"{type(self).__name__} needs inputs of one shape, got {', '.join(map(str, shapes))}")
        return shapes[0]


@layer_type("Add")
class Add(_Merge):
    """Sum of the inputs: residual connections."""

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        out = xs[0]
        for x in xs[1:]:
            out = out + x
        return out


@layer_type("Subtract")
class Subtract(_Merge):
    arity = 2

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return a - b


@layer_type("Concatenate")
class Concatenate(Layer):
    """Joins inputs along `axis`, counted as in Keras (the batch axis is 0; -1 is the last)."""

    arity = None

    def __init__(self, shapes: Sequence[Shape], *, axis: int = -1) -> None:
        super().__init__()
        if axis == 0:
            raise ValueError("axis 0 is the batch axis: expected another axis")
        self.axis = int(axis)

    def output_shape(self, shapes: Sequence[Shape]) -> Shape:
        ranks = {len(s) for s in shapes}
        rank = ranks.pop() if len(ranks) == 1 else -1
        index = self.axis - 1 if self.axis > 0 else rank + self.axis
        if rank < 1 or not 0 <= index < rank:
            raise ShapeError(f"cannot concatenate shapes {', '.join(map(str, shapes))} on axis {self.axis}")
        others = {s[:index] + s[index + 1 :] for s in shapes}
        if len(others) != 1:
            raise ShapeError(
                f"Concatenate on axis {self.axis} needs equal other axes, got {', '.join(map(str, shapes))}"
            )
        first = shapes[0]
        return (*first[:index], sum(s[index] for s in shapes), *first[index + 1 :])

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        return torch.cat(xs, dim=self.axis)


@layer_type("BatchNormalization")
class BatchNormalization(_SameShape):
    """Normalises `axis` (default the last, channels-last) over all other axes; Keras defaults.

    Keras' momentum m weighs the old moving average, torch's the new batch: torch = 1 - m.
    """

    def __init__(
        self,
        shapes: Sequence[Shape],
        *,
        axis: int = -1,
        momentum: float = 0.99,
        epsilon: float = 1e-3,
        center: bool = True,
        scale: bool = True,
    ) -> None:
        super().__init__()
        shape = _one(shapes)
        index = axis - 1 if axis > 0 else len(shape) + axis
        if not 0 <= index < len(shape):
            raise ShapeError(f"BatchNormalization axis {axis} is outside an input of shape {shape}")
        self.index = index + 1  # with the batch axis
        self.norm = nn.BatchNorm1d(shape[index], eps=epsilon, momentum=1.0 - momentum, affine=center or scale)
        self.affine_terms = int(center) + int(scale)
        if self.norm.affine:
            self.norm.weight.requires_grad_(scale)
            self.norm.bias.requires_grad_(center)

    def output_shape(self, shapes: Sequence[Shape]) -> Shape:
        shape = _one(shapes)
        if len(shape) < self.index or shape[self.index - 1] != self.norm.num_features:
            raise ShapeError(
                f"BatchNormalization built for {self.norm.num_features} features on axis "
                f"{self.index}, got shape {shape}"
            )
        return shape

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        moved = x.movedim(self.index, -1)
        flat = self.norm(moved.reshape(-1, self.norm.num_features))
        return flat.reshape(moved.shape).movedim(-1, self.index)

    def keras_params(self) -> int:
        # Keras counts the moving mean and variance as non-trainable parameters, and omits
        # gamma or beta when scale or center is off (torch keeps both, frozen).
        return (2 + self.affine_terms) * self.norm.num_features


@layer_type("LocalResponseNormalization")
class LocalResponseNormalization(_SameShape):
    """TensorFlow's `tf.nn.local_response_normalization` over the last (channel) axis, as GoogLeNet uses it.

    x / (bias + alpha * s) ** beta, where s sums the squares of the 2 * depth_radius + 1 nearest
    channels (fewer at the edges). Keras has no such layer; the Inception post calls TensorFlow's.
    Defaults are TensorFlow's.
    """

    def __init__(
        self,
        shapes: Sequence[Shape],
        *,
        depth_radius: int = 5,
        bias: float = 1.0,
        alpha: float = 1.0,
        beta: float = 0.5,
    ) -> None:
        super().__init__()
        shape = _one(shapes)
        if not shape:
            raise ShapeError("LocalResponseNormalization needs an input with a channel axis")
        if int(depth_radius) != depth_radius or depth_radius < 0:
            raise ValueError(f"depth_radius {depth_radius!r}: expected an int >= 0")
        self.radius = int(depth_radius)
        self.bias, self.alpha, self.beta = float(bias), float(alpha), float(beta)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # The window sums as 2r + 1 shifted slices of the zero-padded squares: exact, channels-last,
        # and plain Pad/Slice/Add in ONNX (torch's local_response_norm pools a channels-first copy).
        channels = x.shape[-1]
        squares = F.pad(x * x, (self.radius, self.radius))
        window = sum(squares[..., k : k + channels] for k in range(2 * self.radius + 1))
        return x / (self.bias + self.alpha * window) ** self.beta


@layer_type("Embedding")
class Embedding(Layer):
    """Integer codes (sent as floats) -> vectors; its input must not be standardised (`scale: false`)."""

    def __init__(self, shapes: Sequence[Shape], *, input_dim: int, output_dim: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(int(input_dim), int(output_dim))

    def output_shape(self, shapes: Sequence[Shape]) -> Shape:
        return (*_one(shapes), self.embedding.embedding_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.embedding(x.long())
