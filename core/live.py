"""A model's bars input kept up to date bar by bar: a live feed scored at a flat cost per bar.

Scoring a live bar the plain way rebuilds the last `bars_required` bars and recomputes all their
features (hundreds of bars for a default spec, whose EMAs need a long warm-up) to use one new
row. Here each new bar costs one feature row: `features.LiveFeatures` runs each feature kind's
incremental form in plain Python (a step from a state, or the last few bars).

The model's (window, features) input is shifted by one row per bar (`LiveRows`), and `LiveWindow`
runs it through `OnnxModel.predict` (the checks, the scaler inside the graph, the session) once per
bar; the server's StreamSignals keeps a `LiveRows` per stream and symbol.
A bar at the time of the last one replaces it (a bar still forming).

No DataFrame is built per bar: Python floats for the features, numpy and onnxruntime for the model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .bars import COLUMNS, BarsError, bar_problem
from .errors import InvalidInput
from .features import Bar, LiveFeatures
from .inputs import check_finite, check_names
from .model import OnnxModel
from .outputs import join_outputs


def checked_bar(bar: Sequence[float], *where: object) -> Bar:
    """`bar` (open, high, low, close, volume) as floats, checked as every live bar is, in process and in a server's
    stream: BarsError names it by `where` (joined by spaces, formatted only then) and its `bar_problem`."""
    values = tuple(float(x) for x in bar)
    if len(values) == len(COLUMNS):
        open_, high, low, close, volume = values
        problem = bar_problem(open_, high, low, close, volume)
        if problem is None:
            return open_, high, low, close, volume
    else:
        problem = f"{len(values)} values, expected {', '.join(COLUMNS)}"
    raise BarsError(f"{' '.join(map(str, where))}: {problem}")


class LiveRows:
    """A model's bars input (one window of feature rows) kept up to date bar by bar: each bar pushed adds
    its `LiveFeatures` row and shifts the window by one, so the input after a bar costs one row.

    `LiveWindow` runs the model on it in process; the server's StreamSignals keeps one per stream and
    symbol and sends `input()` through its batching queue. Day x intraday models (whole days of bars)
    and tensors-only models (no bars) have no such input: ValueError.
    """

    def __init__(self, model: OnnxModel) -> None:
        info = model.bars_input
        if info is None or model.intraday:
            raise InvalidInput(
                f"model {model.name}: a live window needs a bars input of one window of feature rows, "
                f"got {'none' if info is None else 'day x intraday blocks'}"
            )
        self.info = info
        self._features = LiveFeatures(model.card.features)
        self._rows = np.full((model.window, len(model.card.features.columns)), np.nan, dtype=np.float32)

    @property
    def count(self) -> int:
        """Bars pushed (a replaced bar counts once)."""
        return self._features.count

    def push(self, bar: Bar, replace: bool = False) -> None:
        """Add the feed's new last bar (open, high, low, close, volume as floats, checked by the caller);
        `replace`: it replaces the last bar pushed instead (a bar still forming)."""
        row = self._features.push(bar, replace=replace)
        if not replace:
            self._rows[:-1] = self._rows[1:]
        self._rows[-1] = row

    def input(self) -> np.ndarray:
        """The bars input for the last bar pushed, (1, *the input's shape) float32: a view the next push
        changes (NaN rows while fewer than the model's bars_required bars were pushed)."""
        return self._rows.reshape(1, *self.info.shape)


class LiveWindow:
    """Scores one live feed of a model with a bars input, bar by bar, at a flat cost per bar.

    `push` keeps the model's input up to date (`LiveRows`) and runs the model once: the outputs equal
    `model.predict_series` over the bars pushed so far (to the seed weight of the recursive
    indicators, ~1e-9, where the feed starts after the series does). Day x intraday models read whole
    days of intraday bars and stay with the plain path (a window rebuilt per day's close); so do
    tensors-only models, which read no bars.
    """

    def __init__(self, model: OnnxModel) -> None:
        self.model = model
        self.version: int | None = None
        """The model version behind the outputs: None, as for the plain in-process path (a file has no
        served version)."""
        self.gap: str | None = None  # the model runs here: a bar with its history always gets outputs
        self._rows = LiveRows(model)
        self._time: Any = None

    def push(
        self,
        time: pd.Timestamp,
        bar: Sequence[float],
        tensors: Mapping[str, np.ndarray] | None = None,
        *,
        score: bool = True,
    ) -> np.ndarray | None:
        """Outputs (the model's `columns`) for the bar that closed at `time` (`bar`: open, high, low, close,
        volume), `tensors` its other inputs (one row each); a bar at the last one's time replaces it.
        None while fewer than `bars_required` bars were pushed, or when `score` is False (the bar is
        history only). Bad bar values and tensors raise InvalidInput naming them."""
        values = checked_bar(bar, "live bar", time)
        self._rows.push(values, replace=self._time is not None and time == self._time)
        self._time = time
        if not score or self._rows.count < self.model.bars_required:
            return None
        return self._run(tensors or {})

    def _run(self, tensors: Mapping[str, np.ndarray]) -> np.ndarray:
        model, info = self.model, self._rows.info
        check_names(model.tensor_inputs, tensors, model.name, f" besides bars for {info.name!r}")
        inputs = {name: np.asarray(x, dtype=np.float32)[-1:] for name, x in tensors.items()}
        check_finite(inputs)
        inputs[info.name] = self._rows.input()
        try:
            return join_outputs(model.predict(inputs))[0]
        except InvalidInput as exc:
            raise InvalidInput(f"live bar {self._time}: {exc}") from None
