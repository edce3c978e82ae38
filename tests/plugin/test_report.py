"""A real backtest of the tiny model on the S&P 500 writes a readable report."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from signalstack.plugin import BacktestResult, OnnxSource, format_report, run_backtest, write_report
from signalstack.plugin.strategies import TRADE_COLUMNS


@pytest.fixture(scope="module")
def result(onnx_source: OnnxSource, sp500: pd.DataFrame) -> BacktestResult:
    return run_backtest(onnx_source, sp500)


def test_default_backtest_is_out_of_sample(result: BacktestResult, onnx_source: OnnxSource) -> None:
    test_start = pd.Timestamp(onnx_source.card.test_range[0])
    assert result.equity.index[0] == test_start and result.params["out_of_sample"]
    assert result.fills["time"].min() > test_start  # the first decision fills the bar after
    assert result.probabilities.index[0] == test_start and result.equity.notna().all().all()


def test_report_files_are_written(result: BacktestResult, tmp_path: Path) -> None:
    paths = write_report(result, tmp_path / "report")
    names = [path.name for path in paths]
    assert names == [
        "report.html",
        "equity.png",
        "drawdown.png",
        "price.png",
        "calibration.png",
        "trades.csv",
        "stats.json",
        "config.json",
    ]
    for png in paths[1:5]:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    table = pd.read_csv(paths[5], parse_dates=["entry_time", "exit_time"])
    assert list(table.columns) == list(TRADE_COLUMNS) and len(table) == len(result.trades)
    doc = json.loads(paths[6].read_text())
    assert doc["strategy"]["total_return"] == pytest.approx(result.stats["total_return"])
    assert (
        doc["strategy"]["periods_per_year"]
        == doc["buy_and_hold"]["periods_per_year"]
        == pytest.approx(result.stats["periods_per_year"])
    )
    assert doc["buy_and_hold"]["trades"] is None and doc["params"]["start"] == result.params["start"]
    assert doc["signal_quality"]["hit_rate"] == pytest.approx(result.quality["hit_rate"])
    assert json.loads(paths[7].read_text())["buy_threshold"] == result.params["buy_threshold"]
    page = paths[0].read_text()
    assert page.count("data:image/png;base64,") == 4 and "Monthly returns" in page
    assert f"{result.stats['sharpe']:.2f}" in page
    assert f">{result.stats['periods_per_year']:,.1f}</td>" in page and "bars per year" in page


def test_format_report_puts_buy_and_hold_beside_the_strategy(result: BacktestResult) -> None:
    text = format_report(result)
    for row in (
        "total return",
        "CAGR",
        "Sharpe",
        "Sortino",
        "max drawdown",
        "turnover",
        "trades",
        "win rate",
        "signal hit rate",
        "Brier score",
        "IC (Spearman)",
    ):
        assert row in text
    total = next(line for line in text.splitlines() if line.startswith("total return")).split()
    assert total[-2:] == [f"{result.stats['total_return']:.2%}", f"{result.benchmark['total_return']:.2%}"]
    assert f"{result.benchmark['sharpe']:.2f}" in text and "out of sample" in text


def test_report_shows_the_bars_per_year_inferred_from_the_dates(result: BacktestResult) -> None:
    """Daily S&P 500 bars: about 252 a year from their own dates, the factor that annualised Sharpe."""
    assert result.params["periods_per_year"] is None  # not given: inferred
    assert 245 < result.stats["periods_per_year"] < 256
    row = next(line for line in format_report(result).splitlines() if line.startswith("bars per year")).split()
    assert row[-2:] == [f"{result.stats['periods_per_year']:,.1f}"] * 2
