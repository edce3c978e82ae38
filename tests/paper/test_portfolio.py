"""`paper run --top-k`: several feeds ranked in one account, exactly as `backtest --top-k` over the same bars, on
stocks whose trading days differ; killed at random points and resumed to the uninterrupted run; late bars."""

from __future__ import annotations

import json
import random
import signal
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from signalstack.cli import main
from signalstack.core.errors import SettingsError
from signalstack.paper.config import PaperConfig, RankingSettings, RiskLimits
from signalstack.paper.journal import Event
from signalstack.paper.runner import PaperResult, run_paper
from signalstack.paper.status import read_status
from signalstack.plugin.ranking import RankingResult, run_ranking
from signalstack.plugin.settings import TradingSettings
from signalstack.plugin.sources import OnnxSource

from ..calendars import GONE, LATE, SUSPENDED, shared_universe, walk_universe
from ..support import walk_bars
from .support import journal_events, same_ids, wait_for
from .test_crash import _crash_and_resume

COSTS = {"cash": 100_000.0, "commission": 0.001, "slippage": 0.0005, "stake": 0.9}

DERIVED = ("bar", "signal", "decision", "order", "accepted", "fill", "cancel", "trade", "portfolio")
"""What a portfolio run derives from its bars (config, resume and stop events are a session's bookkeeping)."""


def _files(universe: dict[str, pd.DataFrame], folder: Path) -> dict[str, Path]:
    paths = {}
    for symbol, bars in universe.items():
        paths[symbol] = folder / f"{symbol}.csv"
        bars.to_csv(paths[symbol])
    return paths


def _feeds(
    paths: dict[str, Path], start: pd.Timestamp | None, kind: str = "replay", option: str = "pace=0"
) -> list[str]:
    begin = "" if start is None else f"&start={start.date().isoformat()}"
    return [f"{symbol}={kind}:{path}?{option}{begin}" for symbol, path in paths.items()]


def _assert_same(paper: PaperResult, backtest: RankingResult) -> None:
    pd.testing.assert_frame_equal(paper.fills.drop(columns="order_id"), backtest.fills, check_exact=True)
    pd.testing.assert_frame_equal(paper.trades, backtest.trades, check_exact=True)
    equity = paper.equity.set_index("time")["value"].rename("strategy")
    pd.testing.assert_series_equal(
        equity,
        backtest.equity["strategy"],
        check_exact=True,
        check_names=False,
        check_index_type=False,
        check_freq=False,
    )
    assert paper.status.equity == backtest.equity["strategy"].iloc[-1]
    held = backtest.fills.groupby("symbol")["size"].sum()
    assert {s: p for s, p in paper.status.as_dict()["positions"].items() if p} == {s: v for s, v in held.items() if v}


@pytest.mark.parametrize("calendars", ["random walks", "oracle yahoo nvidia"])
def test_a_top_k_replay_of_three_stocks_fills_as_the_ranking_backtest(
    paper_model: Path, journal_dir: Path, tmp_path: Path, calendars: str
) -> None:
    """One suspended for months (the first given), one listed late, one delisted early: the replay decides on
    every time some symbol trades and skips the others, as `run_ranking` does, fill for fill."""
    universe = (
        walk_universe(days=260)
        if calendars == "random walks"
        else {symbol: bars.loc["2010-06":"2012-06"] for symbol, bars in shared_universe().items()}
    )
    start = universe[SUSPENDED].index[30]
    paper = run_paper(
        PaperConfig(
            model=paper_model,
            feeds=_feeds(_files(universe, tmp_path), start),
            trading=TradingSettings(**COSTS),
            ranking=RankingSettings(top_k=1, rebalance=3),
        ),
        journal_dir / "run.sqlite",
    )
    backtest = run_ranking(OnnxSource(paper_model), universe, top_k=1, rebalance=3, start=start, **COSTS)
    assert paper.stopped == "feeds ended" and len(backtest.fills) >= 20
    assert set(backtest.fills["symbol"]) == {SUSPENDED, LATE, GONE}
    _assert_same(paper, backtest)
    ranked = {
        pd.Timestamp(e.time): set(e.payload.ranked) for e in journal_events(journal_dir / "run.sqlite", "portfolio")
    }
    for symbol, bars in universe.items():  # each step ranked exactly the symbols with a bar then
        assert {time for time, symbols in ranked.items() if symbol in symbols} == set(bars.index[bars.index >= start])


def test_the_paper_command_with_top_k_fills_as_the_backtest_command(
    paper_model: Path, journal_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`paper run --top-k` fills as `backtest --top-k`; `paper status` shows the one account and `paper report`
    writes what `backtest --top-k --out` writes, equal to it, and a comparison that finds no difference."""
    universe = walk_universe(days=200, seed=11)
    paths = _files(universe, tmp_path)
    start = universe[SUSPENDED].index[25]
    flags = ["--top-k", "2", "--rebalance", "4", "--stake", "0.8", "--commission", "0.0015", "--slippage", "0.0002"]
    journal = journal_dir / "cli.sqlite"
    assert (
        main(
            [
                "paper",
                "run",
                "--model",
                str(paper_model),
                *[x for feed in _feeds(paths, start) for x in ("--feed", feed)],
                "--journal",
                str(journal),
                *flags,
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "backtest",
                "--model",
                str(paper_model),
                *[x for s, p in paths.items() for x in ("--data", f"{s}={p}")],
                "--start",
                start.date().isoformat(),
                "--out",
                str(tmp_path / "report"),
                *flags,
            ]
        )
        == 0
    )
    fills = pd.read_csv(tmp_path / "report" / "fills.csv", parse_dates=["time"])
    journaled = pd.DataFrame(
        [
            {"symbol": e.symbol, "time": pd.Timestamp(e.time), "size": e.payload.size, "price": e.payload.price}
            for e in journal_events(journal, "fill")
        ]
    )
    assert len(fills) >= 20
    pd.testing.assert_frame_equal(journaled, fills[["symbol", "time", "size", "price"]], check_dtype=False)

    capsys.readouterr()
    assert main(["paper", "status", "--journal", str(journal), "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    backtest_equity = pd.read_csv(tmp_path / "report" / "equity.csv")["strategy"]
    account = status["accounts"]["portfolio"]
    assert list(status["accounts"]) == ["portfolio"] and account["cash"] == status["cash"]
    assert account["equity"] == backtest_equity.iloc[-1]
    assert account["return_since_start"] == pytest.approx(account["equity"] / backtest_equity.iloc[0] - 1)
    held = fills.groupby("symbol")["size"].sum()
    assert {s: n for s, n in status["positions"].items() if n} == {s: float(n) for s, n in held.items() if n}
    assert main(["paper", "report", "--journal", str(journal), "--out", str(tmp_path / "paper")]) == 0
    assert "portfolio: fills" in capsys.readouterr().out
    comparison = json.loads((tmp_path / "paper" / "comparison.json").read_text())
    assert comparison["same"] and comparison["symbols"]["portfolio"]["fills"] == {
        "live": len(fills),
        "backtest": len(fills),
    }
    for name in ("fills.csv", "equity.csv"):  # the run's own report is the backtest's, to the digit
        assert (tmp_path / "paper" / name).read_text() == (tmp_path / "report" / name).read_text(), name
    trades = [pd.read_csv(tmp_path / folder / "trades.csv") for folder in ("paper", "report")]
    pd.testing.assert_frame_equal(*(t.dropna(subset=["exit_time"]) for t in trades), check_exact=True)
    # A trade still open is the same trade; the backtest shows its price and commission as Backtrader last
    # notified them (when it opened), the run as they stand after a rebalance resized it.
    pd.testing.assert_frame_equal(*(t.loc[t["exit_time"].isna(), ["symbol", "entry_time", "size"]] for t in trades))
    stats = [json.loads((tmp_path / folder / "stats.json").read_text()) for folder in ("paper", "report")]
    assert stats[0]["strategy"] == stats[1]["strategy"] and stats[0]["params"]["run_id"] == status["run_id"]


def _derived(events: list[Event]) -> dict[str, dict[str, object]]:
    state: dict[str, dict[str, object]] = {kind: {} for kind in DERIVED}
    for event in events:
        if event.kind in DERIVED:
            state[event.kind][event.key] = event.payload
    return state


def test_a_top_k_run_killed_five_times_at_random_points_resumes_to_the_uninterrupted_journal(
    paper_model: Path, journal_dir: Path, tmp_path: Path
) -> None:
    universe = {
        symbol: bars.iloc[[i % 9 != 4 + n for i in range(len(bars))]]  # a day off every 9: cancellations
        for n, (symbol, bars) in enumerate(walk_universe(days=160, seed=21).items())
    }
    start = universe[SUSPENDED].index[25]
    args = [
        "--model",
        str(paper_model),
        *[x for feed in _feeds(_files(universe, tmp_path), start) for x in ("--feed", feed)],
        "--top-k",
        "1",
        "--rebalance",
        "1",
        "--stake",
        "0.9",
    ]
    reference = journal_dir / "reference.sqlite"
    assert main(["paper", "run", *args, "--journal", str(reference)]) == 0
    events = journal_events(reference)
    expected = _derived(same_ids(events))
    assert len(expected["fill"]) >= 20 and len(expected["cancel"]) >= 1 and len(expected["trade"]) >= 5
    live = [e.seq for e in events if e.kind == "portfolio"]
    rng = random.Random(18)
    kills = tuple(sorted(rng.sample(range(live[0], live[-1] - 30), 5)))
    kills = tuple(kill + 12 * number for number, kill in enumerate(kills))  # each session gets some way
    crashed = journal_dir / "crashed.sqlite"
    assert _crash_and_resume(args, crashed, kills) == [-signal.SIGKILL] * 5 + [0], kills
    got = _derived(same_ids(journal_events(crashed)))
    for kind in DERIVED:
        assert got[kind] == expected[kind], kind
    assert read_status(crashed).as_dict()["equity"] == read_status(reference).as_dict()["equity"]


def _append(path: Path, bars: pd.DataFrame) -> None:
    with path.open("a") as file:
        bars.to_csv(file, header=False)


def test_a_late_bar_is_waited_for_up_to_the_bound_then_its_time_is_decided_without_it(
    paper_model: Path, journal_dir: Path, tmp_path: Path
) -> None:
    """Tail feeds: a bar 0.1 s behind the others' joins their round; one 1.5 s behind (bar-wait 0.5 s) does not,
    is journaled as a bar but decides nothing, and its symbol is ranked again from its next bar on time."""
    index = pd.bdate_range("2021-01-04", periods=40)
    universe = {symbol: walk_bars(index, seed) for seed, symbol in enumerate((SUSPENDED, LATE, GONE))}  # all days
    paths = {symbol: tmp_path / f"{symbol}.csv" for symbol in universe}
    for symbol, bars in universe.items():
        bars.iloc[:20].to_csv(paths[symbol])  # history: the model's warm-up
    start = index[20]
    journal = journal_dir / "late.sqlite"
    config = PaperConfig(
        model=paper_model,
        feeds=_feeds(paths, start, kind="tail", option="idle=3"),
        trading=TradingSettings(**COSTS),
        ranking=RankingSettings(top_k=1, rebalance=1, bar_wait=0.5),
    )
    result: list[PaperResult] = []
    runner = threading.Thread(target=lambda: result.append(run_paper(config, journal)))
    runner.start()
    delays = {24: 0.1, 28: 1.5}  # the last symbol's bar that many seconds after the others'
    for day in range(20, 34):
        for symbol in (SUSPENDED, LATE):
            _append(paths[symbol], universe[symbol].iloc[day : day + 1])
        time.sleep(delays.get(day, 0.0))
        _append(paths[GONE], universe[GONE].iloc[day : day + 1])
        wait_for(
            lambda day=day: (
                journal.exists() and any(e.time == index[day].isoformat() for e in journal_events(journal, "portfolio"))
            ),
            f"step {index[day]}",
        )
    runner.join(timeout=60)
    assert result and result[0].stopped == "feeds ended"
    ranked = {pd.Timestamp(e.time): e.payload.ranked for e in journal_events(journal, "portfolio")}
    assert list(ranked) == list(index[20:34])  # one step a time, none twice
    assert ranked[index[24]] == (SUSPENDED, LATE, GONE)  # 0.1 s late: waited for
    assert ranked[index[28]] == (SUSPENDED, LATE)  # 1.5 s late: decided without it
    assert all(ranked[time] == (SUSPENDED, LATE, GONE) for time in index[20:34] if time != index[28])
    late = [e for e in journal_events(journal, "bar", "signal") if e.symbol == GONE and e.time == index[28].isoformat()]
    assert [e.kind for e in late] == ["bar"]  # journaled as its bar, never scored for a decision


def test_a_top_k_run_is_checked_before_it_starts(paper_model: Path, journal_dir: Path, tmp_path: Path) -> None:
    paths = _files(walk_universe(days=60), tmp_path)
    feeds = _feeds(paths, None)

    def run(ranking: RankingSettings, **config: object) -> None:
        run_paper(
            PaperConfig(model=paper_model, feeds=config.pop("feeds", feeds), ranking=ranking, **config),
            journal_dir / "refused.sqlite",
        )

    with pytest.raises(SettingsError, match=r"--rebalance 3: applies to a ranking run \(give --top-k\)"):
        run(RankingSettings(rebalance=3))
    with pytest.raises(SettingsError, match=r"--top-k 4 over 3 feed\(s\): expected at least 2 feeds"):
        run(RankingSettings(top_k=4))
    with pytest.raises(SettingsError, match=r"--top-k 1 over 1 feed\(s\)"):
        run(RankingSettings(top_k=1), feeds=feeds[:1])
    with pytest.raises(SettingsError, match="expected the same start= on every feed"):
        run(RankingSettings(top_k=1), feeds=[feeds[0] + "&start=2020-03-02", *feeds[1:]])
    with pytest.raises(SettingsError, match="risk limits .* expected none with --top-k"):
        run(RankingSettings(top_k=1), risk=RiskLimits(max_gross=1.0))
    assert not (journal_dir / "refused.sqlite").exists()
