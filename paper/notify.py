"""Notifications of a paper run: a small JSON document POSTed to each `--notify` URL when something a desk
must hear of is journaled (a start or resume, a fill, a risk breach, a stop).

A notification never holds a bar back. The journal hands each new event to `Notifier.announce` in the
run's thread, which only puts a document on a bounded queue per URL (`QUEUE_SIZE`); a thread per URL sends
them in order, each with `ATTEMPTS` tries `TIMEOUT_S` apart at most, backing off between them. A
document that cannot be sent (the endpoint refuses, hangs, answers an error, or its queue is full) is
logged and journaled as a `notify_failed` event, and the run goes on. When the run ends, the senders get
`DRAIN_S` seconds to deliver what is queued (the stop's notification among it).

The document is what Slack-, Discord- (`content`) and Teams-style incoming webhooks take as they are: a
`text` line for people, beside the structured fields a program reads (`run_id`, `event`, `key`, `seq`,
`symbol`, `time`, `at`, `data`: the journaled payload). `key` is the event's journal key: a document sent
twice (a run that crashed after sending it re-derives the event) says the same key.

A webhook URL's path is a secret (whoever has it may post to the channel): it is never journaled or
logged, only its scheme, host and port.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlsplit

from signalstack.core.errors import InvalidInput

from .events import NotifyFailed
from .journal import Event, Journal, JournalError

log = logging.getLogger(__name__)

NOTIFIED = frozenset({"config", "resume", "fill", "risk", "stale", "stop"})
"""The kinds of journal event a notification is sent for (`config`: the run's start)."""
STEP_ENDS = frozenset({"config", "resume", "snapshot", "portfolio", "stop"})
"""Kinds after which no bar is being handled: the documents of a bar's fills, risk and stale events wait for its
snapshot, so that their POSTs run between bars instead of competing with the bar's scoring and order for the
interpreter (measured: a bar's order p99 doubled with them sent at once; bench/README.md)."""
QUEUE_SIZE = 256
"""Documents waiting per URL; beyond it a new one is dropped (logged and journaled), never waited for."""
ATTEMPTS = 3
TIMEOUT_S = 5.0
"""Seconds one attempt may take, connecting and answering."""
BACKOFF_S = 1.0
"""The wait after the first failed attempt, doubled after each next one."""
DRAIN_S = 5.0
"""Seconds the senders get, when the run ends, to deliver what is still queued."""


def webhook_url(text: str) -> str:
    """`text`, checked to be an http or https URL with a host; InvalidInput otherwise."""
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput(f"notify URL {target(text)!r}: expected http://HOST[:PORT]/PATH or https://...")
    return text


def target(url: str) -> str:
    """What a log or the journal may say of `url`: its scheme, host and port (its path may be a secret)."""
    parts = urlsplit(url)
    if not parts.hostname:
        return url.split("/", 1)[0][:40]
    return f"{parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}"


def notification(event: Event, run_id: str) -> dict[str, Any]:
    """The document sent for `event` of run `run_id` (see the module)."""
    text = f"signalstack paper {run_id}: {_said(event)}"
    return {
        "text": text,
        "content": text,
        "run_id": run_id,
        "event": event.kind,
        "key": event.key,
        "seq": event.seq,
        "symbol": event.symbol,
        "time": event.time,
        "at": datetime.fromtimestamp(event.at, UTC).isoformat(timespec="milliseconds"),
        "data": event.payload.encode(),
    }


def _said(event: Event) -> str:
    """One line for people."""
    p, on = event.payload, f" on the bar of {event.time}" if event.time else ""
    match event.kind:
        case "config":
            return f"started: model {p.model_name} v{p.model_version} on {', '.join(p.symbols)}"
        case "resume":
            return "resumed after " + (
                ", ".join(f"{s} {t or 'no finished bar'}" for s, t in p.through.items()) or "no bar"
            )
        case "fill":
            return (
                f"{event.symbol} {'bought' if p.size > 0 else 'sold'} {abs(p.size):g} at {p.price:,.4f} "
                f"(commission {p.commission:,.2f}){on}"
            )
        case "risk":
            action = {"cut": "order cut", "blocked": "order blocked"}.get(p.action, p.action or "no action")
            return f"{event.symbol} risk limit {p.limit}: {p.value:.4g} against {p.threshold:.4g} ({action}){on}"
        case "stale":
            return (
                f"{event.symbol} had no fresh signal for {p.bars} bars: position {p.position:g} "
                f"{'flattened' if p.action == 'flatten' else 'held'}{on}"
            )
        case "stop":
            return f"stopped: {p.reason}{' (flattening positions)' if p.flatten else ''}" + (
                f": {p.error}" if p.error else ""
            )
        case _:
            return f"{event.kind}{f' {event.symbol}' if event.symbol else ''}{on}"


class Notifier:
    """Sends a run's notifications to `urls` (see the module); `announce` is the journal's listener.

    A context manager: leaving it gives the senders `DRAIN_S` seconds to deliver what is queued, then
    journals each document still undelivered.
    """

    def __init__(self, urls: Sequence[str], journal: Journal, run_id: str) -> None:
        self._journal, self._run_id = journal, run_id
        self._senders = [_Sender(webhook_url(url), self._failed) for url in urls]
        self._pending: list[dict[str, Any]] = []  # the documents of the bar being handled (STEP_ENDS)
        self._taking = threading.Lock()  # feeds of their own accounts journal from threads of their own
        self._closed = False  # no new document is taken
        self._done = False  # the journal may close: a failure is logged only
        self._lock = threading.Lock()

    def __enter__(self) -> Self:
        for sender in self._senders:
            sender.start()
        self._journal.listen(self.announce)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def announce(self, event: Event) -> None:
        """Take `event`'s document when it is a kind people hear of, and queue what was taken for every URL once
        the bar is handled (`STEP_ENDS`); returns at once."""
        if self._closed:
            return
        with self._taking:
            if event.kind in NOTIFIED:
                self._pending.append(notification(event, self._run_id))
            if event.kind not in STEP_ENDS or not self._pending:
                return
            documents, self._pending = self._pending, []
        for document in documents:
            for sender in self._senders:
                sender.put(document)

    def close(self) -> None:
        """Let the senders deliver for up to `DRAIN_S` seconds in all, then journal what is left undelivered."""
        if self._closed:
            return
        self._closed = True
        with self._taking:
            documents, self._pending = self._pending, []
        for document in documents:  # a bar that never ended (the run failed inside it)
            for sender in self._senders:
                sender.put(document)
        ends = time.monotonic() + DRAIN_S
        for sender in self._senders:
            sender.finish(ends)
        for sender in self._senders:
            for document in sender.abandon():
                self._failed(sender.url, document, 0, f"still queued {DRAIN_S:g} s after the run ended")
        with self._lock:
            self._done = True

    def _failed(self, url: str, document: dict[str, Any], attempts: int, error: str) -> None:
        """Log and journal a document that did not reach `url` (only log it once the run has ended); never
        raises: the run goes on."""
        where = target(url)
        log.warning("notification of %s to %s failed after %d attempts: %s", document["key"], where, attempts, error)
        with self._lock:
            if self._done:
                return
            try:
                self._journal.append(
                    NotifyFailed(document["key"], where, attempts, error),
                    f"notify_failed:{document['key']}:{where}:{time.time_ns()}",
                )
            except JournalError as exc:  # the journal broke meanwhile: the log line has said it
                log.warning("notification failure not journaled: %s", exc)


class _Sender:
    """One URL's queue and the daemon thread that POSTs its documents in order, with retries."""

    _END = object()

    def __init__(self, url: str, failed: Callable[[str, dict[str, Any], int, str], None]) -> None:
        self.url, self._failed = url, failed
        self._queue: queue.Queue[Any] = queue.Queue(QUEUE_SIZE)
        self._thread = threading.Thread(target=self._run, name=f"notify {target(url)}", daemon=True)
        self._stop = threading.Event()
        self._sending: dict[str, Any] | None = None

    def start(self) -> None:
        self._thread.start()

    def put(self, document: dict[str, Any]) -> None:
        try:
            self._queue.put_nowait(document)
        except queue.Full:
            self._failed(
                self.url,
                document,
                0,
                f"{QUEUE_SIZE} notifications already waiting (the endpoint is slow or down): dropped",
            )

    def finish(self, ends: float) -> None:
        """Ask the thread to end after what is queued and wait for it until `ends` (monotonic)."""
        try:
            self._queue.put(self._END, timeout=max(0.0, ends - time.monotonic()))
        except queue.Full:
            pass
        self._thread.join(max(0.0, ends - time.monotonic()))
        self._stop.set()  # a thread still sending gives up at its next wait

    def abandon(self) -> list[dict[str, Any]]:
        """The documents not delivered yet: the one still being sent, if any, and those still queued (taken off)."""
        sending = self._sending
        left = [sending] if sending is not None and self._thread.is_alive() else []
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return left
            if item is not self._END:
                left.append(item)

    def _run(self) -> None:
        while not self._stop.is_set():
            document = self._queue.get()
            if document is self._END:
                return
            self._sending = document
            self._send(document)
            self._sending = None

    def _send(self, document: dict[str, Any]) -> None:
        body = json.dumps(document, allow_nan=False, default=str).encode()
        error = ""
        for attempt in range(1, ATTEMPTS + 1):
            try:
                request = urllib.request.Request(
                    self.url, body, {"Content-Type": "application/json", "User-Agent": "signalstack-paper"}
                )
                with urllib.request.urlopen(request, timeout=TIMEOUT_S) as answer:
                    answer.read()
                return
            except urllib.error.HTTPError as exc:
                error = f"HTTP {exc.code} {exc.reason}"
                if 400 <= exc.code < 500 and exc.code not in (408, 429):
                    break  # the endpoint will not take it however often it is sent
            except (OSError, ValueError) as exc:  # refused, unreachable, timed out, a bad answer
                error = " ".join(str(getattr(exc, "reason", exc)).split()) or type(exc).__name__
            if attempt < ATTEMPTS and self._stop.wait(BACKOFF_S * 2 ** (attempt - 1)):
                break
        self._failed(self.url, document, attempt, error)


__all__ = [
    "ATTEMPTS",
    "BACKOFF_S",
    "DRAIN_S",
    "NOTIFIED",
    "QUEUE_SIZE",
    "TIMEOUT_S",
    "Notifier",
    "notification",
    "target",
    "webhook_url",
]
