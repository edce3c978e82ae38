"""The README's commands, run as a user runs them: real processes, a real server on 127.0.0.1."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from ..support import free_port

CLI = str(Path(sys.executable).with_name("signalstack"))
SMALL = ["--window", "20", "--param", "hidden=8,8", "--epochs", "2"]


def run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run([CLI, *args], capture_output=True, text=True, timeout=300)
    if check:
        assert done.returncode == 0, done.stderr
    return done


def wait_serving(target: str, deadline: float = 60.0) -> None:
    end = time.monotonic() + deadline
    with grpc.insecure_channel(target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < end:
            try:
                if stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=1).status == 1:
                    return
            except grpc.RpcError:
                time.sleep(0.2)
    raise AssertionError(f"server at {target} not SERVING within {deadline}s")


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "models" / "lstm_cli.onnx"
    done = run("train", "--data", "sample:sp500", "--model", "lstm", "--out", str(out), "--seed", "1", *SMALL)
    assert "roc_auc" in done.stdout and "baseline_accuracy" in done.stdout and "out of sample" in done.stdout
    return out


@pytest.mark.slow
def test_backtest_report_is_identical_in_process_and_through_the_server(trained, tmp_path):
    port = free_port()
    server = subprocess.Popen([CLI, "serve", "--models", str(trained.parent), "--port", str(port)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_serving(f"127.0.0.1:{port}")
        local = run("backtest", "--model", str(trained), "--data", "sample:sp500", "--out", str(tmp_path / "local"))
        remote = run("backtest", "--model", "lstm_cli", "--server", f"127.0.0.1:{port}", "--data", "sample:sp500",
                     "--out", str(tmp_path / "remote"))
    finally:
        server.send_signal(signal.SIGTERM)
        log, _ = server.communicate(timeout=30)
    assert server.returncode == 0, log
    assert "model lstm_cli v1 on CPUExecutionProvider" in log or "CUDAExecutionProvider" in log
    assert (tmp_path / "local" / "trades.csv").read_bytes() == (tmp_path / "remote" / "trades.csv").read_bytes()
    local_stats, remote_stats = (json.loads((tmp_path / side / "stats.json").read_text()) for side in ("local", "remote"))
    assert local_stats["params"].pop("source") != remote_stats["params"].pop("source")
    assert local_stats == remote_stats
    table = lambda out: [line for line in out.splitlines() if not line.startswith(("backtest of", "wrote"))]
    assert table(local.stdout) == table(remote.stdout)
    assert "buy & hold" in local.stdout and "signal hit rate" in local.stdout
    assert local_stats["strategy"]["trades"] >= 0 and "buy_and_hold" in local_stats


@pytest.mark.slow
def test_demo_runs_end_to_end_at_small_size(tmp_path):
    done = run("demo", "--out", str(tmp_path / "demo"), "--epochs", "1")
    assert "buy & hold" in done.stdout
    for name in ("report/equity.png", "report/trades.csv", "report/stats.json", "models/lstm_sp500.onnx",
                 "models/lstm_sp500.training/training.png"):
        assert (tmp_path / "demo" / name).is_file(), name


def test_every_command_has_help():
    for command in ("train", "serve", "export-triton", "backtest", "demo", "models", "summary", "info"):
        assert run(command, "--help").stdout.startswith(f"usage: signalstack {command}")


def test_errors_are_one_line_with_exit_status_1(tmp_path):
    done = run("train", "--data", str(tmp_path / "absent.csv"), "--out", str(tmp_path / "m.onnx"), check=False)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"signalstack train: error: {tmp_path / 'absent.csv'}: no such file "
        "(expected a CSV of OHLCV bars or sample:sp500|nasdaq)"]
    done = run("serve", "--models", str(tmp_path), "--port", str(free_port()), check=False)
    assert done.returncode == 1 and "no loadable models" in done.stderr


def test_info_prints_the_card(trained):
    card = json.loads(run("info", str(trained)).stdout)
    assert card["window"] == 20 and card["classes"] == ["down", "up"] and "test_range" in card
    assert "lstm" in run("models").stdout


def test_serve_module_path_does_not_import_torch():
    code = "import sys, signalstack.plugin.cli as c; c._parser(); import signalstack.server.app; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ}).stdout.strip() == "False"


def test_summary_prints_a_keras_style_table():
    out = run("summary", "lstm", "--input", "features=60,21", "--param", "hidden=32,16").stdout
    assert "(None, 60, 32)" in out and "(None, 16)" in out
    assert "Total params:" in out and "Keras-equivalent" in out


@pytest.mark.slow
def test_a_two_input_model_trains_and_backtests_with_a_fundamentals_csv(tmp_path):
    import numpy as np
    import pandas as pd

    dates = pd.date_range("2000-01-01", "2018-12-31", freq="90D")
    factors = pd.DataFrame(np.random.default_rng(0).normal(size=(len(dates), 2)), index=dates,
                           columns=["pe", "growth"]).rename_axis("date")
    factors.to_csv(tmp_path / "factors.csv")
    out = tmp_path / "mt.onnx"
    run("train", "--data", "sample:sp500", "--fundamentals", str(tmp_path / "factors.csv"),
        "--model", "multitask", "--labels", "three", "--horizon", "5", "--out", str(out), "--window", "10",
        "--param", "hidden=4", "--epochs", "1")
    card = json.loads(run("info", str(out)).stdout)
    assert [(i["name"], i["source"], i["columns"]) for i in card["inputs"]] == [
        ("fundamentals", "tensor", ["pe", "growth"]), ("features", "bars", card["inputs"][1]["columns"])]
    assert [o["name"] for o in card["outputs"]] == ["probabilities", "forecast"]
    done = run("backtest", "--model", str(out), "--data", "sample:sp500", "--fundamentals",
               str(tmp_path / "factors.csv"), "--buy-threshold", "0.34", "--sell-threshold", "0.3")
    assert "buy & hold" in done.stdout
    refused = run("backtest", "--model", str(out), "--data", "sample:sp500", check=False)
    assert refused.returncode == 1 and "fundamentals" in refused.stderr
