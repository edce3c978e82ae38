"""Text from the code made safe for a Markdown page: plain prose escaped, `code spans` kept as they are."""

from __future__ import annotations

import re

_SPECIAL = re.compile(r"([\\*_\[\]<>|#])")
_CODE = re.compile(r"(`[^`]*`)")


def text(value: object) -> str:
    """`value` as inline Markdown: its Markdown specials escaped outside code spans, its lines joined."""
    parts = _CODE.split(" ".join(str(value).split()))
    return "".join(
        part.replace("|", r"\|")
        if part.startswith("`") and part.endswith("`") and len(part) > 1
        else _SPECIAL.sub(r"\\\1", part)
        for part in parts
    )


def code(value: object) -> str:
    """`value` as a code span (a table cell's pipes escaped)."""
    shown = str(value)
    fence = "``" if "`" in shown else "`"
    pad = " " if "`" in shown else ""
    return f"{fence}{pad}{shown}{pad}{fence}".replace("|", r"\|")


def table(header: list[str], rows: list[list[str]]) -> str:
    """A Markdown table; the cells are already Markdown."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell.replace("\n", " ") for cell in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def text_paragraphs(value: str) -> str:
    """`value`'s paragraphs (split on blank lines) each as inline Markdown, a blank line between them."""
    return "\n\n".join(text(part) for part in value.split("\n\n") if part.strip())
