"""Convolutional nets: the intraday Conv1D classifier, its day-by-day TimeDistributed form, and Inception."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .recurrent import recurrent_stack
from .registry import register_model
from .spec import Spec, SpecBuilder


def _conv_block(b: SpecBuilder, x: str, filters: int, kernel: int, pool: int, activation: str, wrap: bool) -> str:
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
def cnn1d(
    *,
    inputs: Mapping[str, tuple[int, ...]],
    n_outputs: int,
    filters: int = 5,
    kernel: int = 4,
    pool: int = 4,
    activation: str = "linear",
) -> Spec:
    """(240 minute prices, 1) -> Conv1D 5x4 same -> MaxPool 4/1 same -> Conv1D 5x4 valid -> AvgPool 4/1 (Ex. 9).

    The post's convolutions have no activation (Keras' default, linear); `activation` adds one.
    """
    b = SpecBuilder("cnn1d")
    x = _conv_block(b, b.input("features", inputs["features"]), filters, kernel, pool, activation, wrap=False)
    b.output(b.add("Dense", x, name="head", units=int(n_outputs)))
    return b.spec()


@register_model("td_cnn_lstm", inputs={"features": (10, 240, 1)}, n_outputs=3)
def td_cnn_lstm(
    *,
    inputs: Mapping[str, tuple[int, ...]],
    n_outputs: int,
    filters: int = 5,
    kernel: int = 4,
    pool: int = 4,
    activation: str = "linear",
    hidden: Sequence[int] = (50, 30),
) -> Spec:
    """The cnn1d block on each of 10 days of 240 minute bars (TimeDistributed), then LSTM 50 -> 30 (Ex. 10)."""
    b = SpecBuilder("td_cnn_lstm")
    x = _conv_block(b, b.input("features", inputs["features"]), filters, kernel, pool, activation, wrap=True)
    x = recurrent_stack(b, x, "LSTM", hidden, prefix="lstm")
    b.output(b.add("Dense", x, name="head", units=int(n_outputs)))
    return b.spec()


GOOGLENET_MODULES = (2, 5, 2)
"""Inception modules per stage (3a-3b, 4a-4e, 5a-5b); a 3x3/2 max-pool separates the stages."""
GOOGLENET_FILTERS = (
    64,
    96,
    128,
    16,
    32,
    32,
    128,
    128,
    192,
    32,
    96,
    64,  # 3a, 3b
    192,
    96,
    208,
    16,
    48,
    64,
    160,
    112,
    224,
    24,
    64,
    64,
    128,
    128,
    256,
    24,
    64,
    64,  # 4a, 4b, 4c
    112,
    144,
    288,
    32,
    64,
    64,
    256,
    160,
    320,
    32,
    128,
    128,  # 4d, 4e
    256,
    160,
    320,
    32,
    128,
    128,
    384,
    192,
    384,
    48,
    128,
    128,  # 5a, 5b
)
"""Each module's (1x1, 3x3 reduce, 3x3, 5x5 reduce, 5x5, pool projection) widths, as the post's weights."""
_LRN = {"depth_radius": 2, "bias": 2.0, "alpha": 1e-4, "beta": 0.75}
"""The post's LRN: depth_radius=5/2.0, which TensorFlow's int attribute truncates to 2 (GoogLeNet's size 5)."""


def _inception_module(b: SpecBuilder, x: str, name: str, widths: Sequence[int], kernels: tuple[int, int]) -> str:
    """GoogLeNet's module: 1x1 | 1x1 -> k3 | 1x1 -> k5 | 3x3 max-pool -> 1x1, all relu, concatenated, SAME."""
    f1, r3, f3, r5, f5, fp = widths

    def conv(inp: str, part: str, n: int, k: int) -> str:
        return b.add("Conv2D", inp, name=f"{name}_{part}", filters=n, kernel_size=k, padding="same", activation="relu")

    branches = [
        conv(x, "1x1", f1, 1),
        conv(conv(x, "3x3_reduce", r3, 1), "3x3", f3, kernels[0]),
        conv(conv(x, "5x5_reduce", r5, 1), "5x5", f5, kernels[1]),
        conv(b.add("MaxPooling2D", x, name=f"{name}_pool", pool_size=3, strides=1, padding="same"), "pool_proj", fp, 1),
    ]
    return b.add("Concatenate", branches, name=name)


def _module_widths(modules: Sequence[int], filters: Sequence[int]) -> list[tuple[int, ...]]:
    """Six widths per module: `filters` holds six for every module, or six for each in order."""
    if not modules or min(int(m) for m in modules) < 1:
        raise ValueError(f"inception modules {list(modules)}: expected modules per stage, each >= 1")
    count = sum(int(m) for m in modules)
    if len(filters) not in (6, 6 * count):
        raise ValueError(
            f"inception filters: {len(filters)} widths for {count} modules: expected 6 "
            f"(every module) or {6 * count} (6 per module)"
        )
    widths = [int(f) for f in filters] * (count if len(filters) == 6 else 1)
    return [tuple(widths[6 * k : 6 * k + 6]) for k in range(count)]


def _googlenet_stem(b: SpecBuilder, x: str, stem: Sequence[int]) -> str:
    """The post's A1-A2: Conv 7x7/2 relu, max-pool 3x3/2, LRN, Conv 1x1, Conv 3x3 (both linear), LRN, max-pool."""
    if len(stem) != 3:
        raise ValueError(f"inception stem {list(stem)}: expected 3 widths (7x7/2 conv, 1x1 conv, 3x3 conv)")
    x = b.add(
        "Conv2D", x, name="conv_1", filters=int(stem[0]), kernel_size=7, strides=2, padding="same", activation="relu"
    )
    x = b.add("MaxPooling2D", x, name="pool_1", pool_size=3, strides=2, padding="same")
    x = b.add("LocalResponseNormalization", x, name="lrn_1", **_LRN)
    x = b.add("Conv2D", x, name="conv_2_reduce", filters=int(stem[1]), kernel_size=1, padding="same")
    x = b.add("Conv2D", x, name="conv_2", filters=int(stem[2]), kernel_size=3, padding="same")
    x = b.add("LocalResponseNormalization", x, name="lrn_2", **_LRN)
    return b.add("MaxPooling2D", x, name="pool_2", pool_size=3, strides=2, padding="same")


@register_model("inception", inputs={"images": (224, 224, 4)}, n_outputs=3)
def inception(
    *,
    inputs: Mapping[str, tuple[int, ...]],
    n_outputs: int,
    stem: Sequence[int] = (64, 64, 192),
    modules: Sequence[int] = GOOGLENET_MODULES,
    filters: Sequence[int] = GOOGLENET_FILTERS,
    branch_kernels: Sequence[int] = (1, 5),
    final_pool: int = 7,
    dropout: float = 0.6,
) -> Spec:
    """GoogLeNet over a (224, 224, 4) factor image, as the Inception post codes it: 9 modules, 3 classes.

    Channels-last like Keras: the post stacks four indices as channels of 224x224 factor pixels
    (`images.factor_images` with `shape=(224, 224)`; other sizes work). Its code, kept here:
    the stem of `_googlenet_stem`; modules 3a-3b | 4a-4e | 5a-5b with a 3x3/2 max-pool between
    stages; a 7x7 average pool of stride 1 with SAME padding (which keeps 7x7 positions), dropout
    0.6 (keep_prob=0.4) and a linear layer over all 7 * 7 * 1024 values. The post's weights give
    the "3x3" branch a 1x1 kernel: `branch_kernels` = (1, 5); GoogLeNet's paper has (3, 5).
    """
    shape = inputs["images"]
    if len(shape) != 3:
        raise ValueError(f"inception input {shape}: expected (height, width, channels)")
    if len(branch_kernels) != 2:
        raise ValueError(
            f"inception branch_kernels {list(branch_kernels)}: expected 2 kernel sizes (the 3x3 and 5x5 branches)"
        )
    widths = iter(_module_widths(modules, filters))
    kernels = (int(branch_kernels[0]), int(branch_kernels[1]))
    b = SpecBuilder("inception")
    x = _googlenet_stem(b, b.input("images", shape), stem)
    for stage, count in enumerate(modules, start=3):
        if stage > 3:
            x = b.add("MaxPooling2D", x, name=f"pool_{stage - 1}", pool_size=3, strides=2, padding="same")
        for k in range(int(count)):
            x = _inception_module(b, x, f"inception_{stage}{chr(ord('a') + k)}", next(widths), kernels)
    x = b.add("AveragePooling2D", x, name="avg_pool", pool_size=int(final_pool), strides=1, padding="same")
    if dropout:
        x = b.add("Dropout", x, name="dropout", rate=dropout)
    x = b.add("Flatten", x, name="flatten")
    b.output(b.add("Dense", x, name="head", units=int(n_outputs)))
    return b.spec()
