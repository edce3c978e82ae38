"""What a run checks before it trades (bars there, a start within them, history enough for the model), what a
resume checks (the file it read unchanged), and times printed in the bars' zone."""

from __future__ import annotations

import re
import signal
from pathlib import Path

import pandas as pd
import pytest

from signalstack.cli import main
from signalstack.paper.journal import KILL_AFTER_ENV

from .support import (
    BARS,
    START_BAR,
    journal_count,
    journal_events,
    paper_args,
    signalstack,
    start_signalstack,
    status_json,
    wait_for,
)

REQUIRED = 15
"""Bars a prediction of the quick model needs (support.QUICK's warm-up and its window)."""


def _one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert "\n" not in err, err
    return err


def test_too_little_history_is_refused_naming_the_bars_unless_a_cold_start_is_allowed(
    paper_model: Path,
    replay_bars: pd.DataFrame,
    thresholds: dict[str, float],
    journal_dir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    csv, journal = journal_dir / "spx.csv", journal_dir / "cold.sqlite"
    replay_bars.to_csv(csv)
    early = replay_bars.index[5].date().isoformat()  # 5 bars of history, the model needs 14
    first = replay_bars.index[REQUIRED - 1].date().isoformat()
    assert main(["paper", "run", *paper_args(paper_model, csv, early, thresholds), "--journal", str(journal)]) == 1
    assert _one_line_error(capsys) == (
        f"signalstack paper: error: spx: 5 bars before start {early}T00:00:00 UTC, the model needs {REQUIRED - 1} "
        f"({REQUIRED} per prediction, the start bar's included): trading would begin on bar {first}T00:00:00 UTC "
        "(give more history, or --allow-cold-start to trade without signals until then)"
    )
    assert not journal.exists()  # refused before anything was journaled

    cold = signalstack(
        [
            "paper",
            "run",
            *paper_args(paper_model, csv, early, thresholds),
            "--allow-cold-start",
            "--journal",
            str(journal),
        ]
    )
    assert f"spx: 5 bars before start {early}T00:00:00 UTC, the model needs {REQUIRED - 1}" in cold.stderr
    assert f"spx: first signal of the session, on bar {first}T00:00:00 UTC" in cold.stderr
    assert min(e.time for e in journal_events(journal, "signal")) == f"{first}T00:00:00"


def test_a_run_that_never_had_a_signal_still_has_its_report(
    paper_model: Path,
    replay_bars: pd.DataFrame,
    thresholds: dict[str, float],
    journal_dir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    csv, journal = journal_dir / "short.csv", journal_dir / "signalless.sqlite"
    replay_bars.iloc[: REQUIRED - 3].to_csv(csv)  # fewer bars than one prediction needs
    start = replay_bars.index[5].date().isoformat()
    assert (
        main(
            [
                "paper",
                "run",
                *paper_args(paper_model, csv, start, thresholds),
                "--allow-cold-start",
                "--journal",
                str(journal),
            ]
        )
        == 0
    )
    assert journal_count(journal, "signal") == 0 and journal_count(journal, "snapshot") == REQUIRED - 3 - 5
    capsys.readouterr()
    assert main(["paper", "report", "--journal", str(journal), "--out", str(journal_dir / "report")]) == 0
    assert "short: fills 0 / 0 backtest" in capsys.readouterr().out


@pytest.mark.parametrize("what", ["empty", "header only", "start past the last bar"])
def test_a_file_with_nothing_to_trade_is_one_line_and_no_journal(
    paper_model: Path,
    replay_bars: pd.DataFrame,
    thresholds: dict[str, float],
    journal_dir: Path,
    what: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    csv, journal = journal_dir / "spx.csv", journal_dir / "nothing.sqlite"
    replay_bars.to_csv(csv)
    start = replay_bars.index[START_BAR].date().isoformat()
    if what == "empty":
        csv.write_text("")
        said = f"{csv}: empty file (expected a header such as"
    elif what == "header only":
        csv.write_text(csv.read_text().splitlines()[0] + "\n")
        said = f"feed spx: {csv} holds no bar (expected a header, then one bar per line)"
    else:
        start = "2030-01-02"
        said = (
            f"feed spx: start 2030-01-02T00:00:00 is after the last bar {replay_bars.index[-1].isoformat()} of "
            f"{csv} (expected a start at or before it: no bar would be traded)"
        )
    assert main(["paper", "run", *paper_args(paper_model, csv, start, thresholds), "--journal", str(journal)]) == 1
    assert said in _one_line_error(capsys)
    assert not journal.exists()


def test_a_tail_feed_whose_history_comes_short_is_refused_on_its_first_live_bar(
    paper_model: Path, replay_bars: pd.DataFrame, start: str, thresholds: dict[str, float], journal_dir: Path
) -> None:
    csv, journal = journal_dir / "spx.csv", journal_dir / "tail.sqlite"
    run = start_signalstack(
        [
            "paper",
            "run",
            "--model",
            str(paper_model),
            "--feed",
            f"spx=tail:{csv}?start={start}",
            "--buy-threshold",
            str(thresholds["buy_threshold"]),
            "--sell-threshold",
            str(thresholds["sell_threshold"]),
            "--journal",
            str(journal),
        ]
    )
    try:
        wait_for(lambda: journal_count(journal, "config") == 1, "the run to begin (its file not there yet)")
        replay_bars.iloc[START_BAR - 3 :].to_csv(csv)  # 3 bars of history come, then live ones
        assert run.wait(timeout=60) == 1
        err = run.stderr.read().strip().splitlines()[-1]
    finally:
        run.kill()
    assert err == (
        f"signalstack paper: error: spx: 3 bars before start {start}T00:00:00 UTC, the model needs "
        f"{REQUIRED - 1} ({REQUIRED} per prediction, the start bar's included): trading would begin once "
        "that many bars came (give more history before start, or --allow-cold-start to trade without "
        "signals until then)"
    )
    assert [e.payload.reason for e in journal_events(journal, "stop")] == ["error"]
    assert journal_count(journal, "order") == 0


def test_a_resume_refuses_a_replay_file_changed_or_cut_since_the_run_read_it(
    paper_model: Path,
    replay_bars: pd.DataFrame,
    start: str,
    thresholds: dict[str, float],
    journal_dir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    csv, journal = journal_dir / "spx.csv", journal_dir / "changed.sqlite"
    replay_bars.to_csv(csv)
    original = csv.read_text()
    killed = signalstack(
        ["paper", "run", *paper_args(paper_model, csv, start, thresholds), "--journal", str(journal)],
        env={KILL_AFTER_ENV: "300"},
        check=False,
    )
    assert killed.returncode == -signal.SIGKILL
    read_up_to = max(e.payload.row for e in journal_events(journal, "bar"))
    lines = original.splitlines(keepends=True)

    csv.write_text("".join(lines[: read_up_to - 10]))  # cut shorter than what the run read
    assert main(["paper", "resume", "--journal", str(journal)]) == 1
    assert _one_line_error(capsys) == (
        f"signalstack paper: error: feed spx: {csv} now ends at row {read_up_to - 10}, the run read its rows up to "
        f"{read_up_to} (expected the file it read, rows only ever added after them)"
    )

    changed = lines.copy()
    fields = changed[20].split(",")
    fields[4] = str(float(fields[4]) + 1.0)  # the 20th data row's close
    changed[20] = ",".join(fields)
    csv.write_text("".join(changed))
    assert main(["paper", "resume", "--journal", str(journal)]) == 1
    err = _one_line_error(capsys)
    assert re.fullmatch(
        rf"signalstack paper: error: feed spx: {re.escape(str(csv))} changed since the run read it: "
        rf"rows 1-{read_up_to} digest \w{{12}}, journaled \w{{12}}; first difference row 21: now row "
        rf"21: .*, journaled row 21: .* \(expected the file it read: give a new --journal to trade "
        r"the new file\)",
        err,
    ), err
    assert status_json(journal, capsys)["state"] == "crashed"  # the refusals wrote nothing

    csv.write_text(original)
    assert main(["paper", "resume", "--journal", str(journal)]) == 0
    assert journal_count(journal, "bar") == BARS


def test_times_are_printed_in_the_zone_of_the_bars(
    paper_model: Path,
    replay_bars: pd.DataFrame,
    start: str,
    thresholds: dict[str, float],
    journal_dir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    csv, journal = journal_dir / "spx.csv", journal_dir / "zoned.sqlite"
    zoned = replay_bars.copy()
    zoned.index = (zoned.index + pd.Timedelta(hours=20)).tz_localize("UTC").tz_convert("Etc/GMT+4")  # 16:00-04:00
    zoned.to_csv(csv)
    assert "16:00:00-04:00," in csv.read_text().splitlines()[1]
    ran = signalstack(["paper", "run", *paper_args(paper_model, csv, start, thresholds), "--journal", str(journal)])
    last = zoned.index[-1].isoformat()
    assert f"spx: last bar {last}; last signal {last} p_up" in ran.stdout  # not 20:00 UTC: the file's own clock
    assert re.search(
        r"spx: filled \w+ (buy|sell) [\d.]+ at [\d.]+, commission [\d.]+, on bar 2018-\d\d-\d\dT16:00:00"
        r"-04:00",
        ran.stderr,
    )
    with_zone = status_json(journal, capsys)
    assert with_zone["zones"] == {"spx": "-04:00"} and with_zone["last_bar"]["spx"] == "2018-12-31T20:00:00"
