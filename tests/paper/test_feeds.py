"""The replay feed: spec parsing, a live feed's statuses, pacing, and malformed bars kept from the strategy."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import backtrader as bt
import pandas as pd
import pytest

from signalstack.core.bars import load_bars, read_rows
from signalstack.paper.feed_kinds import make_feed
from signalstack.paper.feeds import ReplayFeed, parse_feed
from signalstack.paper.journal import Journal

from ..layouts import LAYOUTS, layout_file
from .support import Recorder

ROWS = """Date,Open,High,Low,Close,Volume
2020-01-01,10,11,9,10.5,100
2020-01-02,10,11,9,10.5,100
2020-01-02,10,11,9,10.5,100
2020-01-03,10,,9,10.5,100
2020-01-06,-1,11,9,10.5,100
2020-01-07,10,10.2,9,10.5,100
2020-01-08,10,11,9,10.5,100
2020-01-05,10,11,9,10.5,100
2020-01-08,10,11,9,10.6,100
not-a-date,10,11,9,10.5,100
2020-01-09,10,11,10.2,10.5,100
2020-01-10,10,11,9,10.5,100
"""
"""Clean bars on 01-01, 01-02 (sent twice), 01-08 and 01-10; every other row is broken in its own way."""


def _replay(spec: str, journal: Journal) -> Recorder:
    cerebro = bt.Cerebro(stdstats=False)
    feed = ReplayFeed(spec=parse_feed(spec), journal=journal)
    assert feed.islive()
    cerebro.adddata(feed, name=feed.p.spec.symbol)
    cerebro.addstrategy(Recorder)
    return cerebro.run()[0]


def test_feed_specs_parse_and_bad_ones_are_named(tmp_path: Path) -> None:
    csv = tmp_path / "abc.csv"
    csv.write_text(ROWS)
    spec = parse_feed(f"replay:{csv}?pace=0.5&start=2020-01-03")
    assert (spec.symbol, spec.path, spec.pace, spec.start) == ("abc", csv, 0.5, pd.Timestamp("2020-01-03"))
    named = parse_feed(f"SPY=replay:{csv}")
    assert (named.symbol, named.pace, named.start) == ("SPY", 0.0, None)
    assert parse_feed(named.canonical()) == parse_feed(f"SPY=replay:{csv}?pace=0.0")
    for bad, says in [
        (f"ftp:{csv}", "expected replay:"),
        (f"replay:{csv}?pace=-1", "pace '-1'"),
        (f"replay:{csv}?speed=2", "unknown option(s) speed"),
        (f"replay:{csv}?start=soon", "start 'soon'"),
        (f"replay:{tmp_path}/none.csv", "is not a file"),
    ]:
        with pytest.raises(ValueError, match=says.replace("(", r"\(").replace(")", r"\)")):
            parse_feed(bad)


def test_malformed_bars_are_rejected_journaled_and_never_reach_the_strategy(tmp_path: Path) -> None:
    csv = tmp_path / "abc.csv"
    csv.write_text(ROWS)
    with Journal(tmp_path / "j.sqlite") as journal:
        run = _replay(f"replay:{csv}?start=2020-01-03", journal)
        rejected = {e.payload.row: e.payload.reason for e in journal.events(("rejected",))}
        journaled = [(e.time, e.payload.live) for e in journal.events(("bar",))]
    clean = ["2020-01-01", "2020-01-02", "2020-01-08", "2020-01-10"]
    assert [t for t, _ in run.seen] == [pd.Timestamp(d) for d in clean]  # the duplicate delivery is taken once
    assert journaled == [(f"{d}T00:00:00", d >= "2020-01-03") for d in clean]
    assert run.statuses == ["DELAYED", "LIVE"]  # history for the warm-up, then live
    assert sorted(rejected) == [5, 6, 7, 9, 10, 11, 12]
    expected = {
        5: "high nan, expected a finite number",
        6: "open -1, expected a price > 0",
        7: "high 10.2, expected high >= max(open, close)",
        9: "out-of-order time 2020-01-05",
        10: "duplicate time 2020-01-08 00:00:00 with other values",
        11: "Date 'not-a-date', expected a date",
        12: "low 10.2, expected low <= min(open, close)",
    }
    for row, reason in expected.items():
        assert reason in rejected[row], (row, rejected[row])


def test_live_bars_come_at_the_pace_and_history_at_once(tmp_path: Path) -> None:
    csv = tmp_path / "abc.csv"
    csv.write_text(ROWS)
    began = time.monotonic()
    with Journal(tmp_path / "j.sqlite") as journal:
        _replay(f"replay:{csv}?pace=0.2&start=2020-01-02", journal)
        arrivals = [(e.payload.live, e.at) for e in journal.events(("bar",))]
    took = time.monotonic() - began
    live = [at for is_live, at in arrivals if is_live]
    gaps = [b - a for a, b in itertools.pairwise(live)]
    assert [is_live for is_live, _ in arrivals] == [False, True, True, True]
    assert min(gaps) >= 0.19 and took >= 0.38, (gaps, took)
    assert live[0] - arrivals[0][1] < 0.1  # the first live bar is due at once


def test_a_file_that_carries_an_unnamed_time_replays_the_bars_load_bars_reads(tmp_path: Path) -> None:
    """Backtrader's minute files: date and time in two fields under a header naming only Date."""
    csv = tmp_path / "minutes.csv"
    csv.write_text(
        "Date,Open,High,Low,Close,Volume,OpenInterest\n"
        "2006-01-02,09:01:00,3602.00,3603.00,3597.00,3599.00,5699,0\n"
        "2006-01-02,09:02:00,3600.00,3601.00,3598.00,3599.00,894,0\n"
    )
    rows, bars = read_rows(csv), load_bars(csv)
    assert [r.problem for r in rows] == [None, None]
    assert (
        [r.time for r in rows]
        == list(bars.index)
        == [pd.Timestamp("2006-01-02 09:01"), pd.Timestamp("2006-01-02 09:02")]
    )
    assert [r.values for r in rows] == [tuple(v) for v in bars.to_numpy()]


def _fed(spec: str, journal: Journal) -> tuple[Recorder, list[tuple[object, ...]]]:
    """What a feed of `spec` delivers to a strategy until it ends, and the bars it journaled (time, values)."""
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(make_feed(parse_feed(spec), journal, None), name="bars")
    cerebro.addstrategy(Recorder)
    run = cerebro.run()[0]
    return run, [(e.time, *e.payload.values) for e in journal.events(("bar",))]


@pytest.mark.parametrize("kind", ["replay", "tail"])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_every_vendor_layout_feeds_the_bars_load_bars_reads(tmp_path: Path, layout: str, kind: str) -> None:
    path = layout_file(tmp_path, layout)
    bars = load_bars(path)
    with Journal(tmp_path / "j.sqlite") as journal:
        run, journaled = _fed(f"{kind}:{path}" + ("?idle=0.3" if kind == "tail" else ""), journal)
        assert journal.events(("rejected",)) == []
    assert [t for t, _ in run.seen] == list(bars.index)
    assert journaled == [(t.isoformat(), *values) for t, values in zip(bars.index, bars.to_numpy().tolist())]


def test_a_row_with_more_fields_than_its_header_is_rejected_naming_file_row_and_counts(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    csv = tmp_path / "minutes.csv"  # Backtrader's minute layout: rows carry a time the header leaves out
    csv.write_text(
        "Date,Open,High,Low,Close,Volume,OpenInterest\n"
        "2006-01-02,09:01:00,3602.00,3603.00,3597.00,3599.00,5699,0\n"
        "2006-01-02,09:02:00,3600.00,3601.00,3598.00,3599.00,894,0,7\n"
        "2006-01-02,09:03:00,3600.00,3601.00,3598.00,3599.00,894,0\n"
    )
    with Journal(tmp_path / "j.sqlite") as journal:
        run, _ = _fed(f"SPX=replay:{csv}", journal)
        rejected = [(e.payload.row, e.payload.reason) for e in journal.events(("rejected",))]
    reason = "9 fields, expected 7 like the header (or 8, a time after the date)"
    assert rejected == [(3, reason)]
    assert f"SPX (minutes.csv) row 3: rejected bar None: {reason}" in caplog.text
    assert [t for t, _ in run.seen] == [pd.Timestamp("2006-01-02 09:01"), pd.Timestamp("2006-01-02 09:03")]


def test_a_parquet_file_replays_the_bars_load_bars_reads(tmp_path: Path) -> None:
    bars = load_bars(layout_file(tmp_path, "datetime-with-offsets"))
    path = tmp_path / "bars.parquet"
    bars.rename_axis("Datetime").reset_index().to_parquet(path)
    with Journal(tmp_path / "j.sqlite") as journal:
        run, journaled = _fed(f"replay:{path}", journal)
    assert [t for t, _ in run.seen] == list(bars.index) == [r.time for r in read_rows(path)]
    assert journaled == [(t.isoformat(), *values) for t, values in zip(bars.index, bars.to_numpy().tolist())]
