"""A signal that lands where Python swallows exceptions still stops the work at its next safe point."""

from __future__ import annotations

import gc
import os
import signal
import sys
import time

import pytest

from signalstack.research.interrupt import interruptible, interrupts_allowed, raise_if_received


class _Finalised:
    """An object whose finaliser runs the SIGTERM handler, as a signal arriving during garbage collection does:
    Python reports the KeyboardInterrupt raised there as "Exception ignored in" and goes on."""

    def __del__(self) -> None:
        handler = signal.getsignal(signal.SIGTERM)
        assert callable(handler)
        handler(signal.SIGTERM, None)


def test_an_interrupt_swallowed_in_a_finaliser_is_raised_at_the_next_check(monkeypatch):
    swallowed: list[BaseException | None] = []
    monkeypatch.setattr(sys, "unraisablehook", lambda unraisable: swallowed.append(unraisable.exc_value))
    with interruptible() as received:
        raise_if_received()  # nothing came yet
        _Finalised()
        gc.collect()
        assert [type(e) for e in swallowed] == [KeyboardInterrupt]
        assert received.pending and received.name == "SIGTERM"
        with pytest.raises(KeyboardInterrupt, match="SIGTERM"):
            raise_if_received()
    raise_if_received()  # outside, a past signal stops nothing


def test_outside_interruptible_the_check_does_nothing():
    raise_if_received()
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL


def test_a_deferred_signal_waits_for_the_work_that_may_be_cut():
    with interruptible(deferred=True) as received:
        os.kill(os.getpid(), signal.SIGINT)  # while the bookkeeping runs: recorded, not raised
        time.sleep(0.05)
        assert received.pending and received.name == "SIGINT"
        with pytest.raises(KeyboardInterrupt), interrupts_allowed():
            pytest.fail("the signal that came before is raised on entry")
    with interruptible(deferred=True), pytest.raises(KeyboardInterrupt), interrupts_allowed():
        os.kill(os.getpid(), signal.SIGTERM)  # inside: raised at once
        time.sleep(5)
        pytest.fail("the signal did not interrupt the work")
