"""Dynamic batching: concurrent calls on one model share one onnxruntime run.

A batched run costs little more than a single one, so under load grouping requests raises
throughput. There is no batching thread: a caller finding a free turn (at most `instances` runs
of a model at once) runs the graph itself at once, so an idle server adds no hand-off to a call's
latency. Callers arriving while every turn is taken queue up; a caller whose turn ends hands it to
the oldest of them, which runs everything queued by then (up to `max_batch_size` windows).
`max_delay_us` lets a turn wait that long for a fuller batch: throughput for latency, zero by
default. An instance per core of the process keeps every core busy at low load, where batches are small.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import weakref
from collections import deque
from collections.abc import Mapping
from typing import cast

import numpy as np

from signalstack.core.model import OnnxModel

from . import metrics
from .options import BatchPolicy, cores

log = logging.getLogger(__name__)

Inputs = Mapping[str, np.ndarray]
"""Arrays by tensor name, all with the same number of samples on axis 0."""

Outputs = dict[str, np.ndarray]
"""Every output of a model by name, in the model's order."""


def _samples(x: Inputs) -> int:
    return len(next(iter(x.values())))


class _Call:
    """One caller's windows, waiting for their turn or their result."""

    __slots__ = ("x", "n", "arrived", "wake", "lead", "taken", "result", "error")

    def __init__(self, x: Inputs, n: int, lead: bool) -> None:
        self.x = x
        self.n = n
        self.arrived = time.monotonic()
        # One item per event the caller may be waiting for: a turn handed to it, or its batch finished. A
        # queue rather than an Event, because both may come before the caller looks.
        self.wake: queue.SimpleQueue[bool] = queue.SimpleQueue()
        self.lead = lead  # holds a turn
        self.taken = False  # in a batch, running or done
        self.result: Outputs | None = None
        self.error: BaseException | None = None

    @property
    def done(self) -> bool:
        return self.result is not None or self.error is not None


class Batcher:
    """The batching queue of one loaded model version.

    It holds no reference to the model (callers pass it), so dropping a model from the repository
    frees it once the calls running on it finish.
    """

    def __init__(self, model: OnnxModel, policy: BatchPolicy) -> None:
        self.policy = policy.for_cores(cores())
        self._instances = cast(int, self.policy.instances)
        self._cond = threading.Condition()
        self._queue: deque[_Call] = deque()
        self._queued = 0  # windows in the queue
        self._turns = 0  # callers holding a turn: running batches, or waiting out max_delay_us
        labels = (model.name, str(model.version))
        self._batch_sizes = metrics.BATCH.labels(*labels)
        self._depth = metrics.QUEUE.labels(*labels)

    def predict(self, model: OnnxModel, inputs: Inputs) -> Outputs:
        """`model`'s outputs by name for its raw inputs by name, batched with concurrent calls."""
        x = model.check_inputs(inputs)
        n = _samples(x)
        policy = self.policy
        if policy.max_batch_size == 1:
            self._batch_sizes.observe(n)
            return model.predict_checked(x)
        with self._cond:
            if not self._queue and self._turns < self._instances and not policy.max_delay_us:
                self._turns += 1  # nothing to batch with and nothing to wait for: run at once, no queue entry
                call = None
            else:
                call = _Call(x, n, self._turns < self._instances)
                self._turns += call.lead
                self._queue.append(call)
                self._queued += n
                self._depth.inc(n)
                self._cond.notify_all()  # a turn waiting out max_delay_us may now have a full batch
        if call is None:
            try:
                self._batch_sizes.observe(n)
                return model.predict_checked(x)
            finally:
                self._pass_turn()
        if not call.lead:
            call.wake.get()  # handed a turn, or done by another's turn
        if call.lead:
            try:
                while not call.done:
                    batch = self._next_batch(call)
                    if batch:
                        self._run(model, batch)
                    else:  # another turn took this call: it is running there
                        call.wake.get()
            finally:
                self._pass_turn()
        if call.error is not None:
            raise call.error
        return cast(Outputs, call.result)

    def _next_batch(self, call: _Call) -> list[_Call]:
        """The oldest queued calls holding at most max_batch_size windows; empty once `call` is in another's batch.

        With max_delay_us, waits until the batch is full or its oldest call has waited that long.
        """
        limit, delay = self.policy.max_batch_size, self.policy.max_delay_us / 1e6
        with self._cond:
            while (
                delay
                and not call.taken
                and self._queue
                and self._queued < limit
                and (wait := self._queue[0].arrived + delay - time.monotonic()) > 0
            ):
                self._cond.wait(wait)
            batch: list[_Call] = []
            size = 0
            if not call.taken:
                while self._queue and (not batch or size + self._queue[0].n <= limit):
                    batch.append(self._queue.popleft())
                    batch[-1].taken = True
                    size += batch[-1].n
                self._queued -= size
                self._depth.dec(size)
                if delay:
                    self._cond.notify_all()  # turns waiting out the delay for calls of this batch stop waiting
        return batch

    def _run(self, model: OnnxModel, batch: list[_Call]) -> None:
        """One onnxruntime run for `batch`; every caller gets its rows, or the error."""
        try:
            x = (
                batch[0].x
                if len(batch) == 1
                else {name: np.concatenate([c.x[name] for c in batch]) for name in batch[0].x}
            )
            self._batch_sizes.observe(_samples(x))
            out = model.predict_checked(x)
            start = 0
            for call in batch:
                call.result = {name: y[start : start + call.n] for name, y in out.items()}
                start += call.n
        except BaseException as exc:  # every caller of the batch gets the error, none is left waiting
            for call in batch:
                call.error = exc
        finally:
            for call in batch:
                call.wake.put(True)

    def _pass_turn(self) -> None:
        """Hand this turn to the oldest queued caller not holding one, or give it up."""
        with self._cond:
            waiting = next((c for c in self._queue if not c.lead), None)
            if waiting is None:
                self._turns -= 1
            else:
                waiting.lead = True
                waiting.wake.put(True)


class Batchers:
    """A `Batcher` per loaded model version, made on first use and dropped with the model.

    A policy whose `instances` was left to the machine gets one per core of this process (`serve` decides
    them beforehand for worker processes: cores / workers).
    """

    def __init__(
        self, default: BatchPolicy = BatchPolicy(), per_model: Mapping[str, BatchPolicy] | None = None
    ) -> None:
        self.default = default
        self.per_model = dict(per_model or {})
        self._lock = threading.Lock()
        self._batchers: weakref.WeakKeyDictionary[OnnxModel, Batcher] = weakref.WeakKeyDictionary()

    def policy(self, name: str) -> BatchPolicy:
        return self.per_model.get(name, self.default)

    def predict(self, model: OnnxModel, inputs: Inputs) -> Outputs:
        """`model`'s outputs by name for its inputs by name, through its batching queue."""
        batcher = self._batchers.get(model)
        if batcher is None:  # made under the lock, so that concurrent first calls share one queue
            with self._lock:
                batcher = self._batchers.get(model)
                if batcher is None:
                    batcher = self._batchers[model] = Batcher(model, self.policy(model.name))
        return batcher.predict(model, inputs)
