"""Convolution, pooling, cropping, up-sampling and zero-padding layers in 1, 2 and 3 dimensions.

Inputs are channels-last, (steps, C), (H, W, C) or (D, H, W, C), as in Keras; torch's
channels-first kernels run on a moved axis. "same" padding follows TensorFlow: the extra pixel
of an odd total goes after, so outputs have ceil(size / stride) positions.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .layers import ACTIVATIONS, Layer, Shape, ShapeError, check_activation, check_rank, layer_type

Pads = tuple[tuple[int, int], ...]


def _ints(value: int | Sequence[int], rank: int, name: str) -> tuple[int, ...]:
    """An int or one int per spatial axis."""
    values = (int(value),) * rank if isinstance(value, int) else tuple(int(v) for v in value)
    if len(values) != rank or min(values) < 1:
        raise ValueError(f"{name} {value!r}: expected a positive int or {rank} positive ints")
    return values


def _pairs(value: int | Sequence, rank: int, name: str) -> Pads:
    """Keras' (before, after) amounts per spatial axis from an int, one int per axis, or pairs."""
    if isinstance(value, int):
        pairs = ((value, value),) * rank
    elif rank == 1 and len(value) == 2 and all(isinstance(v, int) for v in value):
        pairs = ((value[0], value[1]),)
    elif len(value) == rank and all(isinstance(v, int) for v in value):
        pairs = tuple((v, v) for v in value)
    elif len(value) == rank:
        pairs = tuple((int(a), int(b)) for a, b in value)
    else:
        raise ValueError(f"{name} {value!r}: expected an int, {rank} ints or {rank} (before, after) pairs")
    if min(min(p) for p in pairs) < 0:
        raise ValueError(f"{name} {value!r}: expected amounts >= 0")
    return pairs


def _padding(
    sizes: Sequence[int], kernel: Sequence[int], strides: Sequence[int], dilation: Sequence[int], mode: str
) -> Pads:
    """(before, after) zeros per spatial axis for Keras' valid, same or causal padding."""
    if mode == "valid":
        return tuple((0, 0) for _ in sizes)
    if mode == "causal":
        return tuple(((k - 1) * d, 0) for k, d in zip(kernel, dilation))
    pads = []
    for n, k, s, d in zip(sizes, kernel, strides, dilation):
        total = max((math.ceil(n / s) - 1) * s + (k - 1) * d + 1 - n, 0)
        pads.append((total // 2, total - total // 2))
    return tuple(pads)


def _torch_pad(pads: Pads) -> list[int]:
    """F.pad's argument for a channels-first tensor: last axis first."""
    return [amount for pair in reversed(pads) for amount in pair]


def _sliding(
    sizes: Sequence[int], kernel: Sequence[int], strides: Sequence[int], dilation: Sequence[int], pads: Pads, what: str
) -> tuple[int, ...]:
    out = tuple(
        (n + a + b - (k - 1) * d - 1) // s + 1 for n, k, s, d, (a, b) in zip(sizes, kernel, strides, dilation, pads)
    )
    if min(out) < 1:
        raise ShapeError(f"{what} window {kernel} does not fit an input of spatial size {tuple(sizes)}")
    return out


def _channels_first(x: torch.Tensor) -> torch.Tensor:
    return x.movedim(-1, 1)


def _channels_last(x: torch.Tensor) -> torch.Tensor:
    return x.movedim(1, -1)


class _Spatial(Layer):
    """Layers over the spatial axes of a channels-last input of a fixed rank."""

    rank: int

    def _spatial(self, shape: Shape) -> Shape:
        check_rank(shape, self.rank + 1, type(self).__name__)
        return shape[:-1]


class _Conv(_Spatial):
    """Conv1D/2D/3D: `filters` kernels of `kernel_size`, padding valid, same (or causal in 1-D)."""

    def __init__(
        self,
        shapes: Sequence[Shape],
        *,
        filters: int,
        kernel_size: int | Sequence[int],
        strides: int | Sequence[int] = 1,
        padding: str = "valid",
        dilation_rate: int | Sequence[int] = 1,
        activation: str | None = "linear",
        use_bias: bool = True,
    ) -> None:
        super().__init__()
        (shape,) = shapes
        self._spatial(shape)
        modes = ("valid", "same", "causal") if self.rank == 1 else ("valid", "same")
        if padding not in modes:
            raise ValueError(f"padding {padding!r}: expected one of {', '.join(modes)}")
        self.kernel = _ints(kernel_size, self.rank, "kernel_size")
        self.strides = _ints(strides, self.rank, "strides")
        self.dilation = _ints(dilation_rate, self.rank, "dilation_rate")
        self.padding = padding
        self.activation = check_activation(activation)
        conv = (nn.Conv1d, nn.Conv2d, nn.Conv3d)[self.rank - 1]
        self.conv = conv(
            shape[-1], int(filters), self.kernel, stride=self.strides, dilation=self.dilation, bias=use_bias
        )

    def _pads(self, shape: Shape) -> Pads:
        return _padding(shape[:-1], self.kernel, self.strides, self.dilation, self.padding)

    def output_shape(self, shapes: Sequence[Shape]) -> Shape:
        (shape,) = shapes
        sizes = self._spatial(shape)
        if shape[-1] != self.conv.in_channels:
            raise ShapeError(f"{type(self).__name__} built for {self.conv.in_channels} channels, got shape {shape}")
        out = _sliding(sizes, self.kernel, self.strides, self.dilation, self._pads(shape), type(self).__name__)
        return (*out, self.conv.out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = self._pads(tuple(x.shape[1:]))
        x = _channels_first(x)
        if any(a or b for a, b in pads):
            x = F.pad(x, _torch_pad(pads))
        return ACTIVATIONS[self.activation](_channels_last(self.conv(x)))


@layer_type("Conv2DTranspose")
class Conv2DTranspose(_Spatial):
    """Transposed 2-D convolution: valid gives (n-1)*stride + kernel positions, same gives n*stride."""

    rank = 2

    def __init__(
        self,
        shapes: Sequence[Shape],
        *,
        filters: int,
        kernel_size: int | Sequence[int],
        strides: int | Sequence[int] = 1,
        padding: str = "valid",
        activation: str | None = "linear",
        use_bias: bool = True,
    ) -> None:
        super().__init__()
        (shape,) = shapes
        self._spatial(shape)
        if padding not in ("valid", "same"):
            raise ValueError(f"padding {padding!r}: expected valid or same")
        self.kernel = _ints(kernel_size, 2, "kernel_size")
        self.strides = _ints(strides, 2, "strides")
        self.padding = padding
        self.activation = check_activation(activation)
        # For "same" with kernel < stride the output needs extra trailing positions; larger
        # kernels are cropped instead (see forward).
        extra = tuple(max(s - k, 0) if padding == "same" else 0 for k, s in zip(self.kernel, self.strides))
        self.conv = nn.ConvTranspose2d(
            shape[-1], int(filters), self.kernel, stride=self.strides, output_padding=extra, bias=use_bias
        )

    def output_shape(self, shapes: Sequence[Shape]) -> Shape:
        (shape,) = shapes
        sizes = self._spatial(shape)
        if shape[-1] != self.conv.in_channels:
            raise ShapeError(f"Conv2DTranspose built for {self.conv.in_channels} channels, got shape {shape}")
        if self.padding == "same":
            return (*(n * s for n, s in zip(sizes, self.strides)), self.conv.out_channels)
        return (*((n - 1) * s + k for n, k, s in zip(sizes, self.kernel, self.strides)), self.conv.out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        sizes = x.shape[1:-1]
        y = self.conv(_channels_first(x))
        if self.padding == "same":
            for axis, (n, k, s) in enumerate(zip(sizes, self.kernel, self.strides), start=2):
                start = max(k - s, 0) // 2
                y = y.narrow(axis, start, n * s)
        return ACTIVATIONS[self.activation](_channels_last(y))


class _Pool(_Spatial):
    """Max/AveragePooling1D/2D/3D; strides default to pool_size, as in Keras."""

    def __init__(
        self,
        shapes: Sequence[Shape],
        *,
        pool_size: int | Sequence[int] = 2,
        strides: int | Sequence[int] | None = None,
        padding: str = "valid",
    ) -> None:
        super().__init__()
        (shape,) = shapes
        self.sizes = self._spatial(shape)
        if padding not in ("valid", "same"):
            raise ValueError(f"padding {padding!r}: expected valid or same")
        self.pool = _ints(pool_size, self.rank, "pool_size")
        self.strides = _ints(strides if strides is not None else self.pool, self.rank, "strides")
        self.pads = _padding(self.sizes, self.pool, self.strides, (1,) * self.rank, padding)
        self.out = _sliding(self.sizes, self.pool, self.strides, (1,) * self.rank, self.pads, type(self).__name__)

    def output_shape(self, shapes: Sequence[Shape]) -> Shape:
        (shape,) = shapes
        if self._spatial(shape) != self.sizes:
            raise ShapeError(f"{type(self).__name__} built for spatial size {self.sizes}, got shape {shape}")
        return (*self.out, shape[-1])


class _MaxPool(_Pool):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = _channels_first(x)
        if any(a or b for a, b in self.pads):
            x = F.pad(x, _torch_pad(self.pads), value=-math.inf)  # padding never wins a max
        pool = (F.max_pool1d, F.max_pool2d, F.max_pool3d)[self.rank - 1]
        return _channels_last(pool(x, self.pool, self.strides))


class _AvgPool(_Pool):
    """Averages over the window's real positions only: padding does not dilute edge averages."""

    def __init__(
        self,
        shapes: Sequence[Shape],
        *,
        pool_size: int | Sequence[int] = 2,
        strides: int | Sequence[int] | None = None,
        padding: str = "valid",
    ) -> None:
        super().__init__(shapes, pool_size=pool_size, strides=strides, padding=padding)
        ones = F.pad(torch.ones(1, 1, *self.sizes), _torch_pad(self.pads))
        share = self._avg(ones)
        self.register_buffer("correction", 1.0 / share[0], persistent=False)

    def _avg(self, x: torch.Tensor) -> torch.Tensor:
        return (F.avg_pool1d, F.avg_pool2d, F.avg_pool3d)[self.rank - 1](x, self.pool, self.strides)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = _channels_first(x)
        if any(a or b for a, b in self.pads):
            return _channels_last(self._avg(F.pad(x, _torch_pad(self.pads))) * self.correction)
        return _channels_last(self._avg(x))


class _Cropping(_Spatial):
    def __init__(self, shapes: Sequence[Shape], *, cropping: int | Sequence = 1) -> None:
        super().__init__()
        self.crops = _pairs(cropping, self.rank, "cropping")

    def output_shape(self, shapes: Sequence[Shape]) -> Shape:
        (shape,) = shapes
        sizes = self._spatial(shape)
        out = tuple(n - a - b for n, (a, b) in zip(sizes, self.crops))
        if min(out) < 1:
            raise ShapeError(f"{type(self).__name__} {self.crops} leaves nothing of spatial size {sizes}")
        return (*out, shape[-1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for axis, (a, b) in enumerate(self.crops, start=1):
            x = x.narrow(axis, a, x.shape[axis] - a - b)
        return x


class _ZeroPadding(_Spatial):
    def __init__(self, shapes: Sequence[Shape], *, padding: int | Sequence = 1) -> None:
        super().__init__()
        self.pads = _pairs(padding, self.rank, "padding")

    def output_shape(self, shapes: Sequence[Shape]) -> Shape:
        (shape,) = shapes
        sizes = self._spatial(shape)
        return (*(n + a + b for n, (a, b) in zip(sizes, self.pads)), shape[-1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pad(x, [0, 0, *_torch_pad(self.pads)])


class _UpSampling(_Spatial):
    """Nearest-neighbour up-sampling: every position repeated `size` times along its axis."""

    def __init__(
        self, shapes: Sequence[Shape], *, size: int | Sequence[int] = 2, interpolation: str = "nearest"
    ) -> None:
        super().__init__()
        if interpolation != "nearest":
            raise ValueError(f"interpolation {interpolation!r}: only 'nearest' is supported")
        self.size = _ints(size, self.rank, "size")

    def output_shape(self, shapes: Sequence[Shape]) -> Shape:
        (shape,) = shapes
        sizes = self._spatial(shape)
        return (*(n * s for n, s in zip(sizes, self.size)), shape[-1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for axis, s in enumerate(self.size, start=1):
            if s > 1:
                x = x.repeat_interleave(s, dim=axis)
        return x


def _register_ranks(base: type[_Spatial], name: str) -> None:
    """Register `name`1D, 2D and 3D: the base class at each spatial rank."""
    for rank in (1, 2, 3):
        layer_type(f"{name}{rank}D")(type(f"{name}{rank}D", (base,), {"rank": rank, "__module__": __name__}))


for _base, _name in (
    (_Conv, "Conv"),
    (_MaxPool, "MaxPooling"),
    (_AvgPool, "AveragePooling"),
    (_Cropping, "Cropping"),
    (_ZeroPadding, "ZeroPadding"),
    (_UpSampling, "UpSampling"),
):
    _register_ranks(_base, _name)
