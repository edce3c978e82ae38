"""The commands the README and the docs show, run as a user runs them: real processes, a real server on 127.0.0.1."""

import argparse
import json
import os
import signal
import socket
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


def run(*args: str, check: bool = True, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [CLI, *args], capture_output=True, text=True, timeout=300, env=None if env is None else {**os.environ, **env}
    )
    if check:
        assert done.returncode == 0, done.stderr
    return done


def subcommands() -> list[str]:
    """The parser's subcommands, in the order `signalstack --help` lists them."""
    from signalstack.cli import _parser

    return list(next(a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction)).choices)


def error_line(done: subprocess.CompletedProcess, command: str) -> str:
    """The one line a failed command wrote to stderr, after checking exit status 1 and no traceback."""
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"signalstack {command}: error: "), lines[0]
    return lines[0].removeprefix(f"signalstack {command}: error: ")


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
    server = subprocess.Popen(
        [CLI, "serve", "--models", str(trained.parent), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_serving(f"127.0.0.1:{port}")
        local = run("backtest", "--model", str(trained), "--data", "sample:sp500", "--out", str(tmp_path / "local"))
        remote = run(
            "backtest",
            "--model",
            "lstm_cli",
            "--server",
            f"127.0.0.1:{port}",
            "--data",
            "sample:sp500",
            "--out",
            str(tmp_path / "remote"),
        )
    finally:
        server.send_signal(signal.SIGTERM)
        log, _ = server.communicate(timeout=30)
    assert server.returncode == 0, log
    assert "lstm_cli.onnx: onnxruntime on CPUExecutionProvider" in log or "CUDAExecutionProvider" in log
    assert (tmp_path / "local" / "trades.csv").read_bytes() == (tmp_path / "remote" / "trades.csv").read_bytes()
    local_stats, remote_stats = (
        json.loads((tmp_path / side / "stats.json").read_text()) for side in ("local", "remote")
    )
    assert local_stats["params"].pop("source") != remote_stats["params"].pop("source")
    assert local_stats == remote_stats

    def table(out: str) -> list[str]:
        return [line for line in out.splitlines() if not line.startswith(("backtest of", "wrote"))]

    assert table(local.stdout) == table(remote.stdout)
    assert "buy & hold" in local.stdout and "signal hit rate" in local.stdout
    assert local_stats["strategy"]["trades"] >= 0 and "buy_and_hold" in local_stats


@pytest.mark.slow
def test_demo_runs_end_to_end_at_small_size(tmp_path):
    done = run("demo", "--out", str(tmp_path / "demo"), "--epochs", "1")
    assert "buy & hold" in done.stdout
    for name in (
        "report/equity.png",
        "report/trades.csv",
        "report/stats.json",
        "models/lstm_sp500.onnx",
        "models/lstm_sp500.training/training.png",
    ):
        assert (tmp_path / "demo" / name).is_file(), name


@pytest.mark.parametrize("command", subcommands())
def test_every_subcommand_prints_its_help_without_glitches(command):
    done = run(command, "--help", env={"COLUMNS": "80"})
    assert done.stdout.startswith(f"usage: signalstack {command} ") and done.stderr == ""
    assert "%%" not in done.stdout and "%(" not in done.stdout  # argparse %-formats help strings
    assert max(map(len, done.stdout.splitlines())) <= 80


def test_top_level_help_lists_subcommands_in_workflow_order_one_line_each_at_80_columns():
    listing = run("--help", env={"COLUMNS": "80"}).stdout
    assert "%%" not in listing
    lines = listing.splitlines()
    start = lines.index(next(line for line in lines if line.startswith("  COMMAND ")))
    entries = lines[start + 1 : lines.index("", start)]
    assert [line.split()[0] for line in entries] == subcommands()
    assert subcommands()[:4] == ["demo", "models", "summary", "train"]
    for line in entries:  # name, then its help on the same line
        assert line.startswith("    ") and len(line.split()) > 1 and len(line) <= 80, line


def write_bars(path: Path, content: str | bytes | None) -> Path:
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    return path


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "{path}: no such file (expected a CSV or Parquet file of OHLCV bars or sample:sp500|nasdaq)"),
        (
            b"\x89PNG\r\n\x1a\n\x00\x00",
            "{path}: not a text file (invalid start byte; expected a UTF-8 CSV of OHLCV bars)",
        ),
        (
            "Date,Open,High,Low,Close,Volume\n2018-01-02,1.2,1.3,1.1,1.25,100\n2018-01-32,1.2,1.3,1.1,1.25,100\n",
            "{path} row 2: Date '2018-01-32', expected a date or time such as 2020-01-02, 2020-01-02 09:30:00 or "
            "2020.01.02",
        ),
        (
            "date,open,high,low,close\n2018-01-02,1.2,1.3,1.1,1.25\n",
            "{path}: missing column(s) volume (expected open, high, low, close, volume in any letter case; "
            "have date, open, high, low, close)",
        ),
        (
            "Date,Timestamp,Open,High,Low,Close,Volume\n2018-01-02,2018-01-02,1.2,1.3,1.1,1.25,100\n",
            "{path}: ambiguous header: time columns Date, Timestamp (expected one of Date, Datetime, Timestamp, Time, "
            "or Date and Time side by side; header: Date, Timestamp, Open, High, Low, Close, Volume)",
        ),
    ],
    ids=["missing", "binary", "bad-date", "missing-column", "ambiguous-header"],
)
def test_a_bad_csv_is_one_line_naming_the_file(tmp_path, content, message):
    path = write_bars(tmp_path / "bars.csv", content)
    done = run("train", "--data", str(path), "--out", str(tmp_path / "m.onnx"), check=False)
    assert error_line(done, "train") == message.format(path=path)


@pytest.mark.parametrize(
    "args",
    [["train", "--data", "sample:sp500", "--out", "never.onnx", "--model", "nosuch"], ["summary", "nosuch"]],
    ids=["train", "summary"],
)
def test_an_unknown_model_name_is_one_line_listing_the_known_ones(args):
    line = error_line(run(*args, check=False), args[0])
    assert line.startswith("unknown model 'nosuch' (expected one of ") and " lstm, " in line
    assert line.endswith(", or a .yaml/.yml/.json spec file)")


def test_a_busy_port_is_one_line_naming_the_address(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = run("serve", "--models", str(tmp_path), "--port", str(port), check=False)
        assert error_line(done, "serve") == (
            f"cannot listen on 127.0.0.1:{port} (Address already in use; expected a free --port on a local address)"
        )
        done = run(
            "serve", "--models", str(tmp_path), "--port", str(free_port()), "--metrics-port", str(port), check=False
        )
        assert error_line(done, "serve").startswith(
            f"cannot listen on 127.0.0.1:{port} (Address already in use; expected a free --metrics-port"
        )


def test_an_onnx_file_without_a_card_is_one_line(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    value = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "bare",
        [value],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
    )
    path = tmp_path / "bare.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), path)
    done = run("info", str(path), check=False)
    assert error_line(done, "info") == f"{path}: no 'signalstack' metadata (export it with signalstack train)"


def test_an_unreachable_server_is_one_line_naming_the_address_and_fails_fast():
    target = f"127.0.0.1:{free_port()}"  # nothing listens there
    start = time.monotonic()
    done = run("backtest", "--model", "lstm_cli", "--server", target, "--data", "sample:sp500", check=False)
    assert time.monotonic() - start < 30  # not the 60 s call timeout
    line = error_line(done, "backtest")
    assert line.startswith(f"cannot reach a signalstack server at {target} (")
    assert line.endswith("; expected `signalstack serve` listening there)")


def test_errors_are_one_line_with_exit_status_1(tmp_path):
    done = run("serve", "--models", str(tmp_path), "--port", str(free_port()), check=False)
    assert done.returncode == 1 and "no loadable models" in done.stderr.splitlines()[-1]


def test_info_prints_the_card(trained):
    card = json.loads(run("info", str(trained)).stdout)
    assert card["window"] == 20 and card["classes"] == ["down", "up"] and "test_range" in card
    assert "lstm" in run("models").stdout


def test_serve_module_path_does_not_import_torch():
    code = "import sys, signalstack.cli as c; c._parser(); import signalstack.server.app; print('torch' in sys.modules)"
    assert (
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ}).stdout.strip()
        == "False"
    )


def test_summary_prints_a_keras_style_table():
    out = run("summary", "lstm", "--input", "features=60,21", "--param", "hidden=32,16").stdout
    assert "(None, 60, 32)" in out and "(None, 16)" in out
    assert "Total params:" in out and "Keras-equivalent" in out


@pytest.mark.slow
def test_a_two_input_model_trains_and_backtests_with_a_fundamentals_csv(tmp_path):
    import numpy as np
    import pandas as pd

    dates = pd.date_range("2000-01-01", "2018-12-31", freq="90D")
    factors = pd.DataFrame(
        np.random.default_rng(0).normal(size=(len(dates), 2)), index=dates, columns=["pe", "growth"]
    ).rename_axis("date")
    factors.to_csv(tmp_path / "factors.csv")
    out = tmp_path / "mt.onnx"
    run(
        "train",
        "--data",
        "sample:sp500",
        "--fundamentals",
        str(tmp_path / "factors.csv"),
        "--model",
        "multitask",
        "--labels",
        "three",
        "--horizon",
        "5",
        "--out",
        str(out),
        "--window",
        "10",
        "--param",
        "hidden=4",
        "--epochs",
        "1",
    )
    card = json.loads(run("info", str(out)).stdout)
    assert [(i["name"], i["source"], i["columns"]) for i in card["inputs"]] == [
        ("fundamentals", "tensor", ["pe", "growth"]),
        ("features", "bars", card["inputs"][1]["columns"]),
    ]
    assert [o["name"] for o in card["outputs"]] == ["probabilities", "forecast"]
    done = run(
        "backtest",
        "--model",
        str(out),
        "--data",
        "sample:sp500",
        "--fundamentals",
        str(tmp_path / "factors.csv"),
        "--buy-threshold",
        "0.34",
        "--sell-threshold",
        "0.3",
    )
    assert "buy & hold" in done.stdout
    refused = run("backtest", "--model", str(out), "--data", "sample:sp500", check=False)
    assert refused.returncode == 1 and "fundamentals" in refused.stderr


@pytest.mark.parametrize(
    ("kind", "keys"),
    [
        ("experiment", {"data", "features", "labels", "model", "walk_forward", "seeds", "surrogates", "backtest"}),
        ("paper", {"model", "server", "feeds", "journal", "tls_ca", "buy_threshold", "hold", "cash", "max_gross"}),
        ("trading", {"line", "buy_threshold", "sizing", "stake", "stop_loss", "hold", "commission", "slippage"}),
        ("spec", {"name", "inputs", "layers", "outputs", "serve"}),
    ],
)
def test_schema_prints_a_files_json_schema_with_every_key_described(kind, keys):
    schema = json.loads(run("schema", kind).stdout)
    assert keys <= set(schema["properties"]) and schema["additionalProperties"] is False
    objects = [schema, *schema.get("$defs", {}).values()]
    undescribed = [
        f"{o.get('title')}.{key}"
        for o in objects
        for key, field in o.get("properties", {}).items()
        if not field.get("description")
    ]
    assert not undescribed
