"""Convolutional nets: the intraday Conv1D classifier, its day-by-day TimeDistributed form, and Inception."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from .recurrent import recurrent_stack
from .registry import register_model
from .spec import Spec, SpecBuilder


def _conv_block(b: SpecBuilder, x: str, filters: int, kernel: int, pool: int, activation: str,
                wrap: bool) -> str:
    """Conv1D same -> MaxPool stride 1 same -> Conv1D valid -> AvgPool stride 1 -> Flatten (Example 9).

    With `wrap`, every layer is applied to each day of a (days, bars, channels) input.
    """
    layers = [
        ("conv_1", "Conv1D", {"filters": filters, "kernel_size": kernel, "padding": "same", "activation": activation}),
        ("max_pool", "MaxPooling1D", {"pool_size": pool, "strides": 1, "padding": "same"}),
        ("conv_2", "Conv1D", {"filters": filters, "kernel_size": kernel, "padding": "valid", "activation": activation}),
        ("avg_pool", "AveragePooling1D", {"pool_size": pool, "strides": 1}),
        ("flatten", "Flatten", {}),
    ]
    for name, kind, params in layers:
        if wrap:
            x = b.add("TimeDistributed", x, name=name, layer={"type": kind, "params": params})
        else:
            x = b.add(kind, x, name=name, **params)
    return x


@register_model("cnn1d", inputs={"features": (240, 1)}, n_outputs=3)
def cnn1d(*, inputs: Mapping[str, tuple[int, ...]], n_outputs: int, filters: int = 4, kernel: int = 5,
          pool: int = 4, activation: str = "relu") -> Spec:
    """(240 minute prices, 1) -> Conv1D 5x4 same -> MaxPool 4/1 same -> Conv1D 5x4 valid -> AvgPool 4/1 (Ex. 9)."""
    b = SpecBuilder("cnn1d")
    x = _conv_block(b, b.input("features", inputs["features"]), filters, kernel, pool, activation, wrap=False)
    b.output(b.add("Dense", x, name="head", units=int(n_outputs)))
    return b.spec()


@register_model("td_cnn_lstm", inputs={"features": (10, 240, 1)}, n_outputs=3)
def td_cnn_lstm(*, inputs: Mapping[str, tuple[int, ...]], n_outputs: int, filters: int = 4, kernel: int = 5,
                pool: int = 4, activation: str = "relu", hidden: Sequence[int] = (50, 30)) -> Spec:
    """The cnn1d block on each of 10 days of 240 minute bars (TimeDistributed), then LSTM 50 -> 30 (Ex. 10)."""
    b = SpecBuilder("td_cnn_lstm")
    x = _conv_block(b, b.input("features", inputs["features"]), filters, kernel, pool, activation, wrap=True)
    x = recurrent_stack(b, x, "LSTM", hidden, prefix="lstm")
    b.output(b.add("Dense", x, name="head", units=int(n_outputs)))
    return b.spec()


def _inception_module(b: SpecBuilder, x: str, name: str, filters: Sequence[int]) -> str:
    """GoogLeNet's module: 1x1 | 1x1 -> 3x3 | 1x1 -> 5x5 | 3x3 max-pool -> 1x1, concatenated, SAME padding."""
    f1, r3, f3, r5, f5, fp = (int(f) for f in filters)

    def conv(inp: str, part: str, n: int, k: int) -> str:
        return b.add("Conv2D", inp, name=f"{name}_{part}", filters=n, kernel_size=k, padding="same",
                     activation="relu")

    branches = [
        conv(x, "1x1", f1, 1),
        conv(conv(x, "3x3_reduce", r3, 1), "3x3", f3, 3),
        conv(conv(x, "5x5_reduce", r5, 1), "5x5", f5, 5),
        conv(b.add("MaxPooling2D", x, name=f"{name}_pool", pool_size=3, strides=1, padding="same"), "pool_proj", fp, 1),
    ]
    return b.add("Concatenate", branches, name=name)


@register_model("inception", inputs={"images": (56, 21, 4)}, n_outputs=3)
def inception(*, inputs: Mapping[str, tuple[int, ...]], n_outputs: int, modules: int = 2,
              filters: Sequence[int] = (64, 96, 128, 16, 32, 32), stem: int = 64, dropout: float = 0.4) -> Spec:
    """Inception modules over a (days, factors, assets) factor image; depth and widths are parameters.

    Input is channels-last like Keras: H = look-back days, W = factors, C = stacked indices or
    stocks (see `images.factor_images`). A 3x3 stem, `modules` Inception modules with a 2x2
    max-pool between them, a global average pool, dropout and the softmax head. `filters` are
    (1x1, 3x3 reduce, 3x3, 5x5 reduce, 5x5, pool projection), GoogLeNet's module 3a by default.
    """
    shape = inputs["images"]
    if len(shape) != 3:
        raise ValueError(f"inception input {shape}: expected (height, width, channels)")
    if modules < 1 or len(filters) != 6:
        raise ValueError(f"inception modules={modules}, filters={list(filters)}: expected >= 1 and 6 widths")
    b = SpecBuilder("inception")
    x = b.input("images", shape)
    if stem:
        x = b.add("Conv2D", x, name="stem", filters=int(stem), kernel_size=3, padding="same", activation="relu")
    height, width = shape[0], shape[1]
    for i in range(1, modules + 1):
        if i > 1:
            x = b.add("MaxPooling2D", x, name=f"pool_{i - 1}", pool_size=2, padding="same")
            height, width = math.ceil(height / 2), math.ceil(width / 2)
        x = _inception_module(b, x, f"inception_{i}", filters)
    x = b.add("AveragePooling2D", x, name="global_pool", pool_size=(height, width))
    x = b.add("Flatten", x, name="flatten")
    if dropout:
        x = b.add("Dropout", x, name="dropout", rate=dropout)
    b.output(b.add("Dense", x, name="head", units=int(n_outputs)))
    return b.spec()
