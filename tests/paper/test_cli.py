"""`paper status` on a journal being written, `paper stop` (the kill switch, with flattening), SIGTERM."""

from __future__ import annotations

import json
import signal
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from signalstack.cli import main
from signalstack.paper.events import Stop
from signalstack.paper.journal import Journal
from signalstack.paper.kill_switch import stop_file

from .support import journal_count, paper_args, start_signalstack, wait_for

STATUS_KEYS = {"cash", "equity", "positions", "open_orders", "orders", "fills", "bars", "signals", "stale_gaps",
               "rejected_bars", "last_bar", "last_signal"}


def _status(journal: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    assert main(["paper", "status", "--journal", str(journal), "--json"]) == 0
    return json.loads(capsys.readouterr().out)






def test_status_reads_a_running_journal_and_stop_flattens_then_resume_trades_on(
        paper_model: Path, replay_csv: Path, start: str, thresholds: dict[str, float], journal_dir: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    journal = journal_dir / "live.sqlite"
    run = start_signalstack(["paper", "run", *paper_args(paper_model, replay_csv, start, thresholds, pace=0.03),
                             "--journal", str(journal)])
    try:
        wait_for(lambda: journal_count(journal, "signal") >= 5, "live bars")
        status = _status(journal, capsys)
        assert STATUS_KEYS <= status.keys()
        assert status["last_signal"]["spx"].keys() == {"time", "p_up", "model", "version"}
        assert status["last_signal"]["spx"]["model"] == "quick" and status["rejected_bars"] == 0
        wait_for(lambda: _status(journal, capsys)["positions"]["spx"] != 0, "a position to flatten")
        assert main(["paper", "stop", "--journal", str(journal), "--flatten"]) == 0
        assert "stop requested" in capsys.readouterr().out
        assert run.wait(timeout=60) == 0, run.stderr.read()[-3000:]
    finally:
        run.kill()
    status = _status(journal, capsys)
    assert status["positions"] == {"spx": 0} and status["open_orders"] == []
    assert status["stopped"] == {"reason": "kill switch", "flatten": True}
    assert 0 < status["signals"] < 160 and not stop_file(journal).exists()
    with Journal(journal, readonly=True) as read:
        last_order = read.events(("order",))[-1].payload
    assert last_order.reason == "flatten"

    assert main(["paper", "resume", "--journal", str(journal)]) == 0  # the switch was honoured: trading goes on
    assert "session ended: feeds ended" in capsys.readouterr().out
    status = _status(journal, capsys)
    assert status["signals"] == 160 and status["stopped"]["reason"] == "feeds ended"
    with Journal(journal, readonly=True) as read:
        values = {e.time[:10]: e.payload.value for e in read.events(("snapshot",))}  # the last of each date
    days = sorted(values)
    assert status["today"] == days[-1] == "2018-12-31" and status["risk_events"] == []
    assert status["today_pnl"] == pytest.approx(values[days[-1]] - values[days[-2]])
    assert main(["paper", "status", "--journal", str(journal)]) == 0
    text = capsys.readouterr().out
    assert "bars 200  signals 160" in text and "spx: last bar 2018-12-31T00:00:00; last signal" in text
    assert f"P&L on 2018-12-31: {status['today_pnl']:+,.2f}" in text


def test_sigterm_ends_a_run_cleanly_with_its_journal_closed(paper_model: Path, replay_csv: Path, start: str,
                                                           thresholds: dict[str, float], journal_dir: Path) -> None:
    journal = journal_dir / "term.sqlite"
    run = start_signalstack(["paper", "run", *paper_args(paper_model, replay_csv, start, thresholds, pace=0.05),
                             "--journal", str(journal)])
    try:
        wait_for(lambda: journal_count(journal, "signal") >= 3, "live bars")
        run.send_signal(signal.SIGTERM)
        assert run.wait(timeout=30) == 0, run.stderr.read()[-3000:]
        assert "session ended: SIGTERM" in run.stdout.read()
    finally:
        run.kill()
    assert not journal.with_name(journal.name + "-wal").exists()  # the last connection closed it cleanly
    with sqlite3.connect(journal) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    with Journal(journal, readonly=True) as read:
        last = read.events()[-1]
    assert (last.kind, last.payload) == ("stop", Stop("SIGTERM", flatten=False))
