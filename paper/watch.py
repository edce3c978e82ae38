"""`paper watch`: one page that follows paper runs while they trade, served from their journals, read-only.

`WatchServer` serves, with the standard library's threaded HTTP server:

- `/`: the page (`static/watch.html`, its script and style beside it: shipped in the package, no CDN, so
  it works without the internet);
- `/api/status`: for each journal, exactly what `paper status --json` prints (`RunStatus.as_dict`), or why
  it cannot be read yet;
- `/api/activity?journal=N`: what a status does not hold: the equity of the run's accounts against
  buy-and-hold of the same cash (`plugin.stats.buy_and_hold`, as a report draws it), the recent orders
  and fills, the rejected bars with their reasons and the stale-signal outages (`timeline`).

The page polls `/api/status` every `refresh` seconds and asks for the activity of a journal when its counts
move. Journals are opened read-only for each request, like `paper status`: the page never holds or
writes a run's journal, and a journal not created yet is shown as such until it is.

It binds 127.0.0.1 by default. Bound to any other address it shows positions and P&L to a network, so it
refuses to start without bearer tokens (`--token-file`, one per line, as `signalstack serve` reads them)
and checks one on every request: `Authorization: Bearer TOKEN`, or `?token=TOKEN` on the page's address,
which then sets a cookie for the page's own requests.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import threading
from collections.abc import Sequence
from functools import partial
from http import HTTPStatus
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.resources import files
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pandas as pd

from signalstack.core.errors import SettingsError
from signalstack.plugin.stats import buy_and_hold

from .journal import Journal, JournalError
from .status import bar_frames, equity_frame, read_status
from .timeline import read_timeline

log = logging.getLogger(__name__)

RECENT = 20
"""Orders, fills and rejected bars the page lists (the most recent)."""
POINTS = 2000
"""At most this many points of an equity curve go to the page (evenly taken, the last always)."""
_COOKIE = "signalstack_watch"
_STATIC = {
    "/": ("watch.html", "text/html; charset=utf-8"),
    "/watch.js": ("watch.js", "text/javascript"),
    "/watch.css": ("watch.css", "text/css"),
}


def is_loopback(host: str) -> bool:
    """Whether `host` (a name or an address) is this machine's loopback, which no other machine reaches."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def journal_status(path: Path) -> dict[str, Any]:
    """`{"journal", "status", "error"}`: `status` is what `paper status --json` prints for `path`, None with
    `error` saying why when the journal cannot be read (not created yet, not a journal)."""
    try:
        return {"journal": str(path), "status": read_status(path).as_dict(), "error": None}
    except (JournalError, OSError, ValueError) as exc:
        return {"journal": str(path), "status": None, "error": str(exc)}


def activity(path: Path) -> dict[str, Any]:
    """What the page shows of a journal besides its status (see the module)."""
    with Journal(path, readonly=True) as journal:
        run, equity, bars = journal.config(), equity_frame(journal), bar_frames(journal)
        orders = journal.events(("order", "fill", "cancel"))
        timeline = read_timeline(journal)
    ended = {e.payload.order_id: e for e in orders if e.kind != "order"}
    recent = [e for e in orders if e.kind == "order"][-RECENT:]
    return {
        "equity": _curves(equity, bars, run.symbols, run.cash, run.commission),
        "orders": [
            {
                "order_id": e.payload.order_id,
                "symbol": e.symbol,
                "time": e.time,
                "side": e.payload.side,
                "size": e.payload.size,
                "reason": e.payload.reason,
                **_outcome(ended.get(e.payload.order_id)),
            }
            for e in reversed(recent)
        ],
        "fills": [
            {
                "symbol": e.symbol,
                "time": e.time,
                "side": e.payload.side,
                "size": e.payload.size,
                "price": e.payload.price,
                "commission": e.payload.commission,
            }
            for e in reversed([e for e in orders if e.kind == "fill"][-RECENT:])
        ],
        "rejected": [
            {"symbol": e.symbol, "time": e.time, "row": e.payload.row, "reason": e.payload.reason}
            for e in reversed(timeline.rejected[-RECENT:])
        ],
        "outages": [
            {"symbol": o.symbol, "first": o.first, "last": o.last, "bars": o.bars, "why": o.why}
            for o in timeline.outages
        ],
    }


def _outcome(ended: Any) -> dict[str, Any]:
    if ended is None:
        return {"state": "open"}
    if ended.kind == "fill":
        return {"state": "filled", "price": ended.payload.price, "filled": ended.time}
    return {"state": ended.payload.status.lower(), "filled": ended.time}


def _curves(
    equity: pd.DataFrame, bars: dict[str, pd.DataFrame], symbols: Sequence[str], cash: float, commission: float
) -> dict[str, list[Any]]:
    """The run's equity (its accounts summed) and buy-and-hold's (each feed's cash in its symbol from the feed's
    first live bar, as a report's benchmark), at each live bar's time."""
    strategy, benchmark = {}, {}
    for symbol in symbols:
        mine = equity.loc[equity["symbol"] == symbol]
        if mine.empty:
            continue
        times = pd.DatetimeIndex(mine["time"])
        strategy[symbol] = pd.Series(mine["value"].to_numpy(), index=times)
        benchmark[symbol] = buy_and_hold(bars[symbol], times[0], cash, commission).reindex(times).ffill()
    if not strategy:
        return {"time": [], "strategy": [], "buy_and_hold": []}
    total = {
        side: pd.concat(curves, axis=1).sort_index().ffill().fillna(cash).sum(axis=1)
        for side, curves in (("strategy", strategy), ("buy_and_hold", benchmark))
    }
    index = total["strategy"].index
    keep = np.unique(np.r_[np.linspace(0, len(index) - 1, min(len(index), POINTS)).astype(int), len(index) - 1])
    return {
        "time": [t.isoformat() for t in index[keep]],
        **{side: [float(v) for v in curve.to_numpy()[keep]] for side, curve in total.items()},
    }


class WatchServer:
    """The page and its JSON over HTTP for `journals` (see the module); a context manager serving in a thread.

    Raises SettingsError for no journal, or for a `host` other than loopback without `tokens`.
    """

    def __init__(
        self,
        journals: Sequence[str | Path],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tokens: Sequence[str] = (),
        refresh: float = 1.0,
    ) -> None:
        if not journals:
            raise SettingsError("no --journal: expected at least one journal to watch")
        if not is_loopback(host) and not tokens:
            raise SettingsError(
                f"--host {host}: not a loopback address, and the page shows positions and P&L; "
                "expected --token-file FILE too (its tokens are then asked of every request)"
            )
        if refresh <= 0:
            raise SettingsError(f"--refresh {refresh:g}: expected seconds > 0")
        self.journals = [Path(j) for j in journals]
        self.refresh = refresh
        self._tokens = [token.encode() for token in tokens]
        self._httpd = ThreadingHTTPServer((host, port), partial(_Handler, self))
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        return f"http://{shown if ':' not in shown else f'[{shown}]'}:{port}/"

    def __enter__(self) -> Self:
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="paper-watch", daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def serve_forever(self) -> None:
        """Serve in this thread until interrupted (Ctrl-C), then close."""
        try:
            self._httpd.serve_forever()
        finally:
            self._httpd.server_close()

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(10)

    def allowed(self, token: str | None) -> bool:
        """Whether a request bearing `token` may be answered: always without tokens, else a token's match."""
        if not self._tokens:
            return True
        given = (token or "").encode()
        return any(hmac.compare_digest(given, known) for known in self._tokens)


class _Handler(BaseHTTPRequestHandler):
    """One request to a `WatchServer`: GET only; every path checked against its tokens first."""

    server_version = "signalstack-paper-watch"

    def __init__(self, watch: WatchServer, *args: Any) -> None:
        self.watch = watch
        super().__init__(*args)

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        given = query.get("token", [None])[0]
        token = given or self._bearer() or self._cookie()
        if not self.watch.allowed(token):
            self._send(
                HTTPStatus.UNAUTHORIZED,
                b"a bearer token is required (Authorization: Bearer TOKEN, or ?token=TOKEN on the page's address)\n",
                "text/plain; charset=utf-8",
                {"WWW-Authenticate": "Bearer"},
            )
            return
        cookie = {"Set-Cookie": f"{_COOKIE}={given}; HttpOnly; SameSite=Strict; Path=/"} if given else {}
        if url.path in _STATIC:
            name, kind = _STATIC[url.path]
            body = (files(__package__) / "static" / name).read_bytes()
            if name == "watch.html":
                body = body.replace(b"{{refresh_ms}}", str(int(self.watch.refresh * 1000)).encode())
            self._send(HTTPStatus.OK, body, kind, cookie)
        elif url.path == "/api/status":
            self._json({"journals": [journal_status(path) for path in self.watch.journals]})
        elif url.path == "/api/activity":
            self._activity(query.get("journal", [""])[0])
        else:
            self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain; charset=utf-8")

    def _activity(self, which: str) -> None:
        if not which.isdigit() or int(which) >= len(self.watch.journals):
            self._send(
                HTTPStatus.BAD_REQUEST,
                f"journal {which!r}: expected 0 .. {len(self.watch.journals) - 1}\n".encode(),
                "text/plain; charset=utf-8",
            )
            return
        try:
            self._json(activity(self.watch.journals[int(which)]))
        except (JournalError, OSError, ValueError) as exc:
            self._json({"error": str(exc)})

    def _bearer(self) -> str | None:
        header = self.headers.get("Authorization", "")
        return header[7:].strip() if header.lower().startswith("bearer ") else None

    def _cookie(self) -> str | None:
        morsel = SimpleCookie(self.headers.get("Cookie", "")).get(_COOKIE)
        return None if morsel is None else morsel.value

    def _json(self, doc: dict[str, Any]) -> None:
        self._send(HTTPStatus.OK, json.dumps(doc, allow_nan=False, default=str).encode(), "application/json")

    def _send(self, status: HTTPStatus, body: bytes, kind: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Security-Policy", "default-src 'self'; img-src 'self' data:")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)  # the query (a token) is never logged above debug

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        log.debug("%s %s %s", self.address_string(), urlsplit(self.path).path, code)


__all__ = ["POINTS", "RECENT", "WatchServer", "activity", "is_loopback", "journal_status"]
