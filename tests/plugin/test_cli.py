"""`signalstack backtest`: several symbols make a portfolio report; --sweep tabulates a grid from worker processes."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from signalstack.cli import main
from signalstack.plugin.sources import GrpcSource
from signalstack.plugin.sweep import parse_sweep, sweep_grid

from .support import up_probabilities


@pytest.fixture(scope="module")
def inputs(sp500: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two symbols' bar files (2013-2014 and 2014) and one table of probabilities for both."""
    folder = tmp_path_factory.mktemp("cli")
    paths = {"early": folder / "early.csv", "late": folder / "late.csv", "probs": folder / "probs.csv"}
    sp500.loc["2013":"2014"].rename_axis("Date").to_csv(paths["early"])
    sp500.loc["2014"].rename_axis("Date").to_csv(paths["late"])
    bars = sp500.loc["2013":"2014"]
    up_probabilities(np.random.default_rng(5).uniform(0.3, 0.7, len(bars)), bars.index).to_csv(paths["probs"])
    return paths


def test_several_symbols_write_a_report_each_and_a_portfolio_page(
    inputs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "report"
    code = main(
        [
            "backtest",
            "--model",
            str(inputs["probs"]),
            "--data",
            str(inputs["early"]),
            "--data",
            str(inputs["late"]),
            "--out",
            str(out),
            "--stop-loss",
            "0.03",
            "--hold",
            "2",
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "backtest of early with" in printed and "backtest of late with" in printed and "portfolio" in printed
    for symbol in ("early", "late"):
        for name in (
            "report.html",
            "equity.png",
            "drawdown.png",
            "price.png",
            "calibration.png",
            "trades.csv",
            "stats.json",
            "config.json",
        ):
            assert (out / symbol / name).is_file()
    page = (out / "index.html").read_text()
    assert 'href="early/report.html"' in page and 'href="late/report.html"' in page
    assert (out / "portfolio.png").stat().st_size > 10_000


def test_sweep_runs_a_grid_in_worker_processes(
    inputs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "sweep"
    code = main(
        [
            "backtest",
            "--model",
            str(inputs["probs"]),
            "--data",
            str(inputs["early"]),
            "--out",
            str(out),
            "--sweep",
            "buy_threshold=0.4:0.6:0.1",
            "--sweep",
            "stop_loss=0.02,0.05",
        ]
    )
    assert code == 0
    table = pd.read_csv(out / "sweep.csv", keep_default_na=False)
    assert table[["buy_threshold", "stop_loss"]].values.tolist() == [
        [0.4, 0.02],
        [0.4, 0.05],
        [0.5, 0.02],
        [0.5, 0.05],
        [0.6, 0.02],
        [0.6, 0.05],
    ]
    refused = table["error"] != ""
    assert refused.tolist() == [True, True, False, False, False, False]  # sell 0.45 above buy 0.4
    assert "expected sell_threshold <= buy_threshold" in table.loc[0, "error"]
    assert (table.loc[~refused, "trades"].astype(float) > 0).all()
    printed = capsys.readouterr().out
    assert "buy_threshold" in printed and "sweep.csv" in printed


def test_parse_sweep_ranges_include_the_stop() -> None:
    assert parse_sweep("buy_threshold=0.5:0.7:0.05") == ("buy_threshold", [0.5, 0.55, 0.6, 0.65, 0.7])
    assert parse_sweep("hold=1:5:2") == ("hold", [1, 3, 5])
    assert sweep_grid(["a=1,2", "b=0.1"]) == [{"a": 1, "b": 0.1}, {"a": 2, "b": 0.1}]


@pytest.mark.parametrize("spec", ["buy_threshold", "buy_threshold=0.7:0.5:0.1", "stake=a,b", "x=0:1:0"])
def test_parse_sweep_names_a_bad_spec(spec: str) -> None:
    with pytest.raises(ValueError, match=f"--sweep '{spec}'"):
        parse_sweep(spec)


def test_a_server_that_never_answers_is_a_connection_error_after_the_connect_timeout() -> None:
    with socket.socket() as silent:  # accepts connections (the kernel's backlog) and never speaks HTTP/2
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        target = f"127.0.0.1:{silent.getsockname()[1]}"
        start = time.monotonic()
        with pytest.raises(
            ConnectionError,
            match=f"^no signalstack server answered at {target} within 0.5 s "
            r"\(expected `signalstack serve` listening there\)$",
        ):
            GrpcSource(target, "lstm", connect_timeout=0.5)
        assert time.monotonic() - start < 5


def test_backtest_through_a_closed_port_is_one_line_on_stderr(
    inputs: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        target = f"127.0.0.1:{probe.getsockname()[1]}"  # bound, not listening: connections are refused
        code = main(["backtest", "--model", "lstm", "--server", target, "--data", str(inputs["early"])])
    assert code == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith(
        f"signalstack backtest: error: cannot reach a signalstack server at {target} ("
    )
