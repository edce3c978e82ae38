"""Markdown files that live beside their code (bench/README.md, examples/README.md, CHANGELOG.md) shown as pages of
the site, so their text is written once, where the code is."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def page(path: Path, title: str | None) -> str:
    """The Markdown file at `path` as a page; `title` replaces its first heading when given."""
    text = path.read_text(encoding="utf-8")
    if title is not None:
        first, _, rest = text.partition("\n")
        text = f"# {title}\n{rest}" if first.startswith("# ") else f"# {title}\n\n{text}"
    note = (
        f'\n!!! info "Source"\n    This page is `{path.relative_to(ROOT).as_posix()}` of the repository, '
        "included when the site was built.\n"
    )
    heading, _, body = text.partition("\n")
    return f"{heading}\n{note}\n{body}"
