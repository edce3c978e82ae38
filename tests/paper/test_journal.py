"""The journal: durable settings, append-only, idempotent re-derivation, and a run that cannot write it stops."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from signalstack.cli import main
from signalstack.paper.events import SCHEMA, Bar, Fill, Order, Rejected, RunConfig, RunFeed, Signal, Stop
from signalstack.paper.journal import Journal, JournalError
from signalstack.paper.runner import PaperConfig, run_paper
from signalstack.plugin.settings import TradingSettings

from .support import paper_args


def test_the_journal_is_durable_group_committed_append_only_and_takes_a_re_derived_event_once(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    with Journal(path) as journal:
        assert journal._db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert journal._db.execute("PRAGMA synchronous").fetchone() == (2,)  # FULL
        first = journal.append(Bar(2, True, 1.4, 1.6, 1.3, 1.5, 10.0), "bar:X:2020-01-01", symbol="X")
        second = journal.append(Signal({"up": 0.6}, "m", 1), "signal:X:2020-01-01", symbol="X")
        assert (first, second) == (1, 2)
        assert journal.append(Bar(2, True, 1.4, 1.6, 1.3, 1.5, 10.0), "bar:X:2020-01-01", symbol="X") is None
        with pytest.raises(JournalError, match=r"event bar:X:2020-01-01 was journaled as .*expected the same"):
            journal.append(Bar(2, True, 1.4, 1.6, 1.3, 1.6, 10.0), "bar:X:2020-01-01", symbol="X")
        with Journal(path, readonly=True) as reader:  # a status reads what is committed while the run writes
            assert reader.events() == []  # a bar and a signal wait for the next commit (group commit)
            journal.flush()
            assert [e.seq for e in reader.events()] == [1, 2]
            journal.append(Fill("o0", "buy", 1, 1.5, 1.5, 0.0), "fill:o0", symbol="X")
            assert len(reader.events()) == 2
            order = Order("o1", "sell", 1, "market", "signal", 1.5)
            journal.append(order, "order:o1", symbol="X")  # durable: before the broker sees it
            assert [e.kind for e in reader.events()] == ["bar", "signal", "fill", "order"]
            assert reader.events(("order",))[0].payload == order  # read back as the type it was written as
            with pytest.raises(JournalError, match="cannot write"):
                reader.append(Stop("SIGTERM"), "stop:1")
        for statement in ("UPDATE events SET payload = '{}' WHERE seq = 1", "DELETE FROM events WHERE seq = 2"):
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                journal._db.execute(statement)
        assert journal.counts()["bar"] == 1 and journal.counts()["signal"] == 1 and journal.counts()["order"] == 1


def test_a_journal_keeps_its_schema_and_one_of_a_newer_signalstack_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    with Journal(path) as journal:
        assert journal.schema == SCHEMA
        journal.append(Stop("SIGTERM"), "stop:1")
    with Journal(path) as journal:  # reopened (a resume): the schema it was created with
        assert journal.schema == SCHEMA
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version={SCHEMA + 1}")
    with pytest.raises(
        JournalError,
        match=rf"schema {SCHEMA + 1}, written by a newer signalstack; expected schema "
        rf"{SCHEMA} or older",
    ):
        Journal(path, readonly=True)


def test_payloads_are_stored_as_canonical_json_whatever_their_numbers(tmp_path: Path) -> None:
    # Plain payloads take the encoder's fast path, those holding NaN or infinities are cleaned first:
    # both must give one text per payload, or a re-derived event would not compare equal.
    def config(down: float | None, nested: dict[str, Any]) -> RunConfig:
        return RunConfig(
            "r",
            "m.onnx",
            "m",
            1,
            (RunFeed("X=replay:x.csv", "X", 0.0),),
            1e4,
            0.0,
            0.0,
            {"down": down, "nested": nested},
            {},
            "0",
        )

    with Journal(tmp_path / "j.sqlite") as journal:
        journal.append(config(float("nan"), {"b": (1, 2), "a": None}), "config:1")
        journal.append(config(None, {"b": [1, 2], "a": float("inf")}), "config:2")
        journal.append(config(None, {"b": [1, 2], "a": None}), "config:3")
        assert (
            journal.append(config(None, {"a": None, "b": [1, 2]}), "config:1") is None
        )  # the same event, re-derived with None for NaN: taken once
        texts = {row[0] for row in journal._db.execute("SELECT payload FROM events")}
    assert len(texts) == 1 and '"strategy":{"down":null,"nested":{"a":null,"b":[1,2]}}' in texts.pop()


def test_a_journal_whose_write_failed_takes_nothing_more(tmp_path: Path) -> None:
    # The failed write rolled back the events pending with it: a later write from another thread (a pushed
    # bar's acknowledgement) must fail too, or it would count as durable what is no longer there.
    journal = Journal(tmp_path / "j.sqlite", max_pages=8)
    journal.append(Stop("SIGTERM"), "stop:1")
    with pytest.raises(JournalError, match="cannot write rejected event .*database or disk is full"):
        for i in range(10_000):
            journal.append(Rejected(i, "x" * 200, ()), f"rejected:X:{i}")
    for write in (lambda: journal.append(Signal({"up": 0.5}, "m", 1), "signal:X:0"), journal.flush):
        with pytest.raises(
            JournalError,
            match=r"an earlier write failed \(database or disk is full\) and its events "
            "were rolled back",
        ):
            write()
    journal.close()  # nothing left to commit: it closes without raising again
    with Journal(tmp_path / "j.sqlite", readonly=True) as read:
        assert [e.kind for e in read.events()] == ["stop"]


def test_a_journal_that_cannot_be_created_stops_the_run_with_one_line(
    paper_model: Path,
    replay_csv: Path,
    start: str,
    thresholds: dict[str, float],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    code = main(
        [
            "paper",
            "run",
            *paper_args(paper_model, replay_csv, start, thresholds),
            "--journal",
            str(blocker / "j.sqlite"),
        ]
    )
    err = capsys.readouterr().err.strip()
    assert code == 1 and "\n" not in err
    assert err.startswith(f"signalstack paper: error: journal {blocker / 'j.sqlite'}: cannot write it"), err


def test_a_full_disk_stops_the_run_before_the_action_it_could_not_journal(
    paper_model: Path, replay_csv: Path, start: str, thresholds: dict[str, float], journal_dir: Path
) -> None:
    config = PaperConfig(
        model=paper_model,
        feeds=[f"replay:{replay_csv}?start={start}"],
        trading=TradingSettings(**thresholds, allow_short=True),
    )
    full = run_paper(config, journal_dir / "full.sqlite")
    with Journal(journal_dir / "full.sqlite", readonly=True) as journal:
        pages = journal._db.execute("PRAGMA page_count").fetchone()[0]
        events = len(journal.events())
    assert full.status.counts["fill"] > 4
    with pytest.raises(
        JournalError,
        match=r"cannot write \w+ event .*database or disk is full.*stopped before "
        "acting on it",
    ):
        run_paper(config, journal_dir / "capped.sqlite", max_pages=pages * 2 // 3)
    with Journal(journal_dir / "capped.sqlite", readonly=True) as journal:
        written = journal.events()
    assert events // 3 < len(written) < events
    ordered = set()
    for event in written:  # nothing acted on without its event: every fill follows its order
        if event.kind == "order":
            ordered.add(event.payload.order_id)
        elif event.kind == "fill":
            assert event.payload.order_id in ordered
    last_bar = max(e.time for e in written if e.kind == "bar")
    assert all(e.time <= last_bar for e in written if e.kind in ("signal", "snapshot"))
