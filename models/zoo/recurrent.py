"""Recurrent stacks over (T, F) windows: SimpleRNN/LSTM/GRU classifiers, regressors and the hierarchical LSTM."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .registry import register_model
from .spec import Spec, SpecBuilder

CELLS = ("SimpleRNN", "LSTM", "GRU")
NORM_MOMENTUM = 0.9
"""Batch-norm momentum of the zoo's nets. Keras' default 0.99 needs some hundred batches before the
moving statistics forget their initial (0, 1); short runs on daily bars have fewer, and their
inference outputs then collapse towards the prior. 0.9 is torch's default (its momentum 0.1)."""


def check_cell(cell: str) -> str:
    if cell not in CELLS:
        raise ValueError(f"cell {cell!r}: expected one of {', '.join(CELLS)}")
    return cell


def norm_and_dropout(b: SpecBuilder, x: str, prefix: str, dropout: float, momentum: float = NORM_MOMENTUM) -> str:
    """Batch-norm, then dropout when `dropout` > 0: how the Keras post's Examples 4-5 treat every layer's input."""
    x = b.add("BatchNormalization", x, name=f"{prefix}_norm", momentum=momentum)
    return b.add("Dropout", x, name=f"{prefix}_dropout", rate=dropout) if dropout else x


def per_layer(rates: float | Sequence[float], layers: int, name: str) -> tuple[float, ...]:
    """One rate per recurrent layer: a number for all, or the first layers' rates, later layers 0.

    Example 5 drops only its first cell's inputs, (0.3,), whatever the depth a caller picks.
    """
    if isinstance(rates, (int, float)):
        return (float(rates),) * layers
    if len(rates) > layers:
        raise ValueError(
            f"{name} {list(rates)}: {len(rates)} rates for {layers} recurrent layer(s): "
            f"expected one rate, or at most {layers}"
        )
    return tuple(float(r) for r in rates) + (0.0,) * (layers - len(rates))


def recurrent_stack(
    b: SpecBuilder,
    x: str,
    cell: str,
    hidden: Sequence[int],
    *,
    dropout: float = 0.0,
    cell_dropout: float | Sequence[float] = 0.0,
    recurrent_dropout: float = 0.0,
    norm: bool = False,
    sequences: bool = False,
    prefix: str = "rnn",
    wrap: bool = False,
    momentum: float = NORM_MOMENTUM,
) -> str:
    """Stacked recurrent layers, each but the last returning sequences (the last too with `sequences`).

    `norm` puts batch-norm and then a Dropout layer of rate `dropout` on every layer's input;
    `cell_dropout` is Keras' `dropout` argument of the cells (one mask over each sequence's step
    inputs), for all layers or the first ones (`per_layer`); `wrap` applies every layer to each
    slice of axis 1 (TimeDistributed), for days of intraday bars.
    """
    check_cell(cell)
    input_rates = per_layer(cell_dropout, len(hidden), "cell_dropout")
    for i, (units, rate) in enumerate(zip(hidden, input_rates), start=1):
        if norm:
            x = norm_and_dropout(b, x, f"{prefix}_{i}", dropout, momentum)
        params = {
            "units": int(units),
            "return_sequences": sequences or i < len(hidden),
            "dropout": rate,
            "recurrent_dropout": recurrent_dropout,
        }
        if wrap:
            x = b.add("TimeDistributed", x, name=f"{prefix}_{i}", layer={"type": cell, "params": params})
        else:
            x = b.add(cell, x, name=f"{prefix}_{i}", **params)
    return x


def _classifier(
    name: str,
    shape: tuple[int, ...],
    n_outputs: int,
    cell: str,
    hidden: Sequence[int],
    dropout: float = 0.0,
    cell_dropout: float | Sequence[float] = 0.0,
    recurrent_dropout: float = 0.0,
    norm: bool = False,
    momentum: float = NORM_MOMENTUM,
) -> Spec:
    b = SpecBuilder(name)
    x = recurrent_stack(
        b,
        b.input("features", shape),
        cell,
        hidden,
        dropout=dropout,
        cell_dropout=cell_dropout,
        recurrent_dropout=recurrent_dropout,
        norm=norm,
        momentum=momentum,
    )
    if norm:
        x = norm_and_dropout(b, x, "head", dropout, momentum)
    b.output(b.add("Dense", x, name="head", units=int(n_outputs)))
    return b.spec()


@register_model("rnn", n_outputs=3)
def rnn(
    *, inputs: Mapping[str, tuple[int, ...]], n_outputs: int, hidden: Sequence[int] = (50, 50), cell: str = "SimpleRNN"
) -> Spec:
    """(60 steps, 30 features) -> SimpleRNN 50 (sequences) -> SimpleRNN 50 -> 3-class softmax (Example 2)."""
    return _classifier("rnn", inputs["features"], n_outputs, cell, hidden)


@register_model("lstm", n_outputs=3)
def lstm(
    *,
    inputs: Mapping[str, tuple[int, ...]],
    n_outputs: int,
    hidden: Sequence[int] = (50, 50),
    dropout: float = 0.5,
    cell_dropout: float | Sequence[float] = 0.3,
    recurrent_dropout: float = 0.0,
    cell: str = "LSTM",
    norm_momentum: float = NORM_MOMENTUM,
) -> Spec:
    """(60, 30) -> [batch-norm, Dropout 0.5, LSTM 50 with input dropout 0.3] x2 -> batch-norm, Dropout 0.5 -> 3 (Ex. 4).

    `cell_dropout` is the post's `LSTM(50, dropout=0.3)`: one mask over every step's inputs, not
    the recurrent state (`recurrent_dropout`, 0 as in the post). Batch-norm momentum is 0.9, not
    Keras' 0.99 (see NORM_MOMENTUM); neither changes a parameter count.
    """
    return _classifier(
        "lstm",
        inputs["features"],
        n_outputs,
        cell,
        hidden,
        dropout,
        cell_dropout,
        recurrent_dropout,
        norm=True,
        momentum=norm_momentum,
    )


@register_model("gru", n_outputs=3)
def gru(
    *,
    inputs: Mapping[str, tuple[int, ...]],
    n_outputs: int,
    hidden: Sequence[int] = (50, 50),
    dropout: float = 0.5,
    cell_dropout: float | Sequence[float] = 0.3,
    recurrent_dropout: float = 0.0,
    norm_momentum: float = NORM_MOMENTUM,
) -> Spec:
    """`lstm` (Example 4) with GRU cells: batch-norm and dropout on each layer's input, GRU 50 x2."""
    return _classifier(
        "gru",
        inputs["features"],
        n_outputs,
        "GRU",
        hidden,
        dropout,
        cell_dropout,
        recurrent_dropout,
        norm=True,
        momentum=norm_momentum,
    )


def _regressor(
    name: str,
    shape: tuple[int, ...],
    n_outputs: int,
    cell: str,
    hidden: Sequence[int],
    dense: Sequence[int],
    per_step: bool,
) -> Spec:
    b = SpecBuilder(name)
    x = recurrent_stack(b, b.input("features", shape), cell, hidden, sequences=True)
    x = b.add("TimeDistributed", x, name="step_value", layer={"type": "Dense", "params": {"units": 1}})
    if per_step:
        steps = shape[0]
        if not 1 <= n_outputs <= steps:
            raise ValueError(
                f"{name}: {n_outputs} forecast steps from a {steps}-step window: expected 1 <= n_outputs <= {steps}"
            )
        # Many-to-many: the last n_outputs steps' values are the forecast path, one step each.
        x = b.add("Cropping1D", x, name="last_steps", cropping=(steps - n_outputs, 0))
        b.output(b.add("Flatten", x, name="forecast"), loss="mae")
        return b.spec()
    x = b.add("Flatten", x, name="flatten")
    for i, units in enumerate(dense, start=1):
        x = b.add("Dense", x, name=f"dense_{i}", units=int(units))
    b.output(b.add("Dense", x, name="forecast", units=int(n_outputs)), loss="mae")
    return b.spec()


@register_model("lstm_regressor", inputs={"features": (5, 2)}, n_outputs=1)
def lstm_regressor(
    *,
    inputs: Mapping[str, tuple[int, ...]],
    n_outputs: int,
    hidden: Sequence[int] = (256, 256),
    dense: Sequence[int] = (5,),
    cell: str = "LSTM",
) -> Spec:
    """LSTM 256 x2 (sequences) -> per-step Dense 1 -> Flatten -> Dense 5 -> Dense 1, MAE (the LSTM posts).

    The post predicts the next close from 5 days of close and volume; signalstack's scale-free
    equivalent is the next return (regression labels). With path labels, n_outputs days at once.
    """
    return _regressor("lstm_regressor", inputs["features"], n_outputs, cell, hidden, dense, per_step=False)


@register_model("gru_regressor", inputs={"features": (5, 2)}, n_outputs=1)
def gru_regressor(
    *,
    inputs: Mapping[str, tuple[int, ...]],
    n_outputs: int,
    hidden: Sequence[int] = (256, 256),
    dense: Sequence[int] = (5,),
) -> Spec:
    """`lstm_regressor` with GRU cells."""
    return _regressor("gru_regressor", inputs["features"], n_outputs, "GRU", hidden, dense, per_step=False)


@register_model("lstm_regressor_seq", inputs={"features": (5, 2)}, n_outputs=5)
def lstm_regressor_seq(
    *, inputs: Mapping[str, tuple[int, ...]], n_outputs: int, hidden: Sequence[int] = (256, 256), cell: str = "LSTM"
) -> Spec:
    """Many-to-many LSTM 256 x2: the last n steps' per-step values are the next n days' returns (MAE)."""
    return _regressor("lstm_regressor_seq", inputs["features"], n_outputs, cell, hidden, (), per_step=True)


@register_model("hier_lstm", inputs={"features": (10, 48, 5)}, n_outputs=3)
def hier_lstm(
    *,
    inputs: Mapping[str, tuple[int, ...]],
    n_outputs: int,
    intraday: Sequence[int] = (8, 8),
    daily: Sequence[int] = (12, 6),
    cell: str = "LSTM",
) -> Spec:
    """(10 days, 48 five-minute bars, 5 features): LSTM 8 -> 8 on each day, then LSTM 12 -> 6 across days (Ex. 6)."""
    shape = inputs["features"]
    if len(shape) != 3:
        raise ValueError(f"hier_lstm input {shape}: expected (days, bars per day, features)")
    b = SpecBuilder("hier_lstm")
    x = recurrent_stack(b, b.input("features", shape), cell, intraday, prefix="intraday", wrap=True)
    x = recurrent_stack(b, x, cell, daily, prefix="daily")
    b.output(b.add("Dense", x, name="head", units=int(n_outputs)))
    return b.spec()
