"""How the `signalstack` command reports a failure: a user's mistake as one line, a bug as a bug."""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from signalstack.cli import info, main

CLI = str(Path(sys.executable).with_name("signalstack"))


def fails(capsys: pytest.CaptureFixture[str], *argv: str) -> list[str]:
    """stderr's lines of a command run in process, after checking it failed with exit status 1."""
    assert main(list(argv)) == 1
    return capsys.readouterr().err.splitlines()


@pytest.fixture
def buggy_info(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """`signalstack info` with a bug inside (a KeyError, as a missing column in the code would raise); traceback
    files go to the returned folder."""

    def run(args: object) -> None:
        raise KeyError("close")

    monkeypatch.setattr(info, "run", run)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path


def test_a_users_mistake_is_one_line_with_exit_status_1(capsys):
    assert fails(capsys, "run") == [
        "signalstack run: error: expected an experiment file EXP.yaml (or --resume RUN_DIR)"
    ]


@pytest.mark.parametrize(
    "argv",
    [["info", "no.onnx"], ["backtest", "--model", "no.onnx", "--data", "sample:sp500"]],
    ids=["info", "backtest"],
)
def test_a_missing_model_file_is_our_own_line_not_onnxruntimes(capsys, argv):
    assert fails(capsys, *argv) == [
        f"signalstack {argv[0]}: error: model file no.onnx not found "
        "(expected an .onnx file written by signalstack train)"
    ]


def test_a_file_the_system_refuses_is_one_line_naming_it(capsys, monkeypatch, tmp_path):
    missing = tmp_path / "bars.csv"
    monkeypatch.setattr(info, "run", lambda args: missing.open())
    assert fails(capsys, "info", "m.onnx") == [f"signalstack info: error: {missing}: No such file or directory"]


def test_a_bug_is_one_line_naming_the_exception_and_the_file_holding_its_traceback(capsys, buggy_info):
    [line] = fails(capsys, "info", "m.onnx")
    assert line.startswith("signalstack info: bug: KeyError: 'close' (an error in signalstack itself, ")
    assert line.endswith("please report it on signalstack's issue tracker with that traceback, or rerun with --debug)")
    path = Path(re.search(r"its traceback is written to (\S+);", line).group(1))
    assert path.parent == buggy_info and re.fullmatch(r"signalstack-info-\d{8}-\d{6}-\w+\.txt", path.name)
    written = path.read_text()
    assert "command: signalstack info m.onnx" in written
    assert "Traceback (most recent call last)" in written and 'raise KeyError("close")' in written
    assert written.rstrip().endswith("KeyError: 'close'")


def test_debug_prints_the_traceback_instead(capsys, buggy_info):
    err = "\n".join(fails(capsys, "--debug", "info", "m.onnx"))
    assert err.startswith("Traceback (most recent call last)") and err.endswith("KeyError: 'close'")
    assert "bug:" not in err and not list(buggy_info.iterdir())


def test_ctrl_c_is_exit_status_130_without_a_line(capsys, monkeypatch):
    def run(args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(info, "run", run)
    assert main(["info", "m.onnx"]) == 130
    assert capsys.readouterr().err == ""


def test_the_installed_command_prints_the_missing_model_line_and_exits_1():
    done = subprocess.run([CLI, "info", "no.onnx"], capture_output=True, text=True, timeout=120)
    assert (done.returncode, done.stderr) == (
        1,
        "signalstack info: error: model file no.onnx not found (expected an .onnx file written by signalstack train)\n",
    )


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (
            ["paper", "resume", "--journal", "{junk}"],
            "journal {junk}: cannot write it (file is not a database); expected a writable SQLite file path",
        ),
        (
            ["paper", "stop", "--journal", "{missing}"],
            "journal {missing}: no such file (expected the --journal of a `paper run`)",
        ),
        (
            [
                "paper",
                "run",
                "--model",
                "no.onnx",
                "--feed",
                "replay:{bars}",
                "--feed",
                "replay:{bars}",
                "--journal",
                "{missing}",
            ],
            "feeds trade symbols ['bars', 'bars']: expected distinct symbols (name them SYMBOL=replay:...)",
        ),
        (
            ["serve", "--models", "{empty}", "--port", "0"],
            "{empty}: no loadable models (expected NAME.onnx or NAME/VERSION/model.onnx files exported by signalstack "
            "train)",
        ),
        (
            ["serve", "--models", "{empty}", "--port", "0", "--tls-cert", "{bars}"],
            "tls_cert {bars} and tls_key None: expected both or neither",
        ),
        (
            ["export-triton", "--models", "{empty}", "--out", "{missing}", "--max-batch-size", "0"],
            "flags: max_batch_size: 0, expected >= 1",
        ),
    ],
    ids=[
        "paper-resume-not-a-journal",
        "paper-stop-no-journal",
        "paper-run-same-symbol-twice",
        "serve-no-models",
        "serve-cert-without-key",
        "export-triton-batch-size",
    ],
)
def test_a_mistake_given_to_paper_or_serve_is_one_error_line_not_a_bug(capsys, tmp_path, argv, said):
    files = {
        "junk": tmp_path / "junk.sqlite",
        "missing": tmp_path / "missing.sqlite",
        "bars": tmp_path / "bars.csv",
        "empty": tmp_path / "models",
    }
    files["junk"].write_bytes(bytes(range(256)) * 16)  # random bytes, not SQLite
    files["bars"].write_text("time,open,high,low,close,volume\n2020-01-02,1,1,1,1,100\n")
    files["empty"].mkdir()
    lines = fails(capsys, *(arg.format(**files) for arg in argv))
    assert lines[-1] == f"signalstack {argv[0]}: error: {said.format(**files)}"
    assert not [line for line in lines[:-1] if "error:" in line or "bug:" in line]
