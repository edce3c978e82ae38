"""The distribution installs as signalstack.* only, and the CI runs the README's test command."""

import re
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (path,) = out.glob("signalstack-*.whl")
    return path


def test_wheel_installs_nothing_named_models_server_or_plugin_at_top_level(wheel):
    tops = {name.split("/")[0] for name in zipfile.ZipFile(wheel).namelist()}
    assert tops == {"signalstack", wheel.name.split("-py3")[0] + ".dist-info"}
    names = zipfile.ZipFile(wheel).namelist()
    assert "signalstack/protos/signalstack/v1/signals.proto" in names
    assert {"signalstack/__init__.py", "signalstack/cli/__init__.py", "signalstack/core/model.py"} <= set(names)


def test_installed_wheel_imports_from_another_directory(wheel, tmp_path):
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
        check=True,
        capture_output=True,
    )
    # -S skips site processing, so this venv's editable-install hook cannot shadow the wheel.
    code = (
        "import signalstack.plugin, signalstack.server, signalstack.models, signalstack.protos, sys;"
        "print(signalstack.plugin.__file__); assert 'torch' not in sys.modules"
    )
    env = {"PYTHONPATH": f"{target}:{sysconfig.get_paths()['purelib']}:{sysconfig.get_paths()['platlib']}"}
    run = subprocess.run([sys.executable, "-S", "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip().startswith(str(target / "signalstack" / "plugin"))


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    (command,) = re.findall(r"^(python3 -m venv .*pytest.*)$", readme, flags=re.M)
    assert command in (ROOT / ".ci" / "run").read_text().splitlines()
