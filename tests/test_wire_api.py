"""The wire API only grows: `buf breaking` against the released image refuses a renamed, renumbered, retyped or
removed field or method, and lets an added one through; `buf lint` keeps the .proto files' style.

buf comes from `.ci/run` (the npm package @bufbuild/buf, installed under .ci/node), $BUF, or PATH.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROTOS = ROOT / "protos"
SIGNALS = Path("signalstack/v1/signals.proto")


def _buf() -> str | None:
    for candidate in (os.environ.get("BUF"), str(ROOT / ".ci/node/node_modules/.bin/buf"), shutil.which("buf")):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


BUF = _buf()
pytestmark = pytest.mark.skipif(
    BUF is None, reason="buf is not installed (.ci/run installs it with npm into .ci/node; or set $BUF)"
)


def _breaking(tree: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [BUF, "breaking", "--against", str(PROTOS / "released.binpb")],
        cwd=tree,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _edited(tmp_path: Path, old: str, new: str) -> Path:
    tree = tmp_path / "protos"
    shutil.copytree(PROTOS, tree, ignore=shutil.ignore_patterns("*.py", "*.pyi", "__pycache__"))
    path = tree / SIGNALS
    text = path.read_text()
    assert old in text, f"the edit's anchor {old!r} is no longer in {SIGNALS}"
    path.write_text(text.replace(old, new, 1))
    return tree


def test_the_protos_lint_and_match_the_released_api() -> None:
    lint = subprocess.run([BUF, "lint"], cwd=PROTOS, capture_output=True, text=True, timeout=120)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    breaking = _breaking(PROTOS)
    assert breaking.returncode == 0, breaking.stdout + breaking.stderr


@pytest.mark.parametrize(
    ("old", "new", "complaint"),
    [
        ("repeated string columns = 4;", "repeated string cols = 4;", 'changed name from "columns" to "cols"'),
        ("repeated string columns = 4;", "repeated string columns = 5;", "deleted"),
        ("repeated float values = 3;", "repeated double values = 3;", 'changed type from "float" to "double"'),
        (
            "  repeated string columns = 4;  // responses: the names of the values along the last axis\n",
            "",
            'Previously present field "4" with name "columns"',
        ),
        (
            "  rpc ListModels(ListModelsRequest) returns (ListModelsResponse);\n",
            "",
            'Previously present RPC "ListModels"',
        ),
        (
            "rpc GetModel(GetModelRequest) returns (ModelInfo);",
            "rpc GetModel(GetModelRequest) returns (ListModelsResponse);",
            'changed response type from "signalstack.v1.ModelInfo"',
        ),
    ],
    ids=["renamed", "renumbered", "retyped", "field removed", "method removed", "method retyped"],
)
def test_an_incompatible_change_fails(tmp_path: Path, old: str, new: str, complaint: str) -> None:
    result = _breaking(_edited(tmp_path, old, new))
    assert result.returncode != 0
    assert complaint in result.stdout, result.stdout + result.stderr


def test_an_added_field_and_method_pass(tmp_path: Path) -> None:
    tree = _edited(tmp_path, "  repeated string columns = 4;", "  repeated string columns = 4;\n  string unit = 5;")
    path = tree / SIGNALS
    path.write_text(
        path.read_text().replace(
            "  rpc ListModels(",
            "  rpc ListModelNames(ListModelsRequest) returns (ListModelsResponse);\n  rpc ListModels(",
            1,
        )
    )
    result = _breaking(tree)
    assert result.returncode == 0, result.stdout + result.stderr
