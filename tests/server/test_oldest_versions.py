"""The server tests pass on the oldest grpcio and protobuf that pyproject.toml accepts.

The suite itself runs on what pip picks today (with Triton's client installed: grpcio-health-checking
and -reflection 1.81, protobuf 6.33). This test makes a second virtual environment with the lower
bounds of the grpcio packages and of protobuf installed exactly (everything else as pip resolves it,
torch as in this environment), and runs ``pytest tests/server`` there. Triton's client cannot be
installed there (it needs grpcio >= 1.81.1): its tests skip in that run, saying so.
"""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from .triton_support import OLDEST_VERSIONS_RUN

ROOT = Path(__file__).resolve().parents[2]
PINNED = ("grpcio", "grpcio-tools", "grpcio-health-checking", "grpcio-reflection", "protobuf")


def oldest_versions() -> dict[str, str]:
    """{package: its lower bound in pyproject.toml} for the grpcio packages and protobuf."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = {(r := Requirement(text)).name: r for text in project["dependencies"]}
    return {name: next(s.version for s in requirements[name].specifier if s.operator == ">=") for name in PINNED}


def _test_requirements() -> list[str]:
    """The test extra but Triton's client and its protobuf cap, which the oldest versions exclude."""
    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["test"]
    return [text for text in extra if Requirement(text).name not in ("tritonclient", "protobuf")]


def _run(command: list[str], timeout: float, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout,  # type: ignore[call-overload]
                          **kwargs)


@pytest.mark.slow
@pytest.mark.skipif(bool(os.environ.get(OLDEST_VERSIONS_RUN)), reason="this is the oldest-versions run itself")
def test_server_tests_pass_on_the_oldest_supported_grpcio_and_protobuf(tmp_path: Path) -> None:
    oldest = oldest_versions()
    venv = tmp_path / "venv"
    python = venv / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env.update(PIP_DISABLE_PIP_VERSION_CHECK="1", MPLBACKEND="Agg")
    made = _run([sys.executable, "-m", "venv", str(venv)], 300, env=env)
    assert made.returncode == 0, made.stderr
    probe = _run([str(python), "-m", "pip", "download", "-q", "--no-deps", "-d", str(tmp_path / "probe"),
                  f"grpcio-health-checking=={oldest['grpcio-health-checking']}"], 300, env=env)
    if probe.returncode != 0:
        reason = f"cannot download packages, so no environment with the oldest versions: {probe.stderr[-300:]}"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)

    constraints = tmp_path / "constraints.txt"
    constraints.write_text("".join(f"{name}=={version}\n" for name, version in oldest.items()))
    torch = f"torch=={importlib.metadata.version('torch')}"  # the build this environment has (CPU in CI)
    install = _run([str(python), "-m", "pip", "install", "-q", "-c", str(constraints), torch, "-e", str(ROOT),
                    *_test_requirements(), *(f"{name}=={version}" for name, version in oldest.items())],
                   900, env=env, cwd=tmp_path)
    assert install.returncode == 0, f"pip install with {oldest}:\n{install.stdout[-3000:]}\n{install.stderr[-3000:]}"
    versions = _run([str(python), "-c", "import grpc, google.protobuf, grpc_health, grpc_reflection, grpc_tools\n"
                     "from importlib.metadata import version as v\n"
                     f"print({{n: v(n) for n in {PINNED!r}}})"], 120, env=env)
    assert versions.returncode == 0, versions.stderr
    assert versions.stdout.strip() == str(oldest)

    env[OLDEST_VERSIONS_RUN] = ", ".join(f"{name} {version}" for name, version in oldest.items())
    run = _run([str(python), "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "--basetemp", str(tmp_path / "t"),
                "tests/server"], 1500, env=env, cwd=ROOT)
    assert run.returncode == 0, f"tests/server on {oldest}:\n{run.stdout[-6000:]}\n{run.stderr[-2000:]}"
    print("\n".join(line for line in run.stdout.splitlines() if line.startswith("SKIPPED") or " passed" in line))
