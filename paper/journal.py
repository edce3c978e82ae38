"""`Journal`: the append-only record of a paper run, in SQLite, written before each action it records.

A paper run must survive a crash at any instant, so every step is journaled first and acted on
second: a bar is journaled before the strategy sees it, an order before the broker gets it, a stop
before the run stops. The database runs in WAL mode with `synchronous=FULL`, and `paper status` can
read while a run writes.

Durability is group-committed: an event that precedes an action outside the run's own re-derivable
computation (`DURABLE`: an order reaching the broker, a stop, the start or resume of a run) commits
before `append` returns, together with every event appended before it; the others (bars, signals,
decisions, fills, snapshots, ...) join the open transaction and are on disk at the next commit, or
at `flush` (feeds flush before they wait for a bar, and before a pushed bar is acknowledged) or
`close`. A crash loses at most events no action outside the run has followed: the resumed run reads
those bars again from their source and re-derives the rest. One fsync per bar or order instead of
one per event is what lets a paper run on a real disk keep up with its feeds.

An event's payload is one of the typed kinds of `events`, and the journal keeps the `events.SCHEMA` it
was created with (SQLite's user_version). Every event has a natural key (`bar:SPY:2020-01-02T00:00:00`,
`order:<id>`, ...). A resumed run re-derives the events of the step the crash interrupted; appending
one that is already there is a no-op when its payload is the same and an error when it differs, so a
resumed run can neither duplicate an order nor silently diverge from what it journaled before.

One process writes a journal at a time: a writer holds its `lease.Lease` from open to close, and records
itself with its first event as a *session* (pid, host, start, the last event before it) in a table beside
the events. Its
heartbeat there is refreshed at most every `HEARTBEAT_SECONDS`, inside whatever transaction is open (a
flush while the feeds wait commits it alone), so it costs no fsync of its own per bar; `close` marks the
session ended. A status tells a live run (lease held) from one that stopped (session ended) or died.

`listen` subscribes a callable to every event a writer appends (not to a re-derived one it already had),
called after the append in the appending thread: how a run announces what it does (`paper.progress`).
"""

from __future__ import annotations

import json
import logging
import math
import os
import signal
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, Self, TypeVar

from signalstack.core.errors import SignalstackError

from .events import KINDS, SCHEMA, Payload, RunConfig
from .lease import Holder, Lease

log = logging.getLogger(__name__)

DURABLE = frozenset({"config", "resume", "order", "stop"})
"""Kinds whose events commit before `append` returns: each precedes an action the run cannot take back."""

KILL_AFTER_ENV = "SIGNALSTACK_PAPER_KILL_AFTER_SEQ"
"""Crash-test hook: when set to N, the process SIGKILLs itself right after the commit that makes event
N durable, between journaling an action and taking it (tests/paper/test_crash.py)."""

HEARTBEAT_SECONDS = 1.0
"""How often a writer refreshes its session's heartbeat: often enough that a stuck run shows within
seconds, seldom enough to cost nothing next to a bar's work."""

_TABLES = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    kind TEXT NOT NULL,
    key TEXT NOT NULL UNIQUE,
    symbol TEXT,
    time TEXT,
    payload TEXT NOT NULL
);
CREATE TRIGGER IF NOT EXISTS events_no_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'the journal is append-only'); END;
CREATE TRIGGER IF NOT EXISTS events_no_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'the journal is append-only'); END;
CREATE INDEX IF NOT EXISTS events_by_kind ON events (kind, seq);
CREATE TABLE IF NOT EXISTS sessions (
    session INTEGER PRIMARY KEY AUTOINCREMENT,
    pid INTEGER NOT NULL,
    host TEXT NOT NULL,
    started REAL NOT NULL,
    after_seq INTEGER NOT NULL,
    heartbeat REAL NOT NULL,
    ended REAL
);
"""


class JournalError(SignalstackError, RuntimeError):
    """The journal cannot be opened, written or trusted; the run stops before acting.

    Also a RuntimeError, the class it was before errors had one root, so that existing `except` clauses still
    catch it."""


P = TypeVar("P", bound=Payload)


@dataclass(frozen=True)
class Event(Generic[P]):
    """One journaled event: `seq` orders them, `at` is the wall-clock time it was written."""

    seq: int
    at: float
    kind: str
    key: str
    symbol: str | None
    time: str | None
    payload: P


Listener = Callable[[Event[Any]], None]
"""What `Journal.listen` calls with each event appended."""


@dataclass(frozen=True)
class Session:
    """One process's time writing the journal."""

    number: int
    holder: Holder
    after_seq: int
    """The last event journaled before it began (0: none): its events are those after."""
    heartbeat: float
    """Unix seconds of its last heartbeat."""
    ended: float | None
    """Unix seconds when it closed the journal; None while it writes, or when it died."""


class Journal:
    """An append-only event log in one SQLite file; a context manager that closes it.

    `readonly` opens an existing journal for reading while a run may be writing it; a writer holds the
    journal's lease until it closes (`lease.LeaseHeld` when another process does). `max_pages` caps the
    database size (SQLite's max_page_count), which is how tests simulate a full disk. One journal serves
    the threads of a run (one per feed), one call at a time.
    """

    def __init__(self, path: str | Path, *, readonly: bool = False, max_pages: int | None = None) -> None:
        self.path = Path(path)
        self.readonly = readonly
        self._kill_after = int(os.environ[KILL_AFTER_ENV]) if os.environ.get(KILL_AFTER_ENV) else None
        self._lock = threading.Lock()
        self._newest = 0  # the last sequence number appended (committed or pending)
        self._broken: str | None = None  # why a write failed: its transaction was rolled back, nothing more goes in
        self._listeners: list[Listener] = []
        self._session: int | None = None  # this writer's row in the sessions table
        self._ended = False
        self._beat_due = math.inf  # when the heartbeat is next refreshed
        self._lease: Lease | None = None
        if readonly and not self.path.is_file():
            raise JournalError(f"journal {self.path}: no such file (expected the --journal of a paper run)")
        if not readonly:
            try:
                self._lease = Lease(self.path)
            except OSError as exc:
                raise JournalError(
                    f"journal {self.path}: cannot write it ({exc}); expected a writable SQLite file path"
                ) from None
        try:
            self._open(readonly, max_pages)
        except BaseException:
            if self._lease is not None:
                self._lease.release()
            raise

    def _open(self, readonly: bool, max_pages: int | None) -> None:
        try:
            if readonly:
                self._db = sqlite3.connect(
                    f"{self.path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None, check_same_thread=False
                )
            else:
                # transactions are opened and committed by hand (see the module docstring)
                self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=FULL")
                self._db.executescript(_TABLES)
                if max_pages is not None:
                    self._db.execute(f"PRAGMA max_page_count={int(max_pages)}")
            empty = self._db.execute("SELECT count(*) FROM events").fetchone()[0] == 0
            if empty and not readonly:
                self._db.execute(f"PRAGMA user_version={SCHEMA}")
            # the events.SCHEMA it was created with, kept when resumed; schema 1 journals never set it
            self.schema: int = self._db.execute("PRAGMA user_version").fetchone()[0] or 1
        except sqlite3.Error as exc:
            what = "read" if readonly else "write"
            raise JournalError(
                f"journal {self.path}: cannot {what} it ({exc}); expected a "
                f"{'paper journal' if readonly else 'writable SQLite file path'}"
            ) from None
        if self.schema > SCHEMA:
            self._db.close()
            raise JournalError(
                f"journal {self.path}: schema {self.schema}, written by a newer signalstack; expected "
                f"schema {SCHEMA} or older (upgrade signalstack to read it)"
            )

    def _begin_session(self, now: float) -> None:
        """Record this writer as a session, in the transaction of its first event (the lock held): a writer
        that writes nothing (a refused resume) leaves no session."""
        assert self._lease is not None
        holder = self._lease.holder
        after = self._db.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0]
        cursor = self._db.execute(
            "INSERT INTO sessions (pid, host, started, after_seq, heartbeat) VALUES (?, ?, ?, ?, ?)",
            (holder.pid, holder.host, holder.started, after, now),
        )
        self._session = int(cursor.lastrowid)
        self._beat_due = now + HEARTBEAT_SECONDS

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *error: object) -> None:
        self.close()

    def close(self) -> None:
        """Commit what is pending, end the session (`end_session`) and close, letting the lease go; JournalError
        when the commit fails. A journal whose write failed has nothing left to commit (that failure was
        raised to its writer) and just closes."""
        try:
            if not self.readonly and self._broken is None:
                self.end_session()
        finally:
            self._db.close()
            if self._lease is not None:
                self._lease.release()

    def end_session(self) -> None:
        """Commit what is pending and mark the session ended (once): the writer has written its last event. A
        run reads its final status between this and `close`, so that its close, the last, tidies up the
        WAL (a read-only connection cannot)."""
        with self._lock:
            self._check_intact("end the session")
            if self._session is not None and not self._ended:
                self._write_session(ended=True)
                self._ended = True
            self._commit("the session's end")

    def flush(self) -> None:
        """Make every event appended so far durable (a no-op when all are, unless the heartbeat is due);
        JournalError when they cannot be."""
        with self._lock:
            self._check_intact("commit pending events")
            if time.time() >= self._beat_due:
                self._write_session()
            self._commit("pending events")

    def listen(self, listener: Listener) -> None:
        """Call `listener` with every event appended from now on (see the module docstring); its errors are
        logged, never raised to the writer."""
        self._listeners.append(listener)

    def _write_session(self, *, ended: bool = False) -> None:
        """Stamp the session's heartbeat (and its end, with `ended`) with the time, in the open transaction or a
        new one (the lock held)."""
        now = time.time()
        try:
            if not self._db.in_transaction:
                self._db.execute("BEGIN IMMEDIATE")
            self._db.execute(
                "UPDATE sessions SET heartbeat = ?, ended = ? WHERE session = ?",
                (now, now if ended else None, self._session),
            )
        except sqlite3.Error as exc:
            self._abandon(exc)
            raise JournalError(
                f"journal {self.path}: cannot write the session's {'end' if ended else 'heartbeat'} ({exc}); stopped"
            ) from None
        self._beat_due = now + HEARTBEAT_SECONDS

    def append(self, payload: Payload, key: str, *, symbol: str | None = None, time_: str | None = None) -> int | None:
        """Journal an event and return its sequence number; None when an event with `key` is already
        there with the same payload (a re-derived step of a resumed run). A `DURABLE` kind is on disk
        when this returns, with all events before it; the others at the next commit (module docstring).

        Raises JournalError when the event cannot be written (read-only file, full disk) or when `key`
        is journaled with a different payload: the caller must not take the action it records.
        """
        kind, text, now = payload.KIND, _dumps(payload.encode()), time.time()
        with self._lock:
            self._check_intact(f"write {kind} event {key}")
            try:
                if not self._db.in_transaction:
                    self._db.execute("BEGIN IMMEDIATE")
                if self._session is None and self._lease is not None:
                    self._begin_session(now)
                cursor = self._db.execute(
                    "INSERT INTO events (at, kind, key, symbol, time, payload) VALUES (?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (key) DO NOTHING",
                    (now, kind, key, symbol, time_, text),
                )
                if now >= self._beat_due:
                    self._write_session()
            except sqlite3.Error as exc:
                self._abandon(exc)
                raise JournalError(
                    f"journal {self.path}: cannot write {kind} event {key} ({exc}); stopped before acting on it"
                ) from None
            seq = int(cursor.lastrowid) if cursor.rowcount else None
            before = None if seq else self._db.execute("SELECT payload FROM events WHERE key = ?", (key,)).fetchone()[0]
            if seq is not None:
                self._newest = seq
            if kind in DURABLE:
                self._commit(f"{kind} event {key}")
        if seq is None:
            if before != text:
                raise JournalError(
                    f"journal {self.path}: event {key} was journaled as {before}, the resumed run "
                    f"now makes it {text}; expected the same (has the model or the feed file "
                    "changed?)"
                )
            return None
        if self._listeners:
            self._announce(Event(seq, now, kind, key, symbol, time_, payload))
        return seq

    def _announce(self, event: Event[Any]) -> None:
        for listener in self._listeners:
            try:
                listener(event)
            except Exception:
                log.exception("journal %s: listener %r failed on event %s", self.path, listener, event.key)

    def _commit(self, what: str) -> None:
        """Commit the open transaction, if any (the lock held); fire the crash-test hook once its event is in."""
        if not self._db.in_transaction:
            return
        try:
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            self._abandon(exc)
            raise JournalError(
                f"journal {self.path}: cannot commit {what} ({exc}); stopped before acting on it"
            ) from None
        if self._kill_after is not None and self._newest >= self._kill_after:
            os.kill(os.getpid(), signal.SIGKILL)

    def _abandon(self, why: sqlite3.Error) -> None:
        """Roll back a transaction that failed: its events are not journaled, and the run stops. The journal
        takes nothing more: a later write would follow a hole where the rolled-back events were (another
        feed's thread, a pushed bar's acknowledgement, must not count them as durable)."""
        self._broken = str(why)
        if self._db.in_transaction:
            with suppress(sqlite3.Error):
                self._db.execute("ROLLBACK")

    def _check_intact(self, what: str) -> None:
        """JournalError when an earlier write failed (the lock held)."""
        if self._broken is not None:
            raise JournalError(
                f"journal {self.path}: cannot {what}: an earlier write failed ({self._broken}) and "
                "its events were rolled back; stopped before acting on it"
            )

    def events(self, kinds: Sequence[str] = ()) -> list[Event]:
        """Events of the given kinds (all when empty), in sequence order."""
        where = f" WHERE kind IN ({', '.join('?' * len(kinds))})" if kinds else ""
        return self._read(where, tuple(kinds))

    def last(self, kind: str, before: str | None = None) -> dict[str, Event]:
        """{symbol: its last event of `kind`}, of those whose bar time is before `before` when given; a status
        reads these rather than a whole run's events."""
        return {
            e.symbol or "": e
            for e in self._read(
                " WHERE seq IN (SELECT max(seq) FROM events"
                " WHERE kind = ? AND (? IS NULL OR time < ?) GROUP BY symbol)",
                (kind, before, before),
            )
        }

    def _read(self, where: str, parameters: tuple[Any, ...]) -> list[Event]:
        try:
            with self._lock:
                rows = self._db.execute(
                    "SELECT seq, at, kind, key, symbol, time, payload FROM events" + where + " ORDER BY seq", parameters
                ).fetchall()
        except sqlite3.Error as exc:
            raise JournalError(f"journal {self.path}: cannot read it ({exc})") from None
        return [
            Event(seq, at, kind, key, symbol, when, KINDS[kind].decode(json.loads(payload)))
            for seq, at, kind, key, symbol, when, payload in rows
        ]

    def sessions(self) -> list[Session]:
        """Every session that wrote the journal, in order (none in a journal older than sessions)."""
        try:
            with self._lock:
                rows = self._db.execute(
                    "SELECT session, pid, host, started, after_seq, heartbeat, ended FROM sessions ORDER BY session"
                ).fetchall()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return []
            raise JournalError(f"journal {self.path}: cannot read it ({exc})") from None
        return [
            Session(number, Holder(pid, host, started), after, beat, ended)
            for number, pid, host, started, after, beat, ended in rows
        ]

    def counts(self) -> dict[str, int]:
        """{kind: number of events} for every kind, zero included."""
        with self._lock:
            rows = dict(self._db.execute("SELECT kind, count(*) FROM events GROUP BY kind").fetchall())
        return {kind: int(rows.get(kind, 0)) for kind in KINDS}

    def config(self) -> RunConfig:
        """The run's configuration: the payload of its config event."""
        found = self.events(("config",))
        if not found:
            raise JournalError(f"journal {self.path}: no config event (expected a journal `paper run` wrote)")
        return found[0].payload


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), allow_nan=False)


def _dumps(payload: Mapping[str, Any]) -> str:
    """Canonical JSON (sorted keys; NaN as null), so a re-derived event compares equal as text.

    Most payloads are plain dicts of finite numbers and text, which the encoder takes as they are (a
    few µs, paid several times a bar); one holding NaN, an infinity or another kind of mapping is
    cleaned first and gives the same text it would have given clean.
    """
    try:
        return _CANONICAL.encode(payload)
    except (TypeError, ValueError):
        pass

    def clean(value: Any) -> Any:
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if isinstance(value, Mapping):
            return {str(k): clean(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [clean(v) for v in value]
        return value

    return _CANONICAL.encode(clean(payload))
