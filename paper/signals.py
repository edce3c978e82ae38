"""Signals from `signalstack serve` for a paper run: one StreamSignals stream per symbol, a deadline per bar.

`StreamSource` describes a served model (card, columns, newest version) as every `SignalSource`
does; its `live()` scorers each own one stream. A scorer sends each bar as it closes and waits
for that bar's Signal at most `timeout` seconds; a bar whose signal is not there by then is a
*stale-signal gap*: `push` returns None (the strategy enters nothing on it; its stops and exits
still work) and `gap` says why (`GAP_REASONS`). A lost stream is reopened with capped exponential
backoff, at most one connection attempt per bar and never past the bar's deadline, so a dead
server costs each bar at most `timeout` seconds; the reopened stream first gets again the history
bars the server's window needs (the server keeps a window per stream, so a new stream starts
empty). Bars ask for version 0, the newest, so a version the server starts serving is used from
the first bar it answers, and `version` says which version made the last signal.

A served model need not answer a bar twice the same way (a new version, a server that was down),
so a resumed run does not ask again about the bar it was trading when it stopped: `redo` holds
what the journal already says of it (its signal, or its gap), which the scorer returns as is.
"""

from __future__ import annotations

import copy
import itertools
import logging
import queue
import random
import threading
import time
from collections import deque
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass

import grpc
import numpy as np
import pandas as pd

from signalstack.core.errors import InvalidInput
from signalstack.core.outputs import joined_columns
from signalstack.core.times import as_time, unix_seconds
from signalstack.plugin.sources import GrpcSource, Tensors
from signalstack.protos.signalstack.v1 import signals_pb2 as pb
from signalstack.transport import wire
from signalstack.transport.client import SignalClient
from signalstack.transport.security import ClientSecurity

from .config import DEFAULT_SIGNAL_TIMEOUT
from .events import Gap, Signal
from .journal import Journal

log = logging.getLogger(__name__)

TIMEOUT = "timeout"
"""Gap: the stream is up but the bar's signal did not come within the deadline."""
UNAVAILABLE = "unavailable"
"""Gap: no stream (server down or unreachable, waiting out the backoff) or the stream broke while waiting."""
WARMING_UP = "warming up after reconnect"
"""Gap: the server answered that its window still needs bars (a stream reopened with too little history
kept here, or a new version that needs a longer window)."""
OUTPUTS_CHANGED = "outputs changed"
"""Gap: the newest version's outputs are not the columns the run started with, so its signal cannot fill
the same lines."""
GAP_REASONS = (TIMEOUT, UNAVAILABLE, WARMING_UP, OUTPUTS_CHANGED)


def journaled_signals(journal: Journal, symbol: str, after: pd.Timestamp | None) -> dict[int, Signal | Gap]:
    """{unix time: the signal or gap} journaled for `symbol`'s bars after `after` (a resumed run's last
    finished bar; None: it had finished none): the bar a stop or crash interrupted, whose signal must not
    change."""
    return {
        unix_seconds(event.time): event.payload
        for event in journal.events(("signal", "gap"))
        if event.symbol == symbol and event.time is not None and (after is None or as_time(event.time) > after)
    }


@dataclass(frozen=True)
class Backoff:
    """Capped exponential backoff between connection attempts, with jitter.

    After the n-th failed attempt in a row the next one waits `min(cap, base * 2**(n-1))` seconds,
    shortened by up to `jitter` of itself at random (so that the scorers of many symbols do not
    reconnect in lockstep). The first attempt after a stream breaks is immediate: a restarted
    server is usually back by the next bar. Defaults: 0.5 s doubling to 30 s, 20% jitter.
    """

    base: float = 0.5
    cap: float = 30.0
    jitter: float = 0.2

    def __post_init__(self) -> None:
        if not (0 < self.base <= self.cap and 0 <= self.jitter < 1):
            raise ValueError(
                f"backoff base {self.base}, cap {self.cap}, jitter {self.jitter}: expected "
                "0 < base <= cap and 0 <= jitter < 1"
            )

    def delay(self, failures: int, rng: random.Random) -> float:
        """Seconds to wait before the next attempt after `failures` failed attempts in a row."""
        if failures <= 0:
            return 0.0
        return min(self.cap, self.base * 2 ** min(failures - 1, 62)) * (1 - self.jitter * rng.random())


class StreamSource(AbstractContextManager):
    """A model served by `signalstack serve` at `target`, scored live over StreamSignals; see the module.

    Opening it asks the server for the newest version's card (ConnectionError when no server
    answers within `connect_timeout` s). `columns` are every output's, side by side (a Signal
    carries them all), as for the model in process. Models with tensor inputs or intraday blocks
    are refused: the server does not stream them. `close` ends every stream of its scorers.
    """

    def __init__(
        self,
        target: str,
        model: str,
        *,
        timeout: float = DEFAULT_SIGNAL_TIMEOUT,
        backoff: Backoff | None = None,
        connect_timeout: float = 10.0,
        symbol: str | None = None,
        security: ClientSecurity | None = None,
    ) -> None:
        if not timeout > 0:
            raise ValueError(f"signal timeout {timeout}: expected seconds > 0")
        self.target = target
        self.model = model
        self.timeout = float(timeout)
        self.backoff = backoff or Backoff()
        self.symbol = symbol
        self.redo: dict[int, Signal | Gap] = {}
        self.security = security
        """The bearer token and TLS files every connection presents."""
        self._unary = GrpcSource(target, model, 0, connect_timeout=connect_timeout, security=security)
        card = self._unary.card
        if card.tensor_inputs or card.intraday:
            self._unary.close()
            what = (
                "reads intraday blocks"
                if card.intraday
                else f"takes tensor inputs ({', '.join(i.name for i in card.tensor_inputs)})"
            )
            raise InvalidInput(
                f"model {model} at {target} {what}: StreamSignals serves bars-only models "
                "(expected a model whose only input is made from bars)"
            )
        self.name = model
        self.card = card
        self.version = self._unary.version
        """The newest version when the source opened; each scorer's `version` follows the server."""
        self.columns = list(self._unary.columns)
        self.horizon = card.horizon
        self.bars_required = card.bars_required
        self.test_start = pd.Timestamp(card.test_range[0])
        self.tensor_inputs = ()
        self.intraday = False
        self._scorers: list[StreamScorer] = []
        self._numbers = itertools.count(1)

    def for_symbol(self, symbol: str, redo: dict[int, Signal | Gap] | None = None) -> StreamSource:
        """This source with its scorers' streams labelled `symbol` (the server's window key and logs),
        returning `redo`'s journaled signals for those bars (`journaled_signals`); it shares this source's
        connection and is closed with it."""
        bound = copy.copy(self)
        bound.symbol, bound.redo = symbol, dict(redo or {})
        return bound

    def live(self) -> StreamScorer:
        scorer = StreamScorer(self, self.symbol or f"feed-{next(self._numbers)}")
        self._scorers.append(scorer)
        return scorer

    def predict_series(self, bars: pd.DataFrame, tensors: Tensors | None = None) -> pd.DataFrame:
        """One PredictSeries call, pinned to the version the source opened with."""
        return self._unary.predict_series(bars, tensors)

    def predict_last(self, bars: pd.DataFrame, tensors: Tensors | None = None) -> np.ndarray:
        return self._unary.predict_last(bars, tensors)

    def close(self) -> None:
        for scorer in self._scorers:
            scorer.close()
        self._unary.close()

    def __exit__(self, *error: object) -> None:
        self.close()


class _Stream:
    """One StreamSignals call: bars go in through a queue, Signals come out through another, read by a
    thread of its own so that a wait for an answer can time out. A None answer: the call has ended."""

    def __init__(self, client: SignalClient, label: str) -> None:
        self._requests: queue.Queue[pb.BarEvent | None] = queue.Queue()
        self.answers: queue.Queue[pb.Signal | None] = queue.Queue()
        self.error: str | None = None
        self._call = client.stream_signals(iter(self._requests.get, None))
        self._reader = threading.Thread(target=self._read, name=f"signals-{label}", daemon=True)
        self._reader.start()

    @property
    def alive(self) -> bool:
        return self.error is None

    def send(self, event: pb.BarEvent) -> None:
        self._requests.put(event)

    def close(self) -> None:
        self._requests.put(None)
        self._call.cancel()

    def _read(self) -> None:
        try:
            for signal in self._call:
                self.answers.put(signal)
            self.error = "the server ended the stream"
        except grpc.RpcError as exc:
            self.error = f"{exc.code().name}: {exc.details()}"
        self.answers.put(None)


class StreamScorer:
    """The `LiveScorer` of one symbol: its stream, the bars to send again after a reconnect, its backoff.

    `version` is the version that made the last signal `push` returned (the source's starting
    version until the first); `gap` why the last scored bar got no signal (None when it got one).
    """

    def __init__(self, source: StreamSource, symbol: str) -> None:
        self.source = source
        self.symbol = symbol
        self.version: int | None = source.version
        self.gap: str | None = None
        self._history: deque[pb.BarEvent] = deque(maxlen=source.bars_required)
        self._client: SignalClient | None = None
        self._stream: _Stream | None = None
        self._connections = 0
        self._failures = 0
        self._retry_at = 0.0
        self._rng = random.Random()

    def push(
        self, time: pd.Timestamp, bar: Sequence[float], tensors: Tensors | None = None, *, score: bool = True
    ) -> np.ndarray | None:
        event = self._remember(time, bar)
        self.gap = None
        journaled = self.source.redo.get(event.time) if score else None
        if not score or journaled is not None:  # the open stream's window takes it, a reopened one gets it again
            if self._stream is not None and self._stream.alive:
                self._stream.send(event)
            return None if journaled is None else self._journaled(journaled)
        deadline = _now() + self.source.timeout
        answer = None
        if (self._stream is not None and self._stream.alive) or self._connect(deadline):
            assert self._stream is not None
            self._stream.send(event)
            answer = self._answer(event.time, deadline)
        self.gap, detail = self._verdict(answer)
        if self.gap is not None:
            # a gap's line is `progress.Progress`'s, rate-limited: this one has the detail, for debugging
            log.debug("%s: no signal for bar %s (%s%s)", self.symbol, time, self.gap, f": {detail}" if detail else "")
            return None
        assert answer is not None
        if answer.version != self.version:
            log.info(
                "%s: signals from %s v%d from bar %s on (before: v%s)",
                self.symbol,
                answer.model,
                answer.version,
                time,
                self.version,
            )
        self.version = int(answer.version)
        self._failures = 0
        return _outputs(answer)[1]

    def _journaled(self, journaled: Signal | Gap) -> np.ndarray | None:
        """The signal (or gap) the journal holds for a bar being traded again."""
        if isinstance(journaled, Gap):
            self.gap = journaled.why
            return None
        self.version = journaled.version
        return np.array(
            [np.nan if journaled.outputs.get(c) is None else journaled.outputs[c] for c in self.source.columns],
            dtype=np.float64,
        )

    def close(self) -> None:
        """End the stream and its channel."""
        if self._stream is not None:
            self._stream.close()
            self._stream = None
        if self._client is not None:
            self._client.close()
            self._client = None

    def _remember(self, time: pd.Timestamp, bar: Sequence[float]) -> pb.BarEvent:
        """The bar as a BarEvent, kept as history; a bar at the time of the last one replaces it, and
        since a stream's times must increase, the stream is then reopened with the corrected history."""
        o, h, lo, c, v = (float(x) for x in np.asarray(bar, dtype=np.float64).ravel())
        event = pb.BarEvent(
            model=self.source.model,
            version=0,
            symbol=self.symbol,
            time=unix_seconds(time),
            open=o,
            high=h,
            low=lo,
            close=c,
            volume=v,
        )
        if self._history and self._history[-1].time == event.time:
            self._history[-1] = event
            self.close()
        else:
            self._history.append(event)
        return event

    def _connect(self, deadline: float) -> bool:
        """Open a new stream and send it the history the newest version needs before the current bar;
        at most one attempt, and none while the backoff runs. False when there is no stream."""
        if _now() < self._retry_at:
            return False
        self.close()
        client = SignalClient(self.source.target, timeout=max(deadline - _now(), 0.001), security=self.source.security)
        try:
            info = client.get_model(self.source.model, 0)
        except grpc.RpcError as exc:
            client.close()
            self._failures += 1
            wait = self.source.backoff.delay(self._failures, self._rng)
            self._retry_at = _now() + wait
            log.warning(
                "%s: no stream from %s (%s: %s); attempt %d failed, next in %.2f s at the earliest",
                self.symbol,
                self.source.target,
                exc.code().name,
                exc.details(),
                self._failures,
                wait,
            )
            return False
        if info.bars_required > (self._history.maxlen or 0):  # a newer version reads a longer window
            self._history = deque(self._history, maxlen=info.bars_required)
        self._client, self._stream = client, _Stream(client, self.symbol)
        history = list(self._history)[:-1][-(info.bars_required - 1) :] if info.bars_required > 1 else []
        for event in history:
            self._stream.send(event)
        self._connections += 1
        if self._connections > 1:
            log.info(
                "%s: stream to %s reopened (%s v%d), %d bars of history sent again",
                self.symbol,
                self.source.target,
                info.name,
                info.version,
                len(history),
            )
        return True

    def _answer(self, time: int, deadline: float) -> pb.Signal | None:
        """The Signal for the bar at unix `time`, or None when the deadline passes or the stream ends first.
        Answers to earlier bars (history, or bars whose answer came late) are skipped."""
        assert self._stream is not None
        while True:
            try:
                answer = self._stream.answers.get(timeout=max(deadline - _now(), 0.0))
            except queue.Empty:
                return None
            if answer is None:
                return None
            if answer.time >= time:
                return answer

    def _verdict(self, answer: pb.Signal | None) -> tuple[str | None, str]:
        """(why the bar has no signal, a detail for the log), or (None, "") when `answer` is its signal."""
        stream = self._stream
        if answer is None:
            if stream is not None and stream.alive:
                return TIMEOUT, f"no answer within {self.source.timeout:g} s"
            return UNAVAILABLE, (stream.error if stream is not None else "") or f"no stream to {self.source.target}"
        if answer.bars_needed > 0:
            return WARMING_UP, f"the server needs {answer.bars_needed} more bars"
        columns = _outputs(answer)[0]
        if columns != self.source.columns:
            return OUTPUTS_CHANGED, f"v{answer.version} gives {columns}, the run started with {self.source.columns}"
        return None, ""


def _outputs(answer: pb.Signal) -> tuple[list[str], np.ndarray]:
    """(columns, values) of every output a Signal carries, side by side as `joined_columns` names them; from
    a server that sends only the first output (before Signal.outputs), that one."""
    if not answer.outputs:
        return list(answer.columns), np.asarray(answer.probabilities, dtype=np.float64)
    arrays = wire.tensor_arrays(answer.outputs, "output")
    columns = joined_columns({t.name: list(t.columns) for t in answer.outputs})
    return columns, np.concatenate([arrays[t.name].reshape(-1) for t in answer.outputs]).astype(np.float64)


def _now() -> float:
    return time.monotonic()


__all__ = ["DEFAULT_SIGNAL_TIMEOUT", "GAP_REASONS", "Backoff", "StreamScorer", "StreamSource", "journaled_signals"]
