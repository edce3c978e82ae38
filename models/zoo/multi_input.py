"""Two-input nets: fundamental factors (a vector) beside technical windows (T, F), and the multitask net."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .dense import dense_stack
from .recurrent import NORM_MOMENTUM, norm_and_dropout, recurrent_stack
from .registry import Outputs, register_model
from .spec import Spec, SpecBuilder

TWO_INPUTS = {"fundamentals": (50,), "features": (60, 30)}


def _two_branches(
    b: SpecBuilder,
    inputs: Mapping[str, tuple[int, ...]],
    dense: Sequence[int],
    recurrent: Sequence[int],
    cell: str,
    *,
    dropout: float = 0.0,
    cell_dropout: float | Sequence[float] = 0.0,
    recurrent_dropout: float = 0.0,
    norm: bool = False,
    momentum: float = NORM_MOMENTUM,
) -> str:
    """Fundamentals through Dense layers, technicals through recurrent layers, concatenated."""
    f = b.input("fundamentals", inputs["fundamentals"])
    t = b.input("features", inputs["features"])
    for i, units in enumerate(dense, start=1):
        if norm:
            f = norm_and_dropout(b, f, f"fundamental_{i}", dropout, momentum)
        f = b.add("Dense", f, name=f"fundamental_{i}", units=int(units), activation="relu")
    t = recurrent_stack(
        b,
        t,
        cell,
        recurrent,
        dropout=dropout,
        cell_dropout=cell_dropout,
        recurrent_dropout=recurrent_dropout,
        norm=norm,
        prefix="technical",
        momentum=momentum,
    )
    x = b.add("Concatenate", [f, t], name="joined")
    return norm_and_dropout(b, x, "joined", dropout, momentum) if norm else x


@register_model("dual_rnn", inputs=TWO_INPUTS, n_outputs=3)
def dual_rnn(
    *,
    inputs: Mapping[str, tuple[int, ...]],
    n_outputs: int,
    dense: Sequence[int] = (100, 100),
    recurrent: Sequence[int] = (60, 60),
    cell: str = "SimpleRNN",
) -> Spec:
    """50 fundamentals -> Dense 100 x2 beside (60, 30) technicals -> SimpleRNN 60 x2, joined -> 3 classes (Ex. 3)."""
    b = SpecBuilder("dual_rnn")
    x = _two_branches(b, inputs, dense, recurrent, cell)
    b.output(b.add("Dense", x, name="head", units=int(n_outputs)))
    return b.spec()


@register_model("dual_lstm", inputs=TWO_INPUTS, n_outputs=3)
def dual_lstm(
    *,
    inputs: Mapping[str, tuple[int, ...]],
    n_outputs: int,
    dense: Sequence[int] = (100, 100),
    recurrent: Sequence[int] = (60, 60),
    cell: str = "SimpleRNN",
    dropout: float = 0.5,
    cell_dropout: float | Sequence[float] = (0.3,),
    recurrent_dropout: float = 0.0,
    norm_momentum: float = NORM_MOMENTUM,
) -> Spec:
    """dual_rnn with batch-norm and Dropout 0.5 on every layer's input, the join's included (Example 5).

    The post's prose says it swaps SimpleRNN for LSTM, its code keeps SimpleRNN 60 (the default
    here; `cell` selects another). Its first cell has input dropout 0.3 (Keras' `dropout`), the
    second none: `cell_dropout` gives the first layers' rates.
    """
    b = SpecBuilder("dual_lstm")
    x = _two_branches(
        b,
        inputs,
        dense,
        recurrent,
        cell,
        dropout=dropout,
        cell_dropout=cell_dropout,
        recurrent_dropout=recurrent_dropout,
        norm=True,
        momentum=norm_momentum,
    )
    b.output(b.add("Dense", x, name="head", units=int(n_outputs)))
    return b.spec()


@register_model(
    "multitask", inputs={"fundamentals": (30,), "features": (50,)}, n_outputs={"probabilities": 3, "forecast": 1}
)
def multitask(
    *,
    inputs: Mapping[str, tuple[int, ...]],
    n_outputs: Outputs,
    hidden: Sequence[int] = (60, 20),
    joined: Sequence[int] = (80, 50),
    loss_weights: Sequence[float] = (2.0, 1.0),
) -> Spec:
    """30 fundamentals -> Dense 60 -> Dense 20 -> 3 classes; 50 technicals + that 20 -> Dense 80 -> 50 -> 1 (Ex. 8).

    Two outputs, `probabilities` (cross-entropy) and `forecast` (mean squared error, as the
    post), loss weights 2:1 by default. `n_outputs` maps those names to sizes; an int is the
    class count (forecast 1). A (T, F) window of technicals is flattened first.
    """
    sizes = {"probabilities": int(n_outputs), "forecast": 1} if isinstance(n_outputs, int) else dict(n_outputs)
    if set(sizes) != {"probabilities", "forecast"}:
        raise ValueError(f"multitask n_outputs {sizes}: expected sizes for 'probabilities' and 'forecast'")
    if len(loss_weights) != 2:
        raise ValueError(f"multitask loss_weights {list(loss_weights)}: expected (classification, regression)")
    b = SpecBuilder("multitask")
    f = b.input("fundamentals", inputs["fundamentals"])
    t = b.input("features", inputs["features"])
    h = dense_stack(b, f, hidden, "relu", prefix="hidden")
    b.output(
        b.add("Dense", h, name="class_head", units=sizes["probabilities"]),
        name="probabilities",
        loss="crossentropy",
        weight=float(loss_weights[0]),
    )
    if len(inputs["features"]) > 1:
        t = b.add("Flatten", t, name="technical_flat")
    x = dense_stack(b, b.add("Concatenate", [t, h], name="joined"), joined, "relu", prefix="joined")
    b.output(
        b.add("Dense", x, name="forecast_head", units=sizes["forecast"]),
        name="forecast",
        loss="mse",
        weight=float(loss_weights[1]),
    )
    return b.spec()
