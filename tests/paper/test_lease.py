"""One writer per journal: the lease a run holds for its life, refused to a second writer, taken over from a
dead one; the sessions and heartbeat a status reads; every run an id of its own."""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

import pytest

from signalstack.cli import main
from signalstack.paper import journal as journal_module
from signalstack.paper.events import Bar, Stop
from signalstack.paper.journal import Journal
from signalstack.paper.lease import LeaseHeld, is_held, lease_file

from .support import (
    journal_count,
    journal_events,
    paper_args,
    same_ids,
    signalstack,
    start_signalstack,
    status_json,
    wait_for,
)

DERIVED = ("bar", "rejected", "signal", "decision", "order", "accepted", "fill", "cancel", "trade", "snapshot")


def test_one_process_writes_a_journal_and_readers_never_take_its_lease(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "j.sqlite"
    monkeypatch.setattr(journal_module, "HEARTBEAT_SECONDS", 0.05)
    with Journal(path) as journal:
        assert is_held(path) and lease_file(path).exists()
        with pytest.raises(LeaseHeld, match=rf"^journal {re.escape(str(path))}: written by pid {os.getpid()} on "):
            Journal(path)
        with Journal(path, readonly=True) as reader:
            assert reader.sessions() == []  # none until the writer writes
        journal.append(Bar(2, True, 1.4, 1.6, 1.3, 1.5, 10.0), "bar:X:2020-01-01", symbol="X")
        journal.flush()
        with Journal(path, readonly=True) as reader:  # a reader is never refused, and leaves the lease held
            [session] = reader.sessions()
            assert session.holder.pid == os.getpid() and session.after_seq == 0 and session.ended is None
            first_beat = session.heartbeat
        assert is_held(path)
        time.sleep(0.1)
        journal.flush()  # a flush while the feeds wait commits the heartbeat when it is due
        with Journal(path, readonly=True) as reader:
            assert reader.sessions()[0].heartbeat > first_beat
    assert not is_held(path) and not lease_file(path).exists()  # nothing left beside the journal
    with Journal(path) as journal:  # a second session: it writes nothing, so it leaves no trace
        pass
    with Journal(path) as journal:
        journal.append(Stop("SIGTERM"), "stop:1")
    with Journal(path, readonly=True) as reader:
        first, second = reader.sessions()
    assert first.ended is not None and (second.number, second.after_seq) == (first.number + 1, 1)


def test_a_second_writer_is_refused_while_the_run_lives_and_resume_takes_over_after_kill_9(
    paper_model: Path,
    replay_csv: Path,
    start: str,
    thresholds: dict[str, float],
    journal_dir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    reference = journal_dir / "reference.sqlite"
    uninterrupted = signalstack(
        ["paper", "run", *paper_args(paper_model, replay_csv, start, thresholds), "--journal", str(reference)]
    )
    expected = [(e.key, e.payload) for e in same_ids(journal_events(reference, *DERIVED))]
    orders, fills = journal_events(reference, "order"), journal_events(reference, "fill")
    assert len(fills) >= 10
    # Said at the default log level: one line per order and per fill, and a status line now and then.
    assert len(re.findall(r"spx: order \w+ (?:buy|sell) ", uninterrupted.stderr)) == len(orders)
    assert len(re.findall(r"spx: filled \w+ (?:buy|sell) ", uninterrupted.stderr)) == len(fills)
    assert re.search(r"bar 2018-\S+ UTC: equity [\d,.]+ \([+-][\d.]+% since start\), positions: ", uninterrupted.stderr)

    journal = journal_dir / "taken.sqlite"
    run = start_signalstack(
        ["paper", "run", *paper_args(paper_model, replay_csv, start, thresholds, pace=0.2), "--journal", str(journal)]
    )
    try:
        wait_for(lambda: journal_count(journal, "signal") >= 5, "live bars")
        status = status_json(journal, capsys)
        assert (status["state"], status["pid"]) == ("running", run.pid) and status["heartbeat_age"] < 30
        for second in (
            ["paper", "resume", "--journal", str(journal)],
            ["paper", "run", *paper_args(paper_model, replay_csv, start, thresholds), "--journal", str(journal)],
        ):
            assert main(second) == 1
            refused = capsys.readouterr().err.strip()
            assert refused.startswith(f"signalstack paper: error: journal {journal}: written by pid {run.pid} on "), (
                refused
            )
            assert "\n" not in refused
        run.send_signal(signal.SIGKILL)
        assert run.wait(timeout=30) == -signal.SIGKILL
    finally:
        run.kill()
    crashed = status_json(journal, capsys)
    assert crashed["state"] == "crashed" and crashed["pid"] == run.pid and crashed["signals"] < 160
    assert lease_file(journal).exists()  # the dead run's lease file, unlocked: taken over, not in the way
    signalstack(["paper", "resume", "--journal", str(journal)])
    assert [(e.key, e.payload) for e in same_ids(journal_events(journal, *DERIVED))] == expected
    done = status_json(journal, capsys)
    assert done["state"] == "stopped" and done["stopped"]["reason"] == "feeds ended"
    assert done["run_id"] != status_json(reference, capsys)["run_id"]  # a run of the same settings: an id of its own
    assert not {e.payload.order_id for e in journal_events(journal, "order")} & {e.payload.order_id for e in orders}
    assert not lease_file(journal).exists()
