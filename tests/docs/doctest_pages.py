"""The code of a documentation page as one shell script that runs it the way a reader would, block after block.

A page's fenced ```bash, ```console and ```python blocks run in order in one bash process (so `cd`, variables,
background jobs `&` and `kill %1` carry from block to block, as in the reader's terminal); a python block is
written to a file and run with the test's interpreter. Markers are HTML comments, invisible on the site:

- `<!-- doctest: skip REASON -->` on the line before a block: shown, not run (a long-lived server, an install).
- `<!-- doctest: needs PROGRAM ... -->` before a block: run only where each PROGRAM is on PATH; the test says when
  not.
- `<!-- doctest: wait-port PORT -->` before a block: first wait (60 s at most) until 127.0.0.1:PORT accepts.
- `<!-- doctest: replace "OLD" "NEW" -->` anywhere: OLD becomes NEW in every block (smaller data or epochs).
- `<!-- doctest: free-port PORT -->` anywhere: PORT becomes a free port in every block and marker.
- `<!-- doctest: after PAGE -->` anywhere: the page starts in a copy of PAGE's folder after PAGE ran.

A block of any language with a title (```` ```javascript title="client.js" ````, shown by the site as the file's
name) is the file of that name: it is written into the folder when the script reaches it, not run.
"""

from __future__ import annotations

import re
import shlex
import socket
from dataclasses import dataclass, field
from pathlib import Path

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>```+|~~~+)(?P<info>[^\n]*)$")
_TITLE = re.compile(r'title="(?P<title>[^"]+)"')
_MARKER = re.compile(r"<!--\s*doctest:\s*(?P<verb>[\w-]+)\s*(?P<rest>.*?)\s*-->")
RUN_LANGUAGES = {
    "bash": "bash",
    "sh": "bash",
    "shell": "bash",
    "console": "console",
    "python": "python",
    "py": "python",
}


@dataclass
class Block:
    """One fenced block of a page."""

    language: str
    code: str
    line: int
    skip: str | None = None
    title: str | None = None
    needs: list[str] = field(default_factory=list)
    wait_ports: list[str] = field(default_factory=list)


@dataclass
class Page:
    """A page's runnable blocks and its page-wide markers."""

    path: Path
    blocks: list[Block]
    replacements: list[tuple[str, str]]
    free_ports: list[str]
    after: str | None


def read_page(path: Path) -> Page:
    """The blocks of `path` in a language that runs, with the markers that apply to each."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    replacements: list[tuple[str, str]] = []
    free_ports: list[str] = []
    after: str | None = None
    pending: dict[str, list[str]] = {"skip": [], "needs": [], "wait-port": []}
    i = 0
    while i < len(lines):
        for marker in _MARKER.finditer(lines[i]):
            verb, rest = marker["verb"], marker["rest"]
            if verb == "replace":
                old, new = shlex.split(rest)
                replacements.append((old, new))
            elif verb == "free-port":
                free_ports.append(rest)
            elif verb == "after":
                after = rest
            elif verb == "needs":
                pending[verb] += rest.split()
            elif verb in pending:
                pending[verb].append(rest)
            else:
                raise ValueError(
                    f"{path}:{i + 1}: unknown doctest marker {verb!r} (expected skip, needs, wait-port, "
                    "replace, free-port or after)"
                )
        fence = _FENCE.match(lines[i])
        if fence is None:
            i += 1
            continue
        info = fence["info"].strip().split()
        language = info[0].lstrip("{.").lower() if info else ""
        start, body = i, []
        i += 1
        while i < len(lines) and not lines[i].strip().startswith(fence["fence"]):
            body.append(lines[i][len(fence["indent"]) :])
            i += 1
        i += 1
        title = _TITLE.search(fence["info"])
        if language in RUN_LANGUAGES or title:
            blocks.append(
                Block(
                    RUN_LANGUAGES.get(language, language),
                    "\n".join(body) + "\n",
                    start + 1,
                    skip=" ".join(pending["skip"]) or None,
                    title=title["title"] if title else None,
                    needs=pending["needs"],
                    wait_ports=pending["wait-port"],
                )
            )
        pending = {"skip": [], "needs": [], "wait-port": []}
    return Page(path, blocks, replacements, free_ports, after)


def free_port() -> int:
    """A port nothing listens on now (the OS's choice)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def script(page: Page, folder: Path, python: str, missing: set[str]) -> tuple[str, list[str]]:
    """The bash script that runs `page`'s blocks in `folder`, and the reasons of the blocks it leaves out.

    `missing` names the programs not on PATH (their blocks are left out, saying so)."""
    ports = {port: str(free_port()) for port in page.free_ports}
    out = [
        "set -euo pipefail",
        "trap 'jobs -p | xargs -r kill 2>/dev/null || true' EXIT",
        f'python() {{ {shlex.quote(python)} "$@"; }}',
        "export -f python",
    ]
    skipped = []
    for n, block in enumerate(page.blocks):
        where = f"{page.path.name}:{block.line}"
        if block.skip:
            skipped.append(f"{where}: not run ({block.skip})")
            continue
        absent = [program for program in block.needs if program in missing]
        if absent:
            skipped.append(f"{where}: not run, {', '.join(absent)} not installed")
            continue
        code = _substituted(block.code, page.replacements, ports)
        out.append(f"echo '>>> block {n} ({where})'")
        for port in block.wait_ports:
            out.append(f"{shlex.quote(python)} -c {shlex.quote(_WAIT.format(port=ports.get(port, port)))}")
        if block.title is not None:
            out.append(f"cat > {shlex.quote(block.title)} <<'DOCTEST_FILE_END'\n{code}DOCTEST_FILE_END")
        elif block.language == "python":
            name = f".doctest_{n}.py"
            (folder / name).write_text(code, encoding="utf-8")
            out.append(f"{shlex.quote(python)} {name}")
        elif block.language == "console":
            out.append("\n".join(line[2:] for line in code.splitlines() if line.startswith("$ ")))
        else:
            out.append(code)
    out.append("echo '>>> done'")
    return "\n".join(out) + "\n", skipped


def _substituted(code: str, replacements: list[tuple[str, str]], ports: dict[str, str]) -> str:
    for old, new in replacements:
        code = code.replace(old, new)
    for old, new in ports.items():
        code = code.replace(old, new)
    return code


_WAIT = (
    "import socket, time\n"
    "deadline = time.monotonic() + 60\n"
    "while True:\n"
    "    try:\n"
    "        socket.create_connection(('127.0.0.1', {port}), timeout=1).close()\n"
    "        break\n"
    "    except OSError:\n"
    "        if time.monotonic() > deadline: raise SystemExit('nothing listens on port {port} after 60 s')\n"
    "        time.sleep(0.2)\n"
)
