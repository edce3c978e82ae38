"""`paper report`: a run's report folder from its journal alone, compared with a backtest of the same bars."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from signalstack.cli import main
from signalstack.paper.report import paper_results, write_paper_report
from signalstack.paper.risk import RiskLimits
from signalstack.paper.runner import PaperConfig, run_paper
from signalstack.plugin.settings import TradingSettings

REPORT_FILES = {"report.html", "equity.png", "drawdown.png", "price.png", "calibration.png", "trades.csv",
                "stats.json", "config.json", "comparison.json"}


def test_a_replay_at_pace_0_reports_what_the_backtest_reports_with_no_difference(
        paper_model: Path, replay_csv: Path, start: str, thresholds: dict[str, float], journal_dir: Path,
        tmp_path: Path) -> None:
    journal = journal_dir / "run.sqlite"
    strategy = {**thresholds, "allow_short": True, "stake": 0.9}
    run = run_paper(PaperConfig(model=paper_model, feeds=[f"replay:{replay_csv}?pace=0&start={start}"],
                                trading=TradingSettings(**strategy, commission=0.002, slippage=0.001)), journal)
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
        paper_model: Path, replay_bars: pd.DataFrame, start: str, thresholds: dict[str, float], journal_dir: Path,
        tmp_path: Path) -> None:
    first, second = journal_dir / "a.csv", journal_dir / "b.csv"
    replay_bars.to_csv(first)
    replay_bars.iloc[25:].to_csv(second)
    journal = journal_dir / "limited.sqlite"
    run_paper(PaperConfig(model=paper_model, feeds=[f"A=replay:{first}?start={start}", f"B=replay:{second}"],
                          trading=TradingSettings(**thresholds, stake=0.9), risk=RiskLimits(max_position=0.4)), journal)
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


def test_report_of_a_journal_without_a_finished_bar_says_so(journal_dir: Path, paper_model: Path,
                                                            replay_csv: Path) -> None:
    from signalstack.paper.events import RunConfig, RunFeed
    from signalstack.paper.journal import Journal

    journal = journal_dir / "empty.sqlite"
    with Journal(journal) as write:
        write.append(RunConfig("r1", str(paper_model), "quick", 1, (RunFeed(str(replay_csv), "spx", 0.0),), 1e4, 0.0,
                               0.0, {}, {}, "0"), "config")
    with pytest.raises(ValueError, match="no symbol has a finished live bar"):
        paper_results(journal)
