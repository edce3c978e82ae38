"""Crash safety: runs SIGKILLed at random journal events, resumed from the journal alone, end where an
uninterrupted run ends, with every order placed exactly once."""

from __future__ import annotations

import random
import signal
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pandas as pd

from signalstack.cli import main
from signalstack.paper.journal import KILL_AFTER_ENV, Event

from .support import journal_events, paper_args, same_ids, signalstack

DERIVED = ("bar", "rejected", "signal", "decision", "order", "accepted", "fill", "cancel", "trade", "snapshot")
"""The events a run derives from its bars; config, resume and stop events are a session's bookkeeping."""


def _state(events: list[Event]) -> dict[str, dict[str, Any]]:
    """{kind: {key: payload}} of the derived events: orders, fills, the equity curve (snapshots: cash,
    value, positions after each bar), signals, decisions, bars; order ids named alike in every run."""
    state: dict[str, dict[str, Any]] = {kind: {} for kind in DERIVED}
    for event in same_ids(events):
        if event.kind in DERIVED:
            state[event.kind][event.key] = event.payload
    return state


def _crash_and_resume(args: list[str], journal: Path, kills: tuple[int, ...]) -> list[int]:
    """Run with a SIGKILL after journal event kills[0], resume (killed again after kills[1], ...) until a
    session ends by itself; the exit codes of the sessions."""
    codes = []
    for number, kill in enumerate((*kills, None)):
        command = (
            ["paper", "run", *args, "--journal", str(journal)]
            if number == 0
            else ["paper", "resume", "--journal", str(journal)]
        )
        result = signalstack(command, env={KILL_AFTER_ENV: str(kill) if kill else ""}, check=False)
        codes.append(result.returncode)
        if kill is None:
            assert result.returncode == 0, result.stderr[-3000:]
    return codes


def test_runs_killed_at_random_events_resume_to_the_uninterrupted_journal(
    paper_model: Path, replay_csv: Path, start: str, thresholds: dict[str, float], journal_dir: Path
) -> None:
    args = paper_args(paper_model, replay_csv, start, thresholds)
    reference = journal_dir / "reference.sqlite"
    assert main(["paper", "run", *args, "--journal", str(reference)]) == 0
    events = journal_events(reference)
    expected = _state(events)
    assert len(expected["fill"]) >= 10 and len(expected["trade"]) >= 5
    seqs = {kind: [e.seq for e in events if e.kind == kind] for kind in DERIVED}
    history = [e.seq for e in events if e.kind == "bar" and not e.payload.live]
    live = [e.seq for e in events if e.seq > max(history)]
    rng = random.Random(12)
    first = rng.choice(live[: len(live) // 2])
    pending = rng.choice(seqs["order"])  # the bar's snapshot follows: its order is pending at the checkpoint
    scenarios = {  # name -> the journal events after which the sessions are killed
        "during the warm-up history": (rng.choice(history[2:]),),
        "between journaling an order and submitting it": (rng.choice(seqs["order"]),),
        "between journaling a fill and the strategy seeing it": (rng.choice(seqs["fill"]),),
        "with an order pending after its bar": (
            next(e.seq for e in events if e.kind == "snapshot" and e.seq > pending),
        ),
        "at a random live event": (rng.choice(live),),
        "at another random live event": (rng.choice(live),),
        "twice: in the run, then in its resume": (first, first + rng.randint(20, 80)),
    }
    with ThreadPoolExecutor(max_workers=2) as pool:
        codes = dict(
            zip(
                scenarios,
                pool.map(
                    lambda item: _crash_and_resume(args, journal_dir / f"crash{item[0]}.sqlite", item[1]),
                    enumerate(scenarios.values()),
                ),
            )
        )
    for number, (name, kills) in enumerate(scenarios.items()):
        assert codes[name] == [-signal.SIGKILL] * len(kills) + [0], (name, kills)
        crashed = journal_events(journal_dir / f"crash{number}.sqlite")
        got = _state(crashed)
        for kind in ("order", "fill", "trade", "snapshot", "signal", "decision", "bar"):  # snapshots: the equity curve
            assert got[kind] == expected[kind], (name, kills, kind)
        assert got == expected, (name, kills)
        assert sum(e.kind == "resume" for e in crashed) == len(kills)
        assert got["snapshot"][max(got["snapshot"])] == expected["snapshot"][max(expected["snapshot"])]


def test_a_run_of_two_feeds_resumes_to_the_same_journal(
    paper_model: Path, replay_bars: pd.DataFrame, start: str, thresholds: dict[str, float], journal_dir: Path
) -> None:
    first, second = journal_dir / "spx.csv", journal_dir / "late.csv"
    replay_bars.to_csv(first)
    replay_bars.iloc[25:].assign(volume=replay_bars["volume"].iloc[25:] * 2).to_csv(second)  # starts later
    args = [
        "--model",
        str(paper_model),
        "--feed",
        f"SPX=replay:{first}?start={start}",
        "--feed",
        f"LATE=replay:{second}?start={start}",
        "--buy-threshold",
        str(thresholds["buy_threshold"]),
        "--sell-threshold",
        str(thresholds["sell_threshold"]),
    ]
    reference = journal_dir / "two.sqlite"
    assert main(["paper", "run", *args, "--journal", str(reference)]) == 0
    events = journal_events(reference)
    expected = _state(events)
    assert {e.symbol for e in events if e.kind == "fill"} == {"SPX", "LATE"}
    # The feeds run side by side, so a kill lands somewhere in either symbol's step.
    assert _crash_and_resume(args, journal_dir / "two-crashed.sqlite", (len(events) // 2,)) == [-signal.SIGKILL, 0]
    assert _state(journal_events(journal_dir / "two-crashed.sqlite")) == expected
