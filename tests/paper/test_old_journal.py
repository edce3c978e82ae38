"""A journal written by signalstack 0.2.0 (schema 1: no trade events) still gives its status, report and resume.

tests/data/journal_v0_2_0 holds what that release wrote and printed: `paper run --model lstm_v0_1_0.onnx
--feed "spx=replay:spx.csv?pace=0&start=2018-07-10" --buy-threshold 0.396758 --sell-threshold 0.393619
--allow-short --journal run.sqlite`, run in /tmp/signalstack-v1-journal and SIGKILLed after event 280 (short 31
units with a buy order pending), then its `paper status --json` (status.json) and `paper report`'s trades.csv.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from signalstack.cli import main
from signalstack.paper.journal import Journal
from signalstack.paper.report import paper_results, write_paper_report

DATA = Path(__file__).resolve().parents[1] / "data"
OLD = DATA / "journal_v0_2_0"
MADE_IN = "/tmp/signalstack-v1-journal"
"""Where the journal was made: its config names the model and the feed file there."""


@pytest.fixture
def journal(tmp_path: Path) -> Path:
    """The old journal beside copies of its model and feed file, its config naming them where they now are
    (as it would on the machine that wrote it)."""
    shutil.copy(DATA / "v0_1_0" / "lstm_v0_1_0.onnx", tmp_path)
    for name in ("spx.csv", "run.sqlite"):
        shutil.copy(OLD / name, tmp_path)
    with closing(sqlite3.connect(tmp_path / "run.sqlite")) as db, db:
        db.execute("DROP TRIGGER events_no_update")  # a writer's open puts it back
        db.execute("UPDATE events SET payload = replace(payload, ?, ?) WHERE kind = 'config'", (MADE_IN, str(tmp_path)))
    return tmp_path / "run.sqlite"


def _kept(said: Any, now: Any) -> bool:
    """Whether `now` says all that `said` did, as it did (dictionaries may have gained keys, at any depth)."""
    if isinstance(said, dict):
        return isinstance(now, dict) and all(key in now and _kept(value, now[key]) for key, value in said.items())
    return bool(said == now)


def test_status_of_an_old_journal_says_what_its_release_said(journal: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["paper", "status", "--journal", str(journal), "--json"]) == 0
    status, said = json.loads(capsys.readouterr().out), json.loads((OLD / "status.json").read_text())
    assert _kept(said, status)  # every key it wrote, as it wrote it; later keys besides
    assert (status["state"], status["pid"]) == ("crashed", None)  # SIGKILLed, before sessions were recorded
    assert main(["paper", "status", "--journal", str(journal)]) == 0
    text = capsys.readouterr().out
    assert "positions: spx -31" in text and "open order 638578640058c3de9919: spx buy 62" in text
    assert "state: crashed (no stop journaled: `paper resume` continues it)" in text


def test_an_old_journal_reports_the_trades_backtrader_makes_of_its_fills(journal: Path, tmp_path: Path) -> None:
    paths = write_paper_report(journal, tmp_path / "report")
    dates = ["entry_time", "exit_time"]
    pd.testing.assert_frame_equal(
        pd.read_csv(paths[0].parent / "trades.csv", parse_dates=dates),
        pd.read_csv(OLD / "trades.csv", parse_dates=dates),
        check_exact=False,
        rtol=1e-12,
    )
    assert json.loads((tmp_path / "report" / "comparison.json").read_text())["run_id"] == "92560730ddab"


def test_an_old_journal_resumes_in_its_schema_to_what_its_backtest_trades(journal: Path) -> None:
    assert main(["paper", "resume", "--journal", str(journal)]) == 0
    with Journal(journal, readonly=True) as read:
        assert read.schema == 1 and read.counts()["trade"] == 0 and read.counts()["resume"] == 1
        assert all(e.payload.trade is None for e in read.events(("snapshot",)))
    report = paper_results(journal)
    live, backtest = report.live["spx"], report.backtest["spx"]
    assert report.comparison["same"] and len(live.fills) == 12 and len(live.trades) == 12
    pd.testing.assert_frame_equal(live.trades, backtest.trades, check_exact=False, rtol=1e-12)
