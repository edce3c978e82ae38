"""The server tests pass on the oldest grpcio and protobuf that pyproject.toml accepts, and on the newest.

The suite itself runs where the test extra put Triton's client, whose protobuf < 7 cap holds grpcio's
health and reflection packages at 1.81 and protobuf at 6.33. This test makes a virtual environment
of its own and runs ``pytest tests/server`` there, for

- ``oldest``: the lower bounds of the grpcio packages and of protobuf, installed exactly;
- ``newest``: the same packages upgraded as far as signalstack's ranges let pip (protobuf 7 and
  grpcio 1.85 as of writing), what ``pip install signalstack`` alone gets.

Both runs share one environment (installing it is most of the time); everything else is as pip
resolves it, torch as in this environment. Triton's client fits neither (it needs grpcio >= 1.81.1
and protobuf < 7): its tests skip in those runs, saying so.
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

from .triton_support import VERSIONS_RUN

ROOT = Path(__file__).resolve().parents[2]
GRPC = ("grpcio", "grpcio-tools", "grpcio-health-checking", "grpcio-reflection", "protobuf")


def oldest_versions() -> dict[str, str]:
    """{package: its lower bound in pyproject.toml} for the grpcio packages and protobuf."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = {(r := Requirement(text)).name: r for text in project["dependencies"]}
    return {name: next(s.version for s in requirements[name].specifier if s.operator == ">=") for name in GRPC}


NOT_FOR_SERVER_TESTS = ("tritonclient", "protobuf", "ray", "mlflow", "signalstack")
"""What the test extra holds that tests/server does not use: Triton's client and its protobuf cap, Ray, MLflow and
signalstack's own extras (the docs site)."""


def _test_requirements() -> list[str]:
    """The test extra, less what tests/server does not use."""
    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["test"]
    return [text for text in extra if Requirement(text).name not in NOT_FOR_SERVER_TESTS]


def _run(command: list[str], timeout: float, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command,
        check=False,
        capture_output=True,
        text=True,  # type: ignore[call-overload]
        timeout=timeout,
        **kwargs,
    )


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtual environment with signalstack (editable), its dependencies and the test tools, Triton's client aside."""
    folder = tmp_path_factory.mktemp("versions")
    venv = folder / "venv"
    python = venv / "bin" / "python"
    made = _run([sys.executable, "-m", "venv", str(venv)], 300, env=_env())
    assert made.returncode == 0, made.stderr
    probe = _run(
        [
            str(python),
            "-m",
            "pip",
            "download",
            "-q",
            "--no-deps",
            "-d",
            str(folder / "probe"),
            f"grpcio-health-checking=={oldest_versions()['grpcio-health-checking']}",
        ],
        300,
        env=_env(),
    )
    if probe.returncode != 0:
        reason = f"cannot download packages, so no environment of its own: {probe.stderr[-300:]}"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    torch = f"torch=={importlib.metadata.version('torch')}"  # the build this environment has (CPU in CI)
    install = _run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "-q",
            torch,
            "-e",
            str(ROOT),
            *_test_requirements(),
            *(f"{name}=={version}" for name, version in oldest_versions().items()),
        ],
        900,
        env=_env(),
        cwd=folder,
    )
    assert install.returncode == 0, f"pip install:\n{install.stdout[-3000:]}\n{install.stderr[-3000:]}"
    return venv


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    return {**env, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "MPLBACKEND": "Agg"}


@pytest.mark.slow
@pytest.mark.skipif(bool(os.environ.get(VERSIONS_RUN)), reason="this is one of the runs of this test")
@pytest.mark.parametrize("which", ["oldest", "newest"])
def test_server_tests_pass_on_grpcio_and_protobuf(which: str, venv: Path, tmp_path: Path) -> None:
    python = str(venv / "bin" / "python")
    # The same environment for both: exactly the lower bounds, or each package upgraded as far as pip goes.
    pins = oldest_versions() if which == "oldest" else {}
    wanted = [f"{name}=={version}" for name, version in pins.items()] if pins else ["-U", "-e", str(ROOT), *GRPC]
    install = _run([python, "-m", "pip", "install", "-q", *wanted], 600, env=_env(), cwd=tmp_path)
    assert install.returncode == 0, f"pip install {wanted}:\n{install.stdout[-3000:]}\n{install.stderr[-3000:]}"
    code = (
        "import grpc, google.protobuf, grpc_health, grpc_reflection, grpc_tools\n"
        "from importlib.metadata import version\n"
        f"print(', '.join(f'{{n}} {{version(n)}}' for n in {GRPC!r}))"
    )
    probe = _run([python, "-c", code], 120, env=_env())
    assert probe.returncode == 0, probe.stderr
    versions = probe.stdout.strip()
    if pins:
        assert versions == ", ".join(f"{name} {version}" for name, version in pins.items())

    env = {**_env(), VERSIONS_RUN: f"the {which} versions: {versions}"}
    run = _run(
        [
            python,
            "-m",
            "pytest",
            "-q",
            "-x",
            "-p",
            "no:cacheprovider",
            "--basetemp",
            str(tmp_path / "t"),
            "tests/server",
        ],
        1500,
        env=env,
        cwd=ROOT,
    )
    assert run.returncode == 0, f"tests/server on {versions}:\n{run.stdout[-6000:]}\n{run.stderr[-2000:]}"
    print(f"{which}: {versions}")
    print("\n".join(line for line in run.stdout.splitlines() if line.startswith("SKIPPED") or " passed" in line))
