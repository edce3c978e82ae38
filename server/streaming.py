"""One StreamSignals call's state (`SignalStream`): a rolling window per (model, symbol), checked bar by bar.

Each bar is checked as it arrives, so a bad bar is refused at once, naming itself, instead of
poisoning the next `bars_required` predictions of its symbol. The model's input is kept up to date
bar by bar (`core.live.LiveRows`: one feature row per bar, not the features of `bars_required` bars
recomputed); a model version the stream has not used for the symbol yet starts from the bars kept,
so its first input is the one a window of them gives. `DataPlane.open_stream` opens one per call, and
each bar is scored through the server's batching queues like any other call.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from signalstack.core.errors import InvalidInput, LimitExceeded
from signalstack.core.features import Bar
from signalstack.core.live import LiveRows, checked_bar
from signalstack.core.model import OnnxModel

from .batching import Batchers

MAX_SYMBOLS = 10_000
"""Windows one stream may keep: bounds the memory a single client can hold."""

MAX_SYMBOL_CHARS = 128


class RollingBars:
    """The latest `capacity` bars of one symbol, oldest first, each as (open, high, low, close, volume): what a
    model version new to the symbol builds its first input from."""

    def __init__(self, capacity: int) -> None:
        self._bars: deque[Bar] = deque(maxlen=capacity)
        self.last_time = 0

    def __len__(self) -> int:
        return len(self._bars)

    def reserve(self, capacity: int) -> None:
        """Keep at least `capacity` bars from now on (a newer model version may need more)."""
        if capacity > (self._bars.maxlen or 0):
            self._bars = deque(self._bars, maxlen=capacity)

    def append(self, bar: Sequence[float]) -> None:
        """Add one bar: values in `COLUMNS` order."""
        open_, high, low, close, volume = bar
        self._bars.append((open_, high, low, close, volume))

    def bars(self) -> list[Bar]:
        return list(self._bars)

    def newest(self) -> Bar:
        return self._bars[-1]


@dataclass(frozen=True)
class Signal:
    """A stream's answer to one bar: bars still missing, or every output of the model by name."""

    bars_needed: int
    outputs: dict[str, np.ndarray] | None


class SignalStream:
    """Every (model, symbol)'s `RollingBars` and model input within one stream, scored through `batchers`."""

    def __init__(self, batchers: Batchers, max_symbols: int = MAX_SYMBOLS) -> None:
        self.max_symbols = max_symbols
        self._batchers = batchers
        self._windows: dict[tuple[str, str], RollingBars] = {}
        self._inputs: dict[tuple[str, str], tuple[int, LiveRows]] = {}  # (model, symbol): (version, its input)

    def signal(self, model: OnnxModel, symbol: str, time: int, values: tuple[float, ...], what: str) -> Signal:
        """One bar of `symbol` added to its window, scored once the window holds `bars_required` bars; `what`
        names the bar in errors."""
        if model.tensor_inputs or model.intraday:
            reason = (
                "groups intraday bars into days"
                if model.intraday
                else f"also takes tensor inputs ({', '.join(i.name for i in model.tensor_inputs)})"
            )
            raise InvalidInput(
                f"{what}: model {model.name} {reason}, which a stream of bar events does not "
                "serve; use Predict or PredictSeries"
            )
        bars = self.add(model.name, symbol, time, values, model.bars_required, what)
        rows = self.input(model, symbol)  # kept up to date while the window fills, too
        needed = max(0, model.bars_required - len(bars))
        if needed:
            return Signal(needed, None)
        # the rows themselves, not a copy: a stream's bars are scored one after the other, so this is
        # answered before its next bar shifts them
        return Signal(0, self._batchers.predict(model, {rows.info.name: rows.input()}))

    def input(self, model: OnnxModel, symbol: str) -> LiveRows:
        """`model`'s bars input for `symbol` after the bar `add` took last: one new row, or, for a version
        not used for the symbol before, rows built from every bar kept."""
        key = (model.name, symbol)
        kept = self._windows[key]
        version, rows = self._inputs.get(key, (None, None))
        if rows is None or version != model.version:
            rows = LiveRows(model)
            for bar in kept.bars():
                rows.push(bar)
            self._inputs[key] = (model.version, rows)
        else:
            rows.push(kept.newest())
        return rows

    def add(
        self, model: str, symbol: str, time: int, values: tuple[float, ...], capacity: int, what: str
    ) -> RollingBars:
        """Check one bar and append it to the window of (model, symbol), keeping `capacity` bars."""
        if len(symbol) > MAX_SYMBOL_CHARS:
            raise InvalidInput(f"{what}: symbol of {len(symbol)} characters, expected at most {MAX_SYMBOL_CHARS}")
        values = checked_bar(values, what)
        window = self._windows.get((model, symbol))
        if window is None:
            if len(self._windows) >= self.max_symbols:
                raise LimitExceeded(
                    f"{what}: symbol {symbol!r} would be window {len(self._windows) + 1} of this "
                    f"stream, expected at most {self.max_symbols} (open another stream)"
                )
            window = self._windows[(model, symbol)] = RollingBars(capacity)
        if time and window.last_time and time <= window.last_time:
            raise InvalidInput(
                f"{what}: time {time} of symbol {symbol!r} is not after its previous bar's "
                f"{window.last_time} (expected bars in time order, each once)"
            )
        window.reserve(capacity)
        window.append(values)
        window.last_time = time or window.last_time
        return window
