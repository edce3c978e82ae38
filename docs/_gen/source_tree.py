"""The package as griffe must see it to read the docstrings statically: `signalstack/core/...` in one tree.

The repository installs `signalstack.core` from `core/` and so on (pyproject.toml's package-dir), which a static
reader of the source cannot follow. This hook links the folders (and copies the top package's modules) into
`build/docs-python/signalstack/` before the pages are rendered, from the same package-dir mapping, so a package
added there is documented without a change here.
"""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TREE = ROOT / "build" / "docs-python"


def link_tree() -> Path:
    """Make `TREE` (the folder to give griffe as its search path) and return it."""
    mapping = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]["package-dir"]
    if TREE.exists():
        shutil.rmtree(TREE)
    for package, folder in sorted(mapping.items()):
        target = TREE.joinpath(*package.split("."))
        target.parent.mkdir(parents=True, exist_ok=True)
        if package == "signalstack":
            target.mkdir()
            for item in (ROOT / folder).iterdir():
                if item.suffix == ".py":  # copied: griffe looks for submodules beside a link's target
                    shutil.copy2(item, target / item.name)
        else:
            target.symlink_to(ROOT / folder, target_is_directory=True)
    return TREE


def on_startup(command: str, dirty: bool) -> None:
    """mkdocs hook: the tree is made before any plugin's `on_config`.

    mkdocstrings fixes its search paths in its own `on_config`, from the folders that exist then: a tree made
    in this hook's `on_config` came too late on a fresh clone, and griffe found the repository's own
    `signalstack/` folder (the top package without its subpackages) instead.
    """
    link_tree()


if __name__ == "__main__":  # `python docs/_gen/source_tree.py`: the tree mypy reads (pyproject.toml's [tool.mypy])
    print(link_tree())
