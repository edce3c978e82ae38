"""The tutorials' code runs: each page's blocks, in order, in a folder of its own, as a reader would type them.

The markers a page may carry (skip a block, wait for a port, smaller epochs) are described in doctest_pages.py.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .doctest_pages import read_page, script

DOCS = Path(__file__).resolve().parents[2] / "docs"
TUTORIALS = sorted(path for path in (DOCS / "tutorials").glob("*.md") if path.name != "index.md")
TIMEOUT_S = 600
MAX_SKIPPED = 2
"""Blocks a tutorial may show without running them: a block that does not run can rot, so keep them few."""

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def page_folders(tmp_path_factory: pytest.TempPathFactory) -> dict[Path, Path]:
    """The folder each page ran in, by page, so that a page `after` another starts from a copy of it."""
    return {}


def _run(page_path: Path, folders: dict[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    if page_path in folders:
        return []
    page = read_page(page_path)
    folder = tmp_path_factory.mktemp(page_path.stem)
    if page.after is not None:
        before = (page_path.parent / page.after).resolve()
        _run(before, folders, tmp_path_factory)
        shutil.copytree(folders[before], folder, dirs_exist_ok=True, symlinks=True)
    missing = {program for block in page.blocks for program in block.needs if shutil.which(program) is None}
    text, skipped = script(page, folder, sys.executable, missing)
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "MPLBACKEND": "Agg",
        "OMP_NUM_THREADS": "1",
        "PYTHONUNBUFFERED": "1",
    }
    done = subprocess.run(
        ["bash", "-c", text],
        check=False,
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        start_new_session=True,
    )
    if done.returncode != 0:
        pytest.fail(
            f"{page_path.relative_to(DOCS)} failed (exit status {done.returncode}); the last output:\n"
            f"{(done.stdout + done.stderr)[-6000:]}"
        )
    assert done.stdout.rstrip().endswith(">>> done")
    folders[page_path] = folder
    return skipped


@pytest.mark.parametrize("page_path", TUTORIALS, ids=[path.stem for path in TUTORIALS])
def test_tutorial_runs(
    page_path: Path,
    page_folders: dict[Path, Path],
    tmp_path_factory: pytest.TempPathFactory,
    capsys: pytest.CaptureFixture[str],
) -> None:
    skipped = _run(page_path, page_folders, tmp_path_factory)
    blocks = read_page(page_path).blocks
    assert [block for block in blocks if block.skip is None], f"{page_path.name} has no block that runs"
    assert sum(block.skip is not None for block in blocks) <= MAX_SKIPPED, f"{page_path.name} skips too many blocks"
    with capsys.disabled():
        for reason in skipped:
            print(f"\n  {reason}", end="")
