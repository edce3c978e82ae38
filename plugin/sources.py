"""Where a signal's probabilities come from: an ONNX file in process, a gRPC server, or a table.

Every source answers the same two questions: probabilities for every bar of a series (the
backtest path, one call) and for the last bar of a window. Sources index their answers by bar
time, so the indicator can align them without caring where they came from. A live feed is scored
bar by bar through the source's `live()` scorer, which keeps what it needs between bars.
A model with tensor inputs besides its bars (a two-input net's fundamentals) gets them as
`tensors`, {input name: one row per bar}.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np
import pandas as pd

from signalstack.core.bars import COLUMNS
from signalstack.core.card import ModelCard, TensorInfo
from signalstack.core.errors import InvalidInput, NotFound, SettingsError

if TYPE_CHECKING:
    from signalstack.transport.security import ClientSecurity

log = logging.getLogger(__name__)

Tensors = Mapping[str, np.ndarray]
"""{input name: array with one row per bar of the bars it goes with}."""

_HOST_PORT = re.compile(r"^[\w.\-]+:\d+$|^\[[0-9a-fA-F:]+\]:\d+$")


class SignalSource(Protocol):
    """Probabilities per bar from raw OHLCV bars (the frame `load_bars` returns)."""

    name: str
    """A label for logs and reports."""
    card: ModelCard | None
    """The model's card; None for a table of predictions made elsewhere without one."""
    columns: list[str]
    """Column names of a prediction, every output's side by side: e.g. ['down', 'up'], or
    ['down', 'flat', 'up', 'forecast'] for a multi-task model."""
    horizon: int
    """Bars ahead the model predicts (its label's horizon)."""
    bars_required: int
    """Bars of history one prediction needs (window + the features' warm-up)."""
    test_start: pd.Timestamp
    """The first bar of the model's out-of-sample period: where backtests start by default."""
    tensor_inputs: tuple[TensorInfo, ...]
    """Inputs the caller supplies besides bars (e.g. `fundamentals`), as `tensors`."""
    intraday: bool
    """Whether the model reads day x intraday blocks: bars are intraday bars, scored at each day's close."""

    def predict_series(self, bars: pd.DataFrame, tensors: Tensors | None = None) -> pd.DataFrame:
        """Outputs for every bar with enough history, indexed by bar time; causal."""
        ...

    def predict_last(self, bars: pd.DataFrame, tensors: Tensors | None = None) -> np.ndarray:
        """Outputs for the last bar of `bars` (at least `card.bars_required` rows; an intraday
        model reads every row given, so send whole days)."""
        ...

    def live(self) -> LiveScorer:
        """A new scorer of one live feed (one symbol), fed bar by bar."""
        ...


class LiveScorer(Protocol):
    """Scores one live feed bar by bar, keeping the history it needs between bars."""

    version: int | None
    """The model version that produced the last outputs `push` returned (None: no version known)."""
    gap: str | None
    """Why the last bar pushed for scoring got no outputs although it had the history for them (a served
    answer that did not arrive in time: a stale-signal gap); None when it got them, or had too little history."""

    def push(
        self, time: pd.Timestamp, bar: Sequence[float], tensors: Tensors | None = None, *, score: bool = True
    ) -> np.ndarray | None:
        """Outputs (the source's `columns`) for the bar that just closed at `time`, `bar` its open, high,
        low, close and volume; `tensors` the bar's other inputs (one row each). A bar at the time of the
        last one pushed replaces it (a bar still forming). None when there is no signal for the bar:
        too little history yet, `score` False (the bar is history only: its other inputs are not known
        yet), or (a served model) the answer did not arrive in time."""
        ...


class TailScorer:
    """The plain live scorer: the last `bars_required` bars kept in arrays, scored by `predict_last`."""

    def __init__(self, source: SignalSource) -> None:
        self.source = source
        self.version = getattr(source, "version", None)
        self.gap: str | None = None  # predict_last answers or raises: never a gap
        self._size = source.bars_required
        self._times: list[pd.Timestamp] = []
        self._bars = np.empty((0, len(COLUMNS)))

    def push(
        self, time: pd.Timestamp, bar: Sequence[float], tensors: Tensors | None = None, *, score: bool = True
    ) -> np.ndarray | None:
        row = np.asarray(bar, dtype=np.float64).reshape(1, len(COLUMNS))
        if self._times and time == self._times[-1]:
            self._bars[-1] = row
        else:
            self._times = [*self._times[-(self._size - 1) :], time] if self._size > 1 else [time]
            self._bars = np.concatenate([self._bars[-(self._size - 1) :] if self._size > 1 else self._bars[:0], row])
        if not score or len(self._times) < self._size:
            return None
        frame = pd.DataFrame(self._bars, columns=list(COLUMNS), index=pd.DatetimeIndex(self._times))
        return self.source.predict_last(frame, tensors)


class OnnxSource:
    """An exported model run in this process by onnxruntime (the server's own runtime)."""

    def __init__(self, path: str | Path, *, threads: int = 0) -> None:
        """`threads`: onnxruntime's intra-op threads (0: its default, right for a backtest's batched call; 1
        for a live feed's one-bar calls, where waking a thread pool costs more than it saves)."""
        # Imported here so that importing the plugin does not load onnxruntime.
        from signalstack.core.model import OnnxModel

        self.model = OnnxModel(path, threads=threads)
        self.name = self.model.name
        self.card = self.model.card
        self.columns = self.model.columns
        _describe(self, self.card)

    def predict_series(self, bars: pd.DataFrame, tensors: Tensors | None = None) -> pd.DataFrame:
        return self.model.predict_series(bars, tensors=tensors)

    def predict_last(self, bars: pd.DataFrame, tensors: Tensors | None = None) -> np.ndarray:
        return self.model.predict_windows([bars], _last_rows(tensors))[0]

    def live(self) -> LiveScorer:
        """One feature row and one onnxruntime run per bar (`core.live.LiveWindow`); a day x intraday
        model (it reads whole days of bars) or a tensors-only one keeps the plain `TailScorer`."""
        if self.intraday or self.model.bars_input is None:
            return TailScorer(self)
        from signalstack.core.live import LiveWindow

        return LiveWindow(self.model)


class GrpcSource(AbstractContextManager):
    """A model served by a signalstack server; the version is pinned when the source opens.

    Pinning means a model swapped on the server mid-backtest cannot mix two models' answers.
    A series is scored by one PredictSeries call, never one call per bar.
    """

    def __init__(
        self,
        target: str,
        model: str,
        version: int = 0,
        *,
        timeout: float = 60.0,
        security: ClientSecurity | None = None,
        connect_timeout: float = 10.0,
    ) -> None:
        """`security`: the bearer token to send and the TLS files to connect with (None: plain text).

        The first call, which pins the version, waits at most `connect_timeout` s: a server that is
        not there is a ConnectionError naming `target`, not a wait of `timeout` s."""
        import grpc

        from signalstack.core.outputs import joined_columns
        from signalstack.transport.client import SignalClient

        self.target = target
        self.model = model
        self.client = SignalClient(target, timeout=min(timeout, connect_timeout), security=security)
        try:
            info = self.client.get_model(model, version)
        except grpc.RpcError as exc:
            self.client.close()
            expected = "expected `signalstack serve` listening there"
            if exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
                raise ConnectionError(
                    f"no signalstack server answered at {target} within {connect_timeout:g} s ({expected})"
                ) from None
            if exc.code() == grpc.StatusCode.UNAVAILABLE:
                # "failed to connect to all addresses; last error: UNKNOWN: ipv4:HOST:PORT: <why>" -> <why>
                why = re.sub(r"^.*last error: (?:[A-Z_]+: )?(?:ipv[46]:\S+: )?", "", exc.details() or "unavailable")
                raise ConnectionError(f"cannot reach a signalstack server at {target} ({why}; {expected})") from None
            raise
        except Exception:
            self.client.close()
            raise
        self.client.timeout = timeout
        self.version = int(info.version)
        self.card = ModelCard.from_json(info.card_json)
        self.columns = joined_columns({o.name: list(o.columns) for o in info.outputs})
        _describe(self, self.card)
        self.name = f"{model} v{self.version} @ {target}"
        log.info("signal source %s (%s)", self.name, ", ".join(self.columns))

    def __exit__(self, *error: object) -> None:
        self.close()

    def close(self) -> None:
        self.client.close()

    def predict_series(self, bars: pd.DataFrame, tensors: Tensors | None = None) -> pd.DataFrame:
        return self.client.predict_series(self.model, bars, self.version, tensors)

    def predict_last(self, bars: pd.DataFrame, tensors: Tensors | None = None) -> np.ndarray:
        return self.client.predict(self.model, [bars], self.version, _last_rows(tensors))[0]

    def live(self) -> LiveScorer:
        return TailScorer(self)


class PrecomputedSource:
    """Predictions computed elsewhere: a frame indexed by bar time with one column per output column.

    Bars the frame has no row for get NaN (no signal). Without a `card`, the out-of-sample
    period is the frame's span, so a backtest's default start is its first row, and `horizon`
    says how many bars ahead the predictions look.
    """

    def __init__(
        self, frame: pd.DataFrame, *, horizon: int = 1, card: ModelCard | None = None, name: str = "precomputed"
    ) -> None:
        if (
            not isinstance(frame.index, pd.DatetimeIndex)
            or not frame.index.is_monotonic_increasing
            or not frame.index.is_unique
        ):
            raise InvalidInput(
                f"{name}: probabilities need a strictly increasing DatetimeIndex (got {type(frame.index).__name__})"
            )
        if len(frame) == 0:
            raise InvalidInput(f"{name}: no rows of probabilities")
        self.frame = frame.astype(np.float64)
        self.name = name
        self.columns = [str(c) for c in frame.columns]
        self.card = card
        self.tensor_inputs: tuple[TensorInfo, ...] = ()
        self.intraday = False
        self.horizon = card.horizon if card else horizon
        self.bars_required = 1
        self.test_start = pd.Timestamp(card.test_range[0]) if card else frame.index[0]

    @classmethod
    def from_csv(cls, path: str | Path, *, horizon: int = 1, card: ModelCard | None = None) -> PrecomputedSource:
        """Read a CSV whose first column is the bar time and the others are class probabilities."""
        path = Path(path)
        if not path.is_file():
            raise NotFound(f"{path}: no such file (expected a CSV of time + class probabilities)")
        frame = pd.read_csv(path, index_col=0, parse_dates=True)
        return cls(frame, horizon=horizon, card=card, name=str(path))

    def predict_series(self, bars: pd.DataFrame, tensors: Tensors | None = None) -> pd.DataFrame:
        return self.frame.reindex(bars.index).dropna(how="all")

    def predict_last(self, bars: pd.DataFrame, tensors: Tensors | None = None) -> np.ndarray:
        time = bars.index[-1]
        if time not in self.frame.index:
            raise InvalidInput(
                f"{self.name}: no probabilities for bar {time} (have {self.frame.index[0]} .. {self.frame.index[-1]})"
            )
        return self.frame.loc[time].to_numpy()

    def live(self) -> LiveScorer:
        return TailScorer(self)


def _last_rows(tensors: Tensors | None) -> dict[str, np.ndarray]:
    """The tensors of the last bar only: `predict_last` scores that bar alone."""
    return {name: np.asarray(x)[-1:] for name, x in (tensors or {}).items()}


def _describe(source: OnnxSource | GrpcSource, card: ModelCard) -> None:
    """Set what a source says about its model from the model's card."""
    source.horizon = card.horizon
    source.bars_required = card.bars_required
    source.test_start = pd.Timestamp(card.test_range[0])
    source.tensor_inputs = card.tensor_inputs
    source.intraday = card.intraday


def open_source(
    spec: str, model: str | None = None, version: int = 0, security: ClientSecurity | None = None
) -> SignalSource:
    """A source from a command-line spec.

    ``grpc://host:port/model``, or ``host:port`` with `model`, is a served model (`security`: its
    token and TLS files); a path ending ``.onnx`` is run in process; ``.csv`` is a table of
    precomputed probabilities (or forecasts, or scores).
    """
    served = spec.startswith("grpc://") or _HOST_PORT.match(spec)
    given = [] if security is None else [name for name, value in security.to_dict().items() if value]
    if given and not served:
        raise SettingsError(f"signal source {spec!r}: {', '.join(given)} apply to a gRPC server only")
    if spec.startswith("grpc://"):
        target, _, path_model = spec.removeprefix("grpc://").partition("/")
        name = path_model or model
        if not name or not _HOST_PORT.match(target):
            raise SettingsError(f"signal source {spec!r}: expected grpc://host:port/model")
        return GrpcSource(target, name, version, security=security)
    suffix = Path(spec).suffix.lower()
    if suffix == ".onnx":
        return OnnxSource(spec)
    if suffix == ".csv":
        return PrecomputedSource.from_csv(spec)
    if served:
        if not model:
            raise SettingsError(f"signal source {spec!r}: a server address needs a model name")
        return GrpcSource(spec, model, version, security=security)
    raise SettingsError(
        f"signal source {spec!r}: expected FILE.onnx, FILE.csv of probabilities, "
        "grpc://host:port/model, or host:port with a model name"
    )
