"""`paper status` on a journal being written (running, stopping, stopped), `paper stop` (the kill switch, with
flattening; nothing on a run that is not running), SIGTERM and Ctrl-C."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import time
from pathlib import Path

import pandas as pd
import pytest

from signalstack.cli import main
from signalstack.paper.events import Stop
from signalstack.paper.journal import Journal
from signalstack.paper.kill_switch import stop_file
from signalstack.paper.runner import _signals_stop
from signalstack.paper.strategy import Controller

from .support import START_BAR, journal_count, paper_args, start_signalstack, status_json, wait_for

STATUS_KEYS = {
    "cash",
    "equity",
    "positions",
    "open_orders",
    "orders",
    "fills",
    "bars",
    "signals",
    "stale_gaps",
    "rejected_bars",
    "last_bar",
    "last_signal",
}


def test_status_reads_a_running_journal_and_stop_flattens_then_resume_trades_on(
    paper_model: Path,
    replay_csv: Path,
    start: str,
    thresholds: dict[str, float],
    journal_dir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    journal = journal_dir / "live.sqlite"
    run = start_signalstack(
        ["paper", "run", *paper_args(paper_model, replay_csv, start, thresholds, pace=0.03), "--journal", str(journal)]
    )
    try:
        wait_for(lambda: journal_count(journal, "signal") >= 5, "live bars")
        status = status_json(journal, capsys)
        assert STATUS_KEYS <= status.keys()
        assert status["last_signal"]["spx"].keys() == {"time", "p_up", "model", "version"}
        assert status["last_signal"]["spx"]["model"] == "quick" and status["rejected_bars"] == 0
        wait_for(lambda: status_json(journal, capsys)["positions"]["spx"] != 0, "a position to flatten")
        assert main(["paper", "stop", "--journal", str(journal), "--flatten"]) == 0
        assert "stop requested" in capsys.readouterr().out
        assert run.wait(timeout=60) == 0, run.stderr.read()[-3000:]
    finally:
        run.kill()
    status = status_json(journal, capsys)
    assert status["positions"] == {"spx": 0} and status["open_orders"] == []
    assert status["stopped"] == {"reason": "kill switch", "flatten": True}
    assert 0 < status["signals"] < 160 and not stop_file(journal).exists()
    with Journal(journal, readonly=True) as read:
        last_order = read.events(("order",))[-1].payload
    assert last_order.reason == "flatten"

    assert main(["paper", "resume", "--journal", str(journal)]) == 0  # the switch was honoured: trading goes on
    assert "session ended: feeds ended" in capsys.readouterr().out
    status = status_json(journal, capsys)
    assert status["signals"] == 160 and status["stopped"]["reason"] == "feeds ended"
    with Journal(journal, readonly=True) as read:
        values = {e.time[:10]: e.payload.value for e in read.events(("snapshot",))}  # the last of each date
    days = sorted(values)
    assert status["today"] == days[-1] == "2018-12-31" and status["risk_events"] == []
    assert status["today_pnl"] == pytest.approx(values[days[-1]] - values[days[-2]])
    assert main(["paper", "status", "--journal", str(journal)]) == 0
    text = capsys.readouterr().out
    assert "bars 200  signals 160" in text and "spx: last bar 2018-12-31T00:00:00 UTC; last signal" in text
    assert f"P&L on 2018-12-31: {status['today_pnl']:+,.2f}" in text


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_sigterm_or_ctrl_c_ends_a_run_cleanly_with_its_journal_closed(
    paper_model: Path,
    replay_csv: Path,
    start: str,
    thresholds: dict[str, float],
    journal_dir: Path,
    stop: signal.Signals,
    capsys: pytest.CaptureFixture[str],
) -> None:
    journal = journal_dir / "term.sqlite"
    run = start_signalstack(
        ["paper", "run", *paper_args(paper_model, replay_csv, start, thresholds, pace=0.05), "--journal", str(journal)]
    )
    try:
        wait_for(lambda: journal_count(journal, "signal") >= 3, "live bars")
        run.send_signal(stop)
        assert run.wait(timeout=30) == 0, run.stderr.read()[-3000:]
        assert f"session ended: {stop.name}" in run.stdout.read()
    finally:
        run.kill()
    assert not journal.with_name(journal.name + "-wal").exists()  # the last connection closed it cleanly
    with sqlite3.connect(journal) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    with Journal(journal, readonly=True) as read:
        last = read.events()[-1]
    assert (last.kind, last.payload) == ("stop", Stop(stop.name, flatten=False))
    assert status_json(journal, capsys)["state"] == "stopped"


def test_a_second_ctrl_c_exits_at_once(tmp_path: Path) -> None:
    before = signal.getsignal(signal.SIGINT)  # SIG_IGN where a shell started the tests in the background
    with Journal(tmp_path / "j.sqlite") as journal:
        controller = Controller(journal, "r", "m", 1)
        with pytest.raises(KeyboardInterrupt), _signals_stop([], controller):
            os.kill(os.getpid(), signal.SIGINT)
            wait_for(lambda: controller.stop is not None, "the first Ctrl-C handled")
            assert controller.stop == Stop("SIGINT")  # the first stops after the bar in hand
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)
    assert signal.getsignal(signal.SIGINT) == before  # the run's handlers are gone


def test_status_says_running_stopping_then_stopped_and_the_run_ends_printing_what_status_reads(
    paper_model: Path,
    replay_bars: pd.DataFrame,
    start: str,
    thresholds: dict[str, float],
    journal_dir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # A tail feed waits for rows: the run stays running, then stopping (a flattening waits for the bars
    # that close its position), for as long as the test likes.
    feed, journal = journal_dir / "spx.csv", journal_dir / "states.sqlite"
    lines = replay_bars.to_csv().splitlines(keepends=True)
    given = 1 + START_BAR + 60  # the header, the history, 60 live bars
    feed.write_text("".join(lines[:given]))
    run = start_signalstack(
        [
            "paper",
            "run",
            "--model",
            str(paper_model),
            "--feed",
            f"spx=tail:{feed}?start={start}",
            "--buy-threshold",
            str(thresholds["buy_threshold"]),
            "--sell-threshold",
            str(thresholds["sell_threshold"]),
            "--allow-short",
            "--journal",
            str(journal),
        ]
    )
    try:
        wait_for(lambda: journal_count(journal, "snapshot") == 60, "the file's live bars")
        running = status_json(journal, capsys)
        assert running["state"] == "running" and running["pid"] == run.pid and running["positions"]["spx"] != 0
        account = running["accounts"]["spx"]
        size, price = running["positions"]["spx"], account["entry_price"]
        assert account["unrealized_pnl"] == pytest.approx(account["equity"] - account["cash"] - size * price)
        assert account["return_since_start"] == pytest.approx(account["equity"] / 100_000 - 1)
        time.sleep(1.5)  # no bar comes: the heartbeat goes on
        assert status_json(journal, capsys)["heartbeat"] > running["heartbeat"]
        assert main(["paper", "stop", "--journal", str(journal), "--flatten"]) == 0
        capsys.readouterr()
        wait_for(lambda: status_json(journal, capsys)["state"] == "stopping", "the stop asked for")
        # status says stopping once the switch's file is there; the run reads it within POLL_SECONDS and journals
        # it. Bars appended before that would be traded as usual, leaving none to flatten on: wait for the event.
        wait_for(lambda: journal_count(journal, "stop") == 1, "the stop read by the run")
        assert main(["paper", "status", "--journal", str(journal)]) == 0
        assert f"state: stopping (kill switch, closing positions first; pid {run.pid} on " in capsys.readouterr().out
        with feed.open("a") as fh:
            fh.writelines(lines[given : given + 3])  # the closing order's bar, its fill's, one more
        assert run.wait(timeout=60) == 0, run.stderr.read()[-3000:]
        printed = run.stdout.read()
    finally:
        run.kill()
    assert main(["paper", "status", "--journal", str(journal)]) == 0
    text = capsys.readouterr().out
    assert printed == f"{text}session ended: kill switch; journal {journal}\n"  # the final word is the journal's
    stopped = status_json(journal, capsys)
    assert stopped["state"] == "stopped" and "state: stopped (kill switch)" in text
    assert stopped["positions"] == {"spx": 0} and stopped["open_orders"] == [] and stopped["stop_requested"] is False

    # Nothing to stop now: it says so, and leaves no file that would stop the next resume after one bar.
    assert main(["paper", "stop", "--journal", str(journal), "--flatten"]) == 0
    said = capsys.readouterr().out
    assert f"run {stopped['run_id']} is not running" in said and "state: stopped (kill switch)" in said
    assert not stop_file(journal).exists()
    junk = journal_dir / "junk.sqlite"
    junk.write_bytes(random.Random(3).randbytes(4096))
    assert main(["paper", "stop", "--journal", str(junk)]) == 1
    err = capsys.readouterr().err.strip()
    assert (
        err == f"signalstack paper: error: journal {junk}: cannot read it (file is not a database); expected a "
        "paper journal"
    )
    assert not stop_file(junk).exists()
