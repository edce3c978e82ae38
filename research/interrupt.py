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
    """The signal that stopped the work: SIGINT unless SIGTERM came (a plain KeyboardInterrupt is a Ctrl-C)."""

    name: str = "SIGINT"


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextmanager
def interruptible() -> Iterator[Received]:
    """SIGINT and SIGTERM raise KeyboardInterrupt while it lasts, naming the signal in what it yields; outside the
    main thread, where no handler can be set, nothing changes."""
    received = Received()
    if not _in_main_thread():
        yield received
        return

    def stop(signum: int, frame: Any) -> None:
        received.name = signal.Signals(signum).name
        raise KeyboardInterrupt(received.name)

    previous = {number: signal.signal(number, stop) for number in SIGNALS}
    try:
        yield received
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


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
