"""The kill switch of a paper run: a file beside its journal that the running strategies look for
on their first bar, then on the first bar after every `POLL_SECONDS`.

A file, not a signal or a socket, so that `paper stop` works from any shell without knowing the
run's process, and a request made while the run is down is honoured as soon as it resumes.
"""

from __future__ import annotations

import json
from pathlib import Path

from .events import Stop

POLL_SECONDS = 0.1
"""How often a running paper run looks for the switch: a file system call on every bar of a fast
replay would cost more than the rest of the bar's bookkeeping, and a person waits 0.1 s unnoticed."""


def stop_file(journal: Path) -> Path:
    """The kill-switch file of the run journaled at `journal`: beside it, named after it."""
    return journal.with_name(journal.name + ".stop")


def request_stop(journal: str | Path, flatten: bool = False) -> Path:
    """Set the kill switch of the run journaled at `journal`: its strategies stop at their next bar,
    closing their positions first with `flatten`. Returns the switch file."""
    path = Path(journal)
    if not path.is_file():
        raise ValueError(f"journal {path}: no such file (expected the --journal of a `paper run`)")
    switch = stop_file(path)
    switch.write_text(json.dumps({"flatten": flatten}))
    return switch


def stop_request(journal: Path) -> Stop | None:
    """The pending request when the switch is set, else None. An unreadable switch file still stops
    the run, without flattening."""
    switch = stop_file(journal)
    if not switch.exists():
        return None
    try:
        flatten = bool(json.loads(switch.read_text() or "{}").get("flatten", False))
    except (OSError, ValueError, AttributeError):
        flatten = False
    return Stop("kill switch", flatten)
