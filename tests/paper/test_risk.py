"""Risk limits of a paper run: each limit breached is journaled before the entry is cut or dropped, exits
still trade, decisions across accounts do not depend on the threads, and no limit changes nothing."""

from __future__ import annotations

import math
import random
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from signalstack.cli import main
from signalstack.core.bars import load_bars
from signalstack.core.errors import SettingsError
from signalstack.paper.journal import KILL_AFTER_ENV, Journal
from signalstack.paper.risk import RiskBook, RiskLimits, RiskWaitCancelled
from signalstack.paper.runner import PaperConfig, run_paper
from signalstack.plugin.backtest import run_backtest
from signalstack.plugin.settings import TradingSettings
from signalstack.plugin.sources import OnnxSource

from .support import journal_events, same_ids, signalstack

DERIVED = ("signal", "risk", "decision", "order", "fill", "cancel", "snapshot")


def _derived(path: Path) -> dict[str, Any]:
    """The derived events by key, order ids named alike in every run (`same_ids`)."""
    return {e.key: e.payload for e in same_ids(journal_events(path, *DERIVED))}


def _run(model: Path, feeds: list[str], journal: Path, strategy: dict[str, Any], **limits: float) -> None:
    result = run_paper(
        PaperConfig(model=model, feeds=feeds, trading=TradingSettings(**strategy), risk=RiskLimits(**limits)), journal
    )
    assert result.stopped == "feeds ended"


def _two_feeds(bars: pd.DataFrame, start: str, folder: Path) -> list[str]:
    """Replay specs of two symbols trading from `start`, files written into `folder`: A on `bars`, B on them from
    their 26th bar on (two accounts whose histories differ)."""
    bars.to_csv(folder / "a.csv")
    bars.iloc[25:].to_csv(folder / "b.csv")
    return [f"A=replay:{folder / 'a.csv'}?start={start}", f"B=replay:{folder / 'b.csv'}?start={start}"]


def _opens(decision: dict[str, Any]) -> bool:
    """Whether a journaled decision adds units on a side (an entry, or a reversal's opening part)."""
    held, size = decision["position"], decision["size"] if decision["side"] == "buy" else -decision["size"]
    return abs(held + size) > abs(held) or (held + size) * held < 0


# --- the book on its own ----------------------------------------------------------------------------------


def test_the_book_cuts_entries_to_whole_units_within_the_limit_and_never_checks_exits() -> None:
    book = RiskBook(RiskLimits(max_position=0.5), ["A"], cash=10_000.0)
    cut = book.check("A", 1.0, position=0.0, size=90.0, close=100.0, equity=10_000.0, cancelled=lambda: False)
    assert (cut.size, cut.action, [b.limit for b in cut.breaches]) == (50.0, "cut", ["max_position"])
    assert cut.breaches[0].value == pytest.approx(0.9) and cut.breaches[0].units == 50
    reversal = book.check("A", 1.0, position=40.0, size=-130.0, close=100.0, equity=10_000.0, cancelled=lambda: False)
    assert (reversal.size, reversal.action) == (90.0, "cut")  # closes 40, opens 50 short
    assert (
        book.check("A", 1.0, position=80.0, size=-80.0, close=100.0, equity=10_000.0, cancelled=lambda: False).breaches
        == ()
    )  # an exit, over the limit or not
    adding = book.check("A", 1.0, position=60.0, size=10.0, close=100.0, equity=10_000.0, cancelled=lambda: False)
    assert (adding.size, adding.action) == (0.0, "blocked")  # already above it: keeps what it holds, adds nothing


def test_gross_and_daily_loss_read_the_other_accounts_before_the_bar_once_their_feeds_reach_it() -> None:
    day, hour = 737_000.0, 1 / 24
    book = RiskBook(RiskLimits(max_gross=1.0, daily_loss_limit=0.05), ["A", "B"], cash=1_000.0)
    book.record("B", day - 1 + hour, 1_000.0, 1_000.0)  # yesterday's close: 2,000 over both accounts
    book.record("B", day + hour, 1_000.0, 100.0)  # B holds 900 of stock after the first bar of the day
    checked: list[Any] = []
    waiter = threading.Thread(
        target=lambda: checked.append(
            book.check(
                "A", day + 2 * hour, position=0.0, size=10.0, close=100.0, equity=1_000.0, cancelled=lambda: False
            )
        )
    )
    waiter.start()
    time.sleep(0.3)
    assert waiter.is_alive() and not checked  # B has not reached A's bar yet
    book.record("B", day + 2 * hour, 850.0, 100.0)  # B's own bar at A's time: not read by A's check
    book.progress("B", day + 2 * hour)
    waiter.join(timeout=5)
    verdict = checked[0]
    # gross: (900 + units x 100) / 2,000 <= 1.0 leaves 11 units, more than the 10 wanted; no daily loss yet
    assert verdict.breaches == () and verdict.size == 10.0
    book.record("A", day + 2 * hour, 880.0, 880.0)
    book.progress("B", day + 3 * hour)
    # now 880 + 850 = 1,730 is 13.5% below the day's 2,000: entries halt for the day, exits do not
    halted = book.check("A", day + 3 * hour, position=0.0, size=1.0, close=100.0, equity=880.0, cancelled=lambda: False)
    assert (halted.size, halted.action, halted.breaches[0].limit) == (0.0, "blocked", "daily_loss_limit")
    assert halted.breaches[0].value == pytest.approx(1 - 1_730 / 2_000)
    book.finish("B")
    tomorrow = book.check(
        "A", day + 1 + hour, position=0.0, size=1.0, close=100.0, equity=880.0, cancelled=lambda: False
    )
    assert tomorrow.breaches == ()  # a new day starts from the last close
    with pytest.raises(RiskWaitCancelled):
        RiskBook(RiskLimits(max_gross=1.0), ["A", "B"], cash=1.0).check(
            "A", day, position=0.0, size=1.0, close=1.0, equity=1.0, cancelled=lambda: True
        )


def test_limits_are_checked_when_made() -> None:
    for bad, expected in (
        ({"max_position": 0.0}, "> 0"),
        ({"max_gross": -1.0}, "> 0"),
        ({"daily_loss_limit": 1.0}, "< 1"),
        ({"max_position": math.nan}, "a finite number"),
    ):
        with pytest.raises(SettingsError, match=f"^RiskLimits: {next(iter(bad))}: .*, expected {expected}$"):
            RiskLimits.of(**bad)
    with pytest.raises(
        SettingsError,
        match=r"max_loss: unknown key \(did you mean 'max_gross'\? expected one of "
        r"max_position, max_gross, daily_loss_limit\)",
    ):
        RiskLimits.of(max_loss=0.1)


# --- paper runs -------------------------------------------------------------------------------------------


def test_without_limits_a_paper_run_trades_as_the_backtest(
    paper_model: Path, replay_csv: Path, start: str, thresholds: dict[str, float], journal_dir: Path
) -> None:
    strategy = {**thresholds, "allow_short": True}
    journal = journal_dir / "free.sqlite"
    _run(paper_model, [f"replay:{replay_csv}?start={start}"], journal, strategy)
    backtest = run_backtest(
        OnnxSource(paper_model), load_bars(replay_csv), start=start, symbol=replay_csv.stem, **strategy
    )
    fills = [(pd.Timestamp(e.time), e.payload.size, e.payload.price) for e in journal_events(journal, "fill")]
    assert len(fills) >= 10 and not journal_events(journal, "risk")
    assert fills == list(backtest.fills[["time", "size", "price"]].itertuples(index=False, name=None))


def test_max_position_cuts_every_entry_and_a_tiny_one_blocks_them_all(
    paper_model: Path, replay_csv: Path, start: str, thresholds: dict[str, float], journal_dir: Path
) -> None:
    feed, strategy = f"replay:{replay_csv}?start={start}", {**thresholds, "allow_short": True, "stake": 0.9}
    cut = journal_dir / "cut.sqlite"
    _run(paper_model, [feed], cut, strategy, max_position=0.3)
    risks = journal_events(cut, "risk")
    orders = {e.time: e.payload for e in journal_events(cut, "order")}
    equity = {e.time: e.payload.value for e in journal_events(cut, "snapshot")}
    assert len(risks) >= 5 and {e.payload.action for e in risks} == {"cut"}
    for risk in risks:  # journaled before the order, which has the cut size and keeps the position within 30%
        order = next(e for e in journal_events(cut, "order") if e.time == risk.time)
        assert risk.seq < order.seq and order.payload.size == risk.payload.placed < risk.payload.size
        assert risk.payload.units * order.payload.close <= 0.3 * equity[risk.time]
    fills = journal_events(cut, "fill")
    assert len(fills) >= 10 and all(orders[e.time].size for e in journal_events(cut, "order"))

    blocked = journal_dir / "blocked.sqlite"
    _run(paper_model, [feed], blocked, strategy, max_position=1e-4)  # less than one unit of the index
    risks = journal_events(blocked, "risk")
    assert len(risks) >= 5 and {(e.payload.limit, e.payload.action, e.payload.placed) for e in risks} == {
        ("max_position", "blocked", 0.0)
    }
    assert not journal_events(blocked, "order") and not journal_events(blocked, "decision")
    assert {e.payload.position[0] for e in journal_events(blocked, "snapshot")} == {0.0}


@pytest.fixture
def intraday_csv(replay_bars: pd.DataFrame, journal_dir: Path) -> Path:
    """The replay's bars restamped as eight hourly bars a day, so a day has bars to lose money over."""
    times = [pd.Timestamp("2021-03-01") + pd.Timedelta(days=i // 8, hours=9 + i % 8) for i in range(len(replay_bars))]
    path = journal_dir / "hourly.csv"
    replay_bars.set_axis(pd.DatetimeIndex(times, name="datetime")).to_csv(path)
    return path


def test_daily_loss_limit_halts_entries_for_the_rest_of_the_day_but_not_exits(
    paper_model: Path, intraday_csv: Path, thresholds: dict[str, float], journal_dir: Path
) -> None:
    start, limit = "2021-03-06", 0.002
    journal = journal_dir / "loss.sqlite"
    _run(
        paper_model,
        [f"replay:{intraday_csv}?start={start}"],
        journal,
        {**thresholds, "allow_short": True},
        daily_loss_limit=limit,
    )
    snapshots = pd.Series({pd.Timestamp(e.time): e.payload.value for e in journal_events(journal, "snapshot")})
    closes = snapshots.groupby(snapshots.index.normalize()).last()
    lows = snapshots.groupby(snapshots.index.normalize()).cummin()  # the day's lowest equity up to each bar

    def loss(at: str) -> float:
        when = pd.Timestamp(at)
        before = closes.loc[: when.normalize() - pd.Timedelta(days=1)]
        first = before.iloc[-1] if len(before) else 10_000.0
        return 1 - lows.loc[when] / first if when in lows.index else 0.0

    risks = journal_events(journal, "risk")
    assert len(risks) >= 2 and {e.payload.limit for e in risks} == {"daily_loss_limit"}
    for risk in risks:  # every halt is a day already down by the limit
        assert risk.payload.value == pytest.approx(loss(risk.time)) and risk.payload.value >= limit
    decisions = [vars(e.payload) | {"time": e.time} for e in journal_events(journal, "decision")]
    entries = [d for d in decisions if _opens(d)]
    assert entries and all(loss(d["time"]) < limit for d in entries)
    halted_days = {pd.Timestamp(e.time).normalize() for e in risks}
    assert any(not _opens(d) and pd.Timestamp(d["time"]).normalize() in halted_days for d in decisions), (
        "an exit on a halted day"
    )


def test_max_gross_across_two_accounts_cuts_entries_the_same_way_every_run(
    paper_model: Path, replay_bars: pd.DataFrame, start: str, thresholds: dict[str, float], journal_dir: Path
) -> None:
    feeds = _two_feeds(replay_bars, start, journal_dir)
    strategy = {**thresholds, "stake": 0.8}
    journals = [journal_dir / f"gross{i}.sqlite" for i in range(2)]
    for journal in journals:
        _run(paper_model, feeds, journal, strategy, max_gross=0.5)
    assert _derived(journals[0]) == _derived(journals[1])  # whatever the threads did
    risks = journal_events(journals[0], "risk")
    assert len(risks) >= 3 and {e.payload.limit for e in risks} == {"max_gross"}
    snapshots = journal_events(journals[0], "snapshot")
    for risk in risks:  # gross after the cut entry (0.8 of each account), at the deciding close, from the journal
        when = risk.time
        other = [e for e in snapshots if e.symbol != risk.symbol and e.time < when]
        own = next(e for e in journal_events(journals[0], "order") if e.time == when and e.symbol == risk.symbol)
        own_equity = next(e for e in snapshots if e.symbol == risk.symbol and e.time == when).payload.value
        other_value, other_cash = (other[-1].payload.value, other[-1].payload.cash) if other else (10_000.0,) * 2
        held = risk.payload.units * own.payload.close
        assert (
            risk.payload.value > 0.5
            and (abs(other_value - other_cash) + held) / (other_value + own_equity) <= 0.5 + 1e-9
        )


def test_the_paper_command_takes_the_risk_flags(
    paper_model: Path, replay_csv: Path, start: str, thresholds: dict[str, float], journal_dir: Path
) -> None:
    journal = journal_dir / "flags.sqlite"
    assert (
        main(
            [
                "paper",
                "run",
                "--model",
                str(paper_model),
                "--feed",
                f"replay:{replay_csv}?start={start}",
                "--journal",
                str(journal),
                "--buy-threshold",
                str(thresholds["buy_threshold"]),
                "--sell-threshold",
                str(thresholds["sell_threshold"]),
                "--max-position",
                "0.25",
                "--max-gross",
                "2",
                "--daily-loss-limit",
                "0.05",
            ]
        )
        == 0
    )
    with Journal(journal, readonly=True) as read:
        assert read.config().risk == {"max_position": 0.25, "max_gross": 2.0, "daily_loss_limit": 0.05}
    assert {e.payload.limit for e in journal_events(journal, "risk")} == {"max_position"}
    assert (
        main(
            [
                "paper",
                "run",
                "--model",
                str(paper_model),
                "--feed",
                f"replay:{replay_csv}",
                "--journal",
                str(journal_dir / "bad.sqlite"),
                "--max-gross",
                "0",
            ]
        )
        == 1
    )


def test_a_limited_run_killed_after_a_breach_resumes_to_the_same_decisions(
    paper_model: Path, replay_bars: pd.DataFrame, start: str, thresholds: dict[str, float], journal_dir: Path
) -> None:
    a, b = _two_feeds(replay_bars, start, journal_dir)
    args = [
        "--model",
        str(paper_model),
        "--feed",
        a,
        "--feed",
        b,
        "--buy-threshold",
        str(thresholds["buy_threshold"]),
        "--sell-threshold",
        str(thresholds["sell_threshold"]),
        "--allow-short",
        "--stake",
        "0.8",
        "--max-gross",
        "0.5",
        "--daily-loss-limit",
        "0.001",
    ]
    reference = journal_dir / "reference.sqlite"
    assert main(["paper", "run", *args, "--journal", str(reference)]) == 0
    expected = _derived(reference)
    risks = journal_events(reference, "risk")
    assert {e.payload.limit for e in risks} == {"max_gross", "daily_loss_limit"}
    kills = {
        "after journaling a breach, before acting on it": risks[len(risks) // 2].seq,
        "at a random event": random.Random(7).choice(journal_events(reference, "snapshot")).seq + 1,
    }
    for number, kill in enumerate(kills.values()):
        journal = journal_dir / f"killed{number}.sqlite"
        killed = signalstack(
            ["paper", "run", *args, "--journal", str(journal)], env={KILL_AFTER_ENV: str(kill)}, check=False
        )
        assert killed.returncode == -signal.SIGKILL
        signalstack(["paper", "resume", "--journal", str(journal)])
        assert _derived(journal) == expected, list(kills)[number]
