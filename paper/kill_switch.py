"""The kill switch of a paper run: a file beside its journal that the running strategies look for
on their first bar, then on the first bar after every `POLL_SECONDS`.

A file, not a signal or a socket, so that `paper stop` works from any shell without knowing the
run's process. It is set only while the run lives (its journal's lease held): a run that is not
running has nothing to stop, and a file left for it would stop its next resume after one bar. The
session that was asked removes it when it ends, honoured or not.
"""

from __future__ import annotations

import json
from pathlib import Path

from signalstack.core.errors import NotFound, SignalstackError

from .events import Stop
from .journal import Journal
from .lease import is_held

POLL_SECONDS = 0.1
"""How often a running paper run looks for the switch: a file system call on every bar of a fast
replay would cost more than the rest of the bar's bookkeeping, and a person waits 0.1 s unnoticed."""


def stop_file(journal: Path) -> Path:
    """The kill-switch file of the run journaled at `journal`: beside it, named after it."""
    return journal.with_name(journal.name + ".stop")


class NotRunning(SignalstackError):
    """`paper stop` on a run that is not running: nothing to stop, nothing written."""


def request_stop(journal: str | Path, flatten: bool = False) -> Path:
    """Set the kill switch of the run journaled at `journal`: its strategies stop at their next bar,
    closing their positions first with `flatten`. Returns the switch file.

    Raises JournalError for a file that is not a paper journal, and NotRunning, leaving no file, when
    no process runs it (stopped, crashed, or ending as the switch was set)."""
    path = Path(journal)
    if not path.is_file():
        raise NotFound(f"journal {path}: no such file (expected the --journal of a `paper run`)")
    with Journal(path, readonly=True) as read:
        run = read.config()
    not_running = NotRunning(
        f"run {run.run_id} is not running (no process holds journal {path}): nothing to stop, no stop file written"
    )
    if not is_held(path):
        raise not_running
    switch = stop_file(path)
    switch.write_text(json.dumps({"flatten": flatten}))
    if not is_held(path):  # it ended meanwhile, perhaps before it could remove the file
        switch.unlink(missing_ok=True)
        raise not_running
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
