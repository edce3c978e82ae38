"""A paper run on a replayed file trades exactly as a backtest of that file from the same start."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from signalstack.cli import main
from signalstack.core.bars import load_bars
from signalstack.core.times import unix_seconds_array
from signalstack.paper.journal import Journal
from signalstack.paper.runner import PaperConfig, run_paper
from signalstack.paper.status import fills_frame
from signalstack.plugin.backtest import run_backtest
from signalstack.plugin.settings import TradingSettings
from signalstack.plugin.sources import OnnxSource


@pytest.mark.parametrize("allow_short", [False, True], ids=["long-only", "long-short"])
def test_paper_run_fills_trades_and_equity_equal_the_backtest(
    paper_model: Path, replay_csv: Path, start: str, thresholds: dict[str, float], journal_dir: Path, allow_short: bool
) -> None:
    strategy = {**thresholds, "allow_short": allow_short, "stake": 0.9}
    costs = {"cash": 50_000.0, "commission": 0.002, "slippage": 0.001}
    paper = run_paper(
        PaperConfig(
            model=paper_model,
            feeds=[f"replay:{replay_csv}?pace=0&start={start}"],
            trading=TradingSettings(**strategy, **costs),
        ),
        journal_dir / "run.sqlite",
    )
    backtest = run_backtest(
        OnnxSource(paper_model), load_bars(replay_csv), start=start, symbol=replay_csv.stem, **strategy, **costs
    )
    assert len(backtest.fills) >= 10 and paper.stopped == "feeds ended"
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
    assert paper.status.counts["order"] == paper.status.counts["fill"] == len(backtest.fills)


@pytest.mark.parametrize("form", ["epoch-seconds csv", "parquet"])
def test_a_file_of_epoch_times_or_parquet_trades_in_paper_as_in_the_backtest(
    paper_model: Path,
    replay_bars: pd.DataFrame,
    start: str,
    thresholds: dict[str, float],
    journal_dir: Path,
    tmp_path: Path,
    form: str,
) -> None:
    """The file both read as `load_bars` reads it: every bar of the paper run's feed is traded, none rejected."""
    if form == "parquet":
        path = tmp_path / "spx.parquet"
        replay_bars.rename_axis("Date").reset_index().to_parquet(path)
    else:
        path = tmp_path / "spx.csv"
        replay_bars.set_axis(unix_seconds_array(replay_bars.index), axis=0).rename_axis("timestamp").to_csv(path)
    strategy = {**thresholds, "allow_short": True}
    paper = run_paper(
        PaperConfig(
            model=paper_model, feeds=[f"replay:{path}?pace=0&start={start}"], trading=TradingSettings(**strategy)
        ),
        journal_dir / "run.sqlite",
    )
    backtest = run_backtest(OnnxSource(paper_model), load_bars(path), start=start, symbol="spx", **strategy)
    assert paper.status.counts["rejected"] == 0 and len(backtest.fills) >= 10
    pd.testing.assert_frame_equal(paper.fills.drop(columns="order_id"), backtest.fills, check_exact=True)


def test_the_paper_command_fills_as_the_backtest_command_trades(
    paper_model: Path, replay_csv: Path, start: str, thresholds: dict[str, float], journal_dir: Path, tmp_path: Path
) -> None:
    flags = [
        "--buy-threshold",
        str(thresholds["buy_threshold"]),
        "--sell-threshold",
        str(thresholds["sell_threshold"]),
        "--stake",
        "0.8",
        "--commission",
        "0.0015",
        "--slippage",
        "0.0002",
    ]
    journal = journal_dir / "cli.sqlite"
    assert (
        main(
            [
                "paper",
                "run",
                "--model",
                str(paper_model),
                "--feed",
                f"replay:{replay_csv}?pace=0&start={start}",
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
                "--data",
                str(replay_csv),
                "--start",
                start,
                "--out",
                str(tmp_path / "report"),
                *flags,
            ]
        )
        == 0
    )
    trades = pd.read_csv(tmp_path / "report" / "trades.csv", parse_dates=["entry_time", "exit_time"])
    with Journal(journal, readonly=True) as read:
        fills = fills_frame(read)
    # Long only: fills alternate buy (entry) and sell (exit); the last trade may still be open.
    entries, exits = fills.iloc[::2].reset_index(drop=True), fills.iloc[1::2].reset_index(drop=True)
    assert len(trades) >= 5 and list(entries["side"].unique()) == ["buy"] and list(exits["side"].unique()) == ["sell"]
    assert len(entries) == len(trades)
    pd.testing.assert_series_equal(entries["time"], trades["entry_time"], check_names=False)
    pd.testing.assert_series_equal(entries["price"], trades["entry_price"], check_names=False)
    pd.testing.assert_series_equal(entries["size"].astype(float), trades["size"].astype(float), check_names=False)
    closed = trades.dropna(subset=["exit_time"])
    pd.testing.assert_series_equal(exits["time"].iloc[: len(closed)], closed["exit_time"], check_names=False)
    pd.testing.assert_series_equal(exits["price"].iloc[: len(closed)], closed["exit_price"], check_names=False)
