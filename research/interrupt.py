"""Stopping a run or a study on SIGINT or SIGTERM with its finished work kept.

Ctrl-C (SIGINT) raises KeyboardInterrupt in the main thread, as always; while `interruptible()` lasts, SIGTERM
(what `kill`, `timeout` and batch schedulers send) does the same, so both end a run one way: the code that
catches it keeps what finished and raises `Interrupted`, whose text is the one line the command prints. Worker
processes ignore SIGINT (a terminal sends it to the whole process group): the main process decides, and stops
them.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import optuna

SIGNALS = (signal.SIGINT, signal.SIGTERM)

INTERRUPTED = "interrupted"
"""The user attribute of a `tune` trial cut short by SIGINT or SIGTERM (Optuna records it as FAIL): not counted."""


class Interrupted(KeyboardInterrupt):
    """A run or a study stopped by a signal, its finished work kept: the text says what was kept and how to go on.

    A KeyboardInterrupt, so that no `except Exception` on the way up takes it for a failure."""


@dataclass
class Received:
    """The signal that stopped the work: SIGINT unless SIGTERM came (a plain KeyboardInterrupt is a Ctrl-C).

    `pending` stays set once a signal came: the KeyboardInterrupt its handler raises can be swallowed when the
    signal lands inside a garbage-collection callback or a `__del__` (Python prints "Exception ignored in" and
    goes on), so the work also asks `raise_if_received()` at its safe points, and a swallowed Ctrl-C still stops
    it at the next one. While `deferred`, the handler only records the signal: work whose bookkeeping must not be
    cut halfway (an Optuna trial being written to its storage) raises it inside `interrupts_allowed()` or at a
    `raise_if_received()`."""

    name: str = "SIGINT"
    pending: bool = False
    deferred: bool = False


_active: list[Received] = []
"""The Received of each `interruptible()` in force, innermost last (signal handlers are process-wide)."""


def raise_if_received() -> None:
    """KeyboardInterrupt when a signal came inside the current `interruptible()` (a no-op outside one): called
    between epochs, trials and tasks."""
    if _active and _active[-1].pending:
        raise KeyboardInterrupt(_active[-1].name)


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextmanager
def interruptible(deferred: bool = False) -> Iterator[Received]:
    """SIGINT and SIGTERM raise KeyboardInterrupt while it lasts, naming the signal in what it yields; outside the
    main thread, where no handler can be set, nothing changes. `deferred`: a signal raises only inside
    `interrupts_allowed()` or at the next `raise_if_received()`."""
    received = Received(deferred=deferred)
    if not _in_main_thread():
        yield received
        return

    def stop(signum: int, frame: Any) -> None:
        received.name = signal.Signals(signum).name
        received.pending = True
        if not received.deferred:
            raise KeyboardInterrupt(received.name)

    previous = {number: signal.signal(number, stop) for number in SIGNALS}
    _active.append(received)
    try:
        yield received
    finally:
        _active.remove(received)
        for number, handler in previous.items():
            signal.signal(number, handler)


@contextmanager
def interrupts_allowed() -> Iterator[None]:
    """Inside an `interruptible(deferred=True)`: a signal that already came raises on entry, and one that comes
    while it lasts raises at once; elsewhere it changes nothing."""
    if not _active:
        yield
        return
    received = _active[-1]
    was = received.deferred
    raise_if_received()
    received.deferred = False
    try:
        yield
    finally:
        received.deferred = was


@contextmanager
def signals_ignored() -> Iterator[None]:
    """SIGINT and SIGTERM ignored while it lasts (the main thread only): a second Ctrl-C does not cut short the
    writing of what an interrupted run kept."""
    if not _in_main_thread():
        yield
        return
    previous = {number: signal.signal(number, signal.SIG_IGN) for number in SIGNALS}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def ignore_interrupts() -> None:
    """A worker process's initializer: SIGINT ignored, so that a Ctrl-C sent to the process group reaches the main
    process only, which stops the workers itself."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def trial_state(trial: optuna.trial.FrozenTrial) -> str:
    """The trial's Optuna state by name, or INTERRUPTED for a trial a signal cut short (which Optuna holds as FAIL):
    as trials.csv and MLflow show it."""
    return INTERRUPTED.upper() if trial.user_attrs.get(INTERRUPTED) else trial.state.name
