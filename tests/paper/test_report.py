"""`paper report`: a run's report folder from its journal alone, compared with a backtest of the same bars."""

from __future__ import annotations

import html
import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from signalstack.cli import main
from signalstack.paper.kill_switch import request_stop
from signalstack.paper.report import paper_results, write_paper_report
from signalstack.paper.risk import RiskLimits
from signalstack.paper.runner import PaperConfig, resume_paper, run_paper
from signalstack.plugin.settings import TradingSettings
from signalstack.server.app import SignalServer
from signalstack.server.options import ServeOptions

from ..server.support import install
from ..support import free_port
from .browser import ARTIFACTS, Browser, chromium
from .support import START_BAR, journal_count, journal_events, wait_for


def _in_thread(target: Callable[[], Any]) -> Callable[[], Any]:
    """Start `target` in a thread; the returned function waits for it (at most 120 s) and gives its result."""
    out: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: out.update(result=target()), daemon=True)
    thread.start()

    def join() -> Any:
        thread.join(120)
        assert "result" in out, "the run failed or did not end within 120 s"
        return out["result"]

    return join


REPORT_FILES = {
    "report.html",
    "equity.png",
    "drawdown.png",
    "price.png",
    "calibration.png",
    "trades.csv",
    "stats.json",
    "config.json",
    "comparison.json",
}


def test_a_replay_at_pace_0_reports_what_the_backtest_reports_with_no_difference(
    paper_model: Path, replay_csv: Path, start: str, thresholds: dict[str, float], journal_dir: Path, tmp_path: Path
) -> None:
    journal = journal_dir / "run.sqlite"
    strategy = {**thresholds, "allow_short": True, "stake": 0.9}
    run = run_paper(
        PaperConfig(
            model=paper_model,
            feeds=[f"replay:{replay_csv}?pace=0&start={start}"],
            trading=TradingSettings(**strategy, commission=0.002, slippage=0.001),
        ),
        journal,
    )
    assert main(["paper", "report", "--journal", str(journal), "--out", str(tmp_path / "report")]) == 0
    out = tmp_path / "report"
    assert {p.name for p in out.iterdir()} == REPORT_FILES
    comparison = json.loads((out / "comparison.json").read_text())
    spx = comparison["symbols"]["spx"]
    assert comparison["same"] and spx["first_divergence"] is None and spx["max_abs_equity_difference"] == 0.0
    assert spx["fills"]["live"] == spx["fills"]["backtest"] == len(run.fills) >= 10
    assert spx["trades"]["live"] == spx["trades"]["backtest"] >= 5 and spx["risk_events"] == 0
    assert spx["total_return"]["live"] == spx["total_return"]["backtest"]
    page = (out / "report.html").read_text()
    assert "against its backtest" in page and "the run traded as its backtest" in page

    report = paper_results(journal)
    live, backtest = report.live["spx"], report.backtest["spx"]
    pd.testing.assert_frame_equal(live.trades, backtest.trades, check_exact=False, rtol=1e-12)
    pd.testing.assert_frame_equal(live.trades, run.trades, check_exact=False, rtol=1e-12)
    pd.testing.assert_series_equal(live.stats, backtest.stats, check_exact=False, rtol=1e-12)
    pd.testing.assert_frame_equal(live.equity, backtest.equity, check_freq=False, check_index_type=False)
    stats = json.loads((out / "stats.json").read_text())
    assert stats["strategy"]["trades"] == backtest.stats["trades"]
    assert stats["params"]["run_id"] == run.status.run.run_id
    trades = pd.read_csv(out / "trades.csv", parse_dates=["entry_time", "exit_time"])
    assert len(trades) == len(backtest.trades)


def test_a_limited_run_reports_where_it_parted_from_the_backtest_for_each_symbol(
    paper_model: Path,
    replay_bars: pd.DataFrame,
    start: str,
    thresholds: dict[str, float],
    journal_dir: Path,
    tmp_path: Path,
) -> None:
    first, second = journal_dir / "a.csv", journal_dir / "b.csv"
    replay_bars.to_csv(first)
    replay_bars.iloc[25:].to_csv(second)
    journal = journal_dir / "limited.sqlite"
    run_paper(
        PaperConfig(
            model=paper_model,
            feeds=[f"A=replay:{first}?start={start}", f"B=replay:{second}"],
            trading=TradingSettings(**thresholds, stake=0.9),
            risk=RiskLimits(max_position=0.4),
        ),
        journal,
    )
    paths = write_paper_report(journal, tmp_path / "limited")
    assert paths[0].name == "index.html" and {"A", "B"} <= {p.parent.name for p in paths}
    comparison = json.loads((tmp_path / "limited" / "comparison.json").read_text())
    assert not comparison["same"]
    for symbol in ("A", "B"):
        c = comparison["symbols"][symbol]
        divergence = c["first_divergence"]
        assert c["risk_events"] > 0 and c["max_abs_equity_difference"] > 0
        assert divergence["what"] == "fill" and divergence["number"] == 1  # the first entry was cut
        assert abs(divergence["live"]["size"]) < abs(divergence["backtest"]["size"])
    assert "the run and its backtest differ" in (tmp_path / "limited" / "index.html").read_text()


def test_report_of_a_journal_without_a_finished_bar_says_so(
    journal_dir: Path, paper_model: Path, replay_csv: Path
) -> None:
    from signalstack.paper.events import RunConfig, RunFeed
    from signalstack.paper.journal import Journal

    journal = journal_dir / "empty.sqlite"
    with Journal(journal) as write:
        write.append(
            RunConfig(
                "r1", str(paper_model), "quick", 1, (RunFeed(str(replay_csv), "spx", 0.0),), 1e4, 0.0, 0.0, {}, {}, "0"
            ),
            "config",
        )
    with pytest.raises(ValueError, match="no symbol has a finished live bar"):
        paper_results(journal)


def test_report_of_a_run_too_short_to_warm_up_works_without_a_signal(
    paper_model: Path, replay_bars: pd.DataFrame, journal_dir: Path, tmp_path: Path
) -> None:
    """Issue 18, defect 4: a run that never had the history its model needs made no signal, and its report
    failed with a KeyError in the chart code; now it is written, with no fill on either side."""
    cold = journal_dir / "cold.csv"
    replay_bars.iloc[:12].to_csv(cold)  # fewer bars than the window and the features' warm-up together
    journal, start = journal_dir / "cold.sqlite", replay_bars.index[2].date().isoformat()
    run = run_paper(
        PaperConfig(model=paper_model, feeds=[f"replay:{cold}?pace=0&start={start}"], allow_cold_start=True), journal
    )
    assert journal_count(journal, "signal") == 0 and run.fills.empty
    assert main(["paper", "report", "--journal", str(journal), "--out", str(tmp_path / "cold")]) == 0
    assert {p.name for p in (tmp_path / "cold").iterdir()} == REPORT_FILES
    compared = json.loads((tmp_path / "cold" / "comparison.json").read_text())["symbols"]["cold"]  # the file's name
    assert compared["fills"] == {"live": 0, "backtest": 0}


def test_a_served_run_with_an_outage_rejected_rows_and_a_resume_shows_them_and_where_it_parted(
    paper_model: Path,
    replay_bars: pd.DataFrame,
    start: str,
    thresholds: dict[str, float],
    journal_dir: Path,
    tmp_path: Path,
) -> None:
    csv = journal_dir / "spx.csv"
    bad = replay_bars.copy()
    bad.iloc[START_BAR + 120, bad.columns.get_loc("high")] = bad["low"].iloc[START_BAR + 120] * 0.5  # high < low
    bad.iloc[START_BAR + 121, bad.columns.get_loc("close")] = -1.0  # a negative price
    bad.to_csv(csv)
    install(paper_model, tmp_path / "models", "quick", 1)
    port, journal = free_port(), journal_dir / "troubled.sqlite"
    config = PaperConfig(
        model="quick",
        server=f"127.0.0.1:{port}",
        signal_timeout=5,
        feeds=[f"SPX=replay:{csv}?pace=0.03&start={start}"],
        trading=TradingSettings(**thresholds, allow_short=True, stake=0.9),
    )
    server = SignalServer(ServeOptions(tmp_path / "models", port=port, grace=0)).start()
    try:
        session = _in_thread(lambda: run_paper(config, journal))
        wait_for(lambda: journal_count(journal, "snapshot") >= 20, "20 live bars")
        server.stop(0)  # the signals' server goes away mid-run: the bars go on, without signals
        wait_for(lambda: journal_count(journal, "gap") >= 5, "stale-signal gaps while the server is gone")
        server = SignalServer(ServeOptions(tmp_path / "models", port=port, grace=0)).start()
        wait_for(lambda: journal_count(journal, "signal") > 20 + 5, "signals again")
        request_stop(journal)
        assert session().stopped == "kill switch"
        resumed = resume_paper(journal)
    finally:
        server.stop(0)
    assert resumed.stopped == "feeds ended"
    gaps = journal_events(journal, "gap")
    rejected = journal_events(journal, "rejected")
    assert len(gaps) >= 5 and len(rejected) == 2

    out = tmp_path / "report"
    write_paper_report(journal, out)
    comparison = json.loads((out / "comparison.json").read_text())
    spx = comparison["symbols"]["SPX"]
    assert not comparison["same"] and spx["stale_gaps"] == len(gaps) and spx["rejected_bars"] == 2
    first = spx["first_divergence"]
    assert (first["what"], first["time"]) == ("stale-signal gap", gaps[0].time)  # the outage came first
    assert (
        f"no signal on {next(o.bars for o in paper_results(journal).timeline.outages)} live bars from {gaps[0].time}"
        in first["cause"]
        and "unavailable" in first["cause"]
    )

    report = paper_results(journal)
    live = report.live["SPX"]
    p_up = live.probabilities["up"]
    assert {t.isoformat() for t in p_up.index[p_up.isna()]} == {e.time for e in gaps}  # no line across a gap
    assert [(s.resumed, s.ended) for s in report.timeline.sessions] == [(False, "kill switch"), (True, "feeds ended")]
    assert not set(live.params) & {"out_of_sample", "preload"}

    page = (out / "report.html").read_text()
    assert "<h1>Paper run: SPX</h1>" in page and '<p class="meta">backtest of' not in page
    assert "out_of_sample" not in page and "preload" not in page
    assert f"paper run {report.run.run_id} of SPX: model quick v1 served by 127.0.0.1:{port}" in page
    assert "the run and its backtest differ: SPX first at " in page and "the run traded as its backtest" not in page
    for e in rejected:
        assert f'rejected bar (row {e.payload.row})</td><td class="">{html.escape(e.payload.reason)}' in page
    assert "no signal (stale-signal gap)" in page and ">resume</td>" in page and ">kill switch</td>" in page
    assert "<h2>Model versions</h2>" in page and "<h2>Risk events</h2>" in page

    if chromium() is None:
        pytest.skip("headless Chromium is not installed (apt-get install -y chromium): the page is not rendered")
    with Browser(tmp_path / "profile", height=1200) as browser:
        browser.open((out / "report.html").as_uri())
        assert browser.evaluate("document.querySelectorAll('img').length") == 4
        assert browser.evaluate("[...document.images].every(i => i.complete && i.naturalWidth > 500)")
        assert browser.evaluate("[...document.querySelectorAll('h2')].map(h => h.textContent)")[-5:] == [
            "Sessions",
            "Bars without a signal and rejected bars",
            "Risk events",
            "Model versions",
            f"Paper run {report.run.run_id} against its backtest",
        ]
        shot = browser.screenshot(ARTIFACTS / "report.png")
        assert not browser.console and all(url.startswith(("file:", "data:")) for url in browser.requests)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 100_000
