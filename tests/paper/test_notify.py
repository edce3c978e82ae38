"""`--notify URL`: a JSON document POSTed to a webhook on a run's start, fills, risk events, stop and resume;
a webhook that hangs, refuses or is slow never holds a bar back, and each failure is journaled."""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from signalstack.cli import main
from signalstack.paper import notify
from signalstack.paper.config import PaperConfig
from signalstack.paper.kill_switch import request_stop
from signalstack.paper.runner import run_paper
from signalstack.plugin.settings import TradingSettings

from ..support import free_port
from .support import journal_count, journal_events, paper_args, wait_for

SECRET = "T0001/B0001/not-for-the-log"
"""A webhook path is a credential: it must never reach the journal or the log."""


class _Recorder(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.received.append((self.path, self.headers["Content-Type"], json.loads(body)))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: Any) -> None:
        pass


@contextmanager
def webhook() -> Iterator[tuple[str, list[tuple[str, str, dict[str, Any]]]]]:
    """A webhook on 127.0.0.1 that answers 200 to every POST: its URL (with a secret path) and what it received."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    server.received = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/services/{SECRET}", server.received
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def hanging() -> Iterator[str]:
    """The URL of an endpoint that accepts connections and never answers."""
    listener = socket.create_server(("127.0.0.1", 0), backlog=64)
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/hook/{SECRET}"
    finally:
        listener.close()


def test_notifications_of_the_start_fills_risk_events_and_stop_reach_a_webhook(
    paper_model: Path,
    replay_csv: Path,
    start: str,
    thresholds: dict[str, float],
    journal_dir: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    journal = journal_dir / "notified.sqlite"
    with webhook() as (url, received):
        assert (
            main(
                [
                    "paper",
                    "run",
                    *paper_args(paper_model, replay_csv, start, thresholds),
                    "--stake",
                    "0.9",
                    "--max-position",
                    "0.4",
                    "--journal",
                    str(journal),
                    "--notify",
                    url,
                    "--notify",
                    url,
                ]
            )
            == 0
        )
    events = {e.key: e for e in journal_events(journal)}
    told = [doc for _, _, doc in received]
    assert {path for path, _, _ in received} == {f"/services/{SECRET}"}
    assert {kind for _, kind, _ in received} == {"application/json"}
    expected = [e for e in events.values() if e.kind in notify.NOTIFIED]
    assert len(told) == 2 * len(expected)  # every document to each of the two URLs given
    assert sorted(d["seq"] for d in told) == sorted([e.seq for e in expected] * 2)
    kinds = [d["event"] for d in sorted(told, key=lambda d: d["seq"])[::2]]
    assert kinds[0] == "config" and kinds[-1] == "stop" and "fill" in kinds and "risk" in kinds
    for doc in told:
        event = events[doc["key"]]
        assert (doc["seq"], doc["symbol"], doc["time"], doc["event"]) == (
            event.seq,
            event.symbol,
            event.time,
            event.kind,
        )
        assert doc["data"] == json.loads(json.dumps(event.payload.encode()))
        assert doc["text"] == doc["content"] and doc["text"].startswith(f"signalstack paper {doc['run_id']}: ")
    fill = next(d for d in told if d["event"] == "fill")
    assert f"{abs(fill['data']['size']):g} at {fill['data']['price']:,.4f}" in fill["text"]
    assert next(d for d in told if d["event"] == "stop")["text"].endswith("stopped: feeds ended")
    risk = next(d for d in told if d["event"] == "risk")
    assert f"risk limit max_position: {risk['data']['value']:.4g} against 0.4 (order " in risk["text"]
    assert journal_count(journal, "notify_failed") == 0
    assert SECRET not in caplog.text and SECRET.encode() not in journal.read_bytes()


def test_a_stopped_run_says_so_and_its_resume_is_notified(
    paper_model: Path, replay_csv: Path, start: str, thresholds: dict[str, float], journal_dir: Path
) -> None:
    journal = journal_dir / "resumed.sqlite"
    with webhook() as (url, received):
        done: dict[str, int] = {}
        thread = threading.Thread(
            target=lambda: done.setdefault(
                "run",
                main(
                    [
                        "paper",
                        "run",
                        *paper_args(paper_model, replay_csv, start, thresholds, pace=0.02),
                        "--journal",
                        str(journal),
                        "--notify",
                        url,
                    ]
                ),
            )
        )
        thread.start()
        wait_for(lambda: journal_count(journal, "snapshot") >= 20, "20 live bars")
        request_stop(journal)
        thread.join(60)
        assert done["run"] == 0
        assert main(["paper", "resume", "--journal", str(journal), "--notify", url]) == 0
    said = [(doc["event"], doc["text"].split(": ", 1)[1]) for _, _, doc in received if doc["event"] != "fill"]
    assert said[0][0] == "config" and said[1] == ("stop", "stopped: kill switch")
    assert said[2][0] == "resume" and said[2][1].startswith("resumed after ")
    assert said[3] == ("stop", "stopped: feeds ended") and len(said) == 4


def test_a_hanging_or_refusing_webhook_never_holds_a_bar_back_and_each_failure_is_journaled(
    paper_model: Path,
    replay_csv: Path,
    start: str,
    thresholds: dict[str, float],
    journal_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(notify, "DRAIN_S", 1.0)  # the test's own patience at the end; the bars never wait
    monkeypatch.setattr(notify, "BACKOFF_S", 0.05)
    monkeypatch.setattr(notify, "QUEUE_SIZE", 4)  # the hanging endpoint's queue fills: documents are dropped
    feeds = [f"replay:{replay_csv}?pace=0&start={start}"]
    trading = TradingSettings(**thresholds, allow_short=True, stake=0.9)

    def bar_loop(journal: Path, urls: tuple[str, ...]) -> float:
        """Seconds from the first live bar's account snapshot to the last one's, as journaled."""
        run_paper(PaperConfig(model=paper_model, feeds=feeds, trading=trading, notify=urls), journal)
        snapshots = journal_events(journal, "snapshot")
        return snapshots[-1].at - snapshots[0].at

    refused = f"http://127.0.0.1:{free_port()}/hook/{SECRET}"
    with hanging() as hang, caplog.at_level(logging.WARNING, "signalstack.paper.notify"):
        runs = [
            (bar_loop(journal_dir / f"quiet{i}.sqlite", ()), bar_loop(journal_dir / f"hung{i}.sqlite", (hang, refused)))
            for i in range(2)
        ]
    quiet, hung = min(q for q, _ in runs), min(h for _, h in runs)
    # Were a bar to wait for the webhook, each of the run's notifications would cost TIMEOUT_S (5 s).
    assert hung < 2 * quiet + 0.5, f"bar loop {hung:.3f} s with a hanging webhook, {quiet:.3f} s without"
    failed = journal_events(journal_dir / "hung1.sqlite", "notify_failed")
    notified = [e for e in journal_events(journal_dir / "hung1.sqlite") if e.kind in notify.NOTIFIED]
    where = {e.payload.target for e in failed}
    assert where == {hang.split("/hook")[0], refused.split("/hook")[0]}  # scheme, host and port only
    for url in (hang, refused):  # every document to each endpoint failed, none lost without a word
        assert sorted(e.payload.event for e in failed if url.startswith(e.payload.target)) == sorted(
            e.key for e in notified
        )
    assert {e.payload.error for e in failed} >= {
        "4 notifications already waiting (the endpoint is slow or down): dropped",
        "still queued 1 s after the run ended",
    }
    assert any("refused" in e.payload.error.lower() and e.payload.attempts == notify.ATTEMPTS for e in failed)
    assert SECRET not in caplog.text and "failed after" in caplog.text
    assert not [f for f in journal_dir.iterdir() if SECRET.encode() in f.read_bytes()]


def test_a_notify_url_that_is_not_http_is_named_without_its_path(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(
            [
                "paper",
                "run",
                "--model",
                "m.onnx",
                "--feed",
                "replay:x.csv",
                "--journal",
                "x.sqlite",
                "--notify",
                f"ftp://desk/{SECRET}",
            ]
        )
        == 1
    )
    err = capsys.readouterr().err
    assert "notify[0]: notify URL 'ftp://desk': expected http://HOST[:PORT]/PATH or https://..." in err
    assert SECRET not in err
    assert PaperConfig(model="m.onnx", feeds=["replay:x.csv"], notify="https://hooks.example/x").notify == (
        "https://hooks.example/x",
    )
    assert notify.target("https://hooks.example:8443/services/T/B/C?x=1") == "https://hooks.example:8443"


def test_a_stale_policy_action_is_said_in_one_line_and_waits_for_the_bar_to_end() -> None:
    """The stale-signal policy's action is notified; a bar's documents are queued once its snapshot is journaled."""
    from signalstack.paper.events import Stale
    from signalstack.paper.journal import Event
    from signalstack.paper.notify import STEP_ENDS, notification

    event = Event(
        7,
        1_600_000_000.0,
        "stale",
        "stale:spx:3",
        "spx",
        "2020-01-02T00:00:00",
        Stale(bars=3, action="flatten", position=12.0, since="2019-12-30T00:00:00"),
    )
    document = notification(event, "run1")
    assert document["text"] == (
        "signalstack paper run1: spx had no fresh signal for 3 bars: position 12 flattened "
        "on the bar of 2020-01-02T00:00:00"
    )
    assert document["data"] == {"bars": 3, "action": "flatten", "position": 12.0, "since": "2019-12-30T00:00:00"}
    assert "snapshot" in STEP_ENDS and not {"fill", "risk", "stale"} & STEP_ENDS
