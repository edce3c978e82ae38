"""The lease of a journal: one writer at a time, held by the writing process for as long as it writes.

Two processes writing one journal would both trade (each placing the orders its own bars decide), so a
`Journal` opened for writing first takes its lease: an exclusive `flock` on a file beside the journal
(`lease_file`), named after it, which holds the holder's pid, host and start time as JSON for the
message that refuses a second writer. The lock is the operating system's, held by the open file, so
it is gone the instant its process is (exit, SIGKILL, a crash): a resumed run then takes it over
without anyone having to clean up. A separate file, not the journal, because SQLite keeps POSIX locks
on the journal itself, which any close of the file by this process would drop.

Readers never take it: `is_held` only asks whether it is held, with a shared lock tried for an instant
(which a writer that happens to try at that instant waits out: `Lease` retries for `RETRY_SECONDS`).
The holder unlinks the file as it lets go, so a run that ended leaves nothing beside its journal; one
that died leaves the file, unlocked, which the next writer locks and rewrites.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from signalstack.core.errors import SignalstackError

RETRY_SECONDS = 1.0
"""How long a writer tries for a lease that is locked before it refuses: a reader's probe holds it for
microseconds, a writer for its whole life."""


class LeaseHeld(SignalstackError):
    """Another process writes the journal."""


@dataclass(frozen=True)
class Holder:
    """The process that holds (or held) a journal's lease."""

    pid: int
    host: str
    started: float
    """Unix seconds when it took the lease."""

    def describe(self) -> str:
        """`pid 123 on host, since 2020-01-02T10:00:00 UTC`."""
        since = dt.datetime.fromtimestamp(self.started, dt.UTC).replace(tzinfo=None, microsecond=0)
        return f"pid {self.pid} on {self.host}, since {since.isoformat()} UTC"


def lease_file(journal: Path) -> Path:
    """The lease file of the journal at `journal`: beside it, named after it."""
    return journal.with_name(journal.name + ".lock")


class Lease:
    """The lease of the journal at `journal`, taken when made (LeaseHeld when another process holds it;
    OSError when the file cannot be made); `release` lets it go and removes the file."""

    def __init__(self, journal: Path) -> None:
        self.path = lease_file(journal)
        self.holder = Holder(os.getpid(), socket.gethostname(), time.time())
        deadline = time.monotonic() + RETRY_SECONDS
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                if time.monotonic() < deadline:
                    time.sleep(0.02)
                    continue
                held = _read_holder(self.path)
                raise LeaseHeld(
                    f"journal {journal}: written by {held.describe() if held else 'another process'} "
                    "(expected no other writer: one run writes a journal at a time; `paper status` "
                    "reads it meanwhile, `paper stop` stops it)"
                ) from None
            if _same_file(fd, self.path):
                break
            os.close(fd)  # its holder removed it between our open and our lock: lock the new one
        self._fd = fd
        text = json.dumps({"pid": self.holder.pid, "host": self.holder.host, "started": self.holder.started})
        os.ftruncate(fd, 0)
        os.pwrite(fd, text.encode(), 0)

    def release(self) -> None:
        """Let the lease go (the file removed first, so that no one locks a file on its way out)."""
        if self._fd < 0:
            return
        try:
            self.path.unlink(missing_ok=True)
        finally:
            os.close(self._fd)
            self._fd = -1


def is_held(journal: Path) -> bool:
    """Whether a process holds the lease of the journal at `journal` (its run is alive); never takes it."""
    try:
        fd = os.open(lease_file(journal), os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # also lets go of the shared lock, when it was had
    return False


def _read_holder(path: Path) -> Holder | None:
    """The holder the lease file names; None while its writer has not written it yet."""
    try:
        doc = json.loads(path.read_text() or "null")
        return None if doc is None else Holder(int(doc["pid"]), str(doc["host"]), float(doc["started"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.fstat(fd).st_ino == os.stat(path).st_ino
    except FileNotFoundError:
        return False


__all__ = ["Holder", "Lease", "LeaseHeld", "is_held", "lease_file"]
