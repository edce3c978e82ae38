"""`SYMBOL=grpc:HOST:PORT`: bars pushed into a paper run by any process, through the `BarFeed` gRPC service.

One `PushEndpoint` (a gRPC server) per distinct HOST:PORT in the process: every grpc feed naming that
address is served by it, and each pushed bar goes to the feed whose symbol it names, so one vendor
process can stream several symbols through one connection (`--feed SPY=grpc:127.0.0.1:50061 --feed
QQQ=grpc:127.0.0.1:50061`). A bar for a symbol that no feed trades there is rejected to the sender.
The endpoint binds when its first feed is built (so a taken address fails the run at once) and stops
when the last of its feeds has ended.

The servicer's thread checks each bar (`BarGate`) and journals it, and commits the journal before
acknowledging the stream; the feed then delivers the journaled bars to its Cerebro in order. So
"accepted" means durable: after a crash, a resumed run delivers every bar it acknowledged. A pushed
bar's row is its number among its symbol's journaled arrivals (bars and rejections), counted on
across sessions. A resumed run knows every bar it journaled, so a sender that reconnects and sends
again from further back gets its old bars acknowledged as duplicates and its new ones accepted.

A grpc feed ends when the run is asked to stop or after `idle` seconds without a bar for its symbol
(see `signalstack.paper.feeds`); without `idle` it waits for bars until then.

An endpoint is guarded as `signalstack serve` is, by the same code: with the spec's `token_file`, a
stream without one of its bearer tokens is refused (UNAUTHENTICATED) before a bar is read, and with
`tls_cert` and `tls_key` it serves TLS only. Every feed at one address must name the same files. One
listening beyond loopback without a token file is logged as a warning: anyone reaching it could
feed the run bars.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path

import grpc
import pandas as pd

from signalstack.core.errors import SettingsError
from signalstack.core.times import as_time
from signalstack.protos.signalstack.v1 import feeds_pb2 as pb
from signalstack.protos.signalstack.v1 import feeds_pb2_grpc as pb_grpc
from signalstack.transport.channel import KEEPALIVE_OPTIONS
from signalstack.transport.guard import TokenAuth, read_tokens, server_credentials
from signalstack.transport.security import TlsFiles

from .feeds import DUPLICATE, FeedSpec, LiveFeed, RawBar
from .journal import Journal, JournalError

log = logging.getLogger(__name__)

_THREADS = 8
"""Streams an endpoint serves at once (more wait their turn)."""

_GRACE = 1.0
"""Seconds a stopping endpoint gives the streams in progress."""


class PushFeed(LiveFeed):
    """The bars pushed for one symbol to a `PushEndpoint`, as a live Backtrader feed; params: `LiveFeed`'s."""

    def __init__(self) -> None:
        super().__init__()
        self._row = self.p.after_row  # the last row journaled for the symbol
        self._inbox: queue.Queue[RawBar] = queue.Queue()
        self._lock = threading.Lock()  # one admission at a time, and none once the feed has ended
        self._ended = False
        self._detached = False
        self._failure: BaseException | None = None
        self._endpoint = PushEndpoint.attach(self.p.spec, self)

    def admit(
        self, time: pd.Timestamp | None, values: tuple[float, float, float, float, float], problem: str | None
    ) -> str | None:
        """Take a pushed bar: None when it is a new bar (journaled before this returns), else `DUPLICATE`
        or why it was rejected (journaled too). Raises JournalError when the journal cannot take it."""
        with self._lock:
            if self._ended:
                return f"{self._symbol}'s feed has ended (the run stopped or its idle time passed)"
            raw = RawBar(row=self._row + 1, time=time, values=values, problem=problem)
            try:
                verdict = self._admit(raw)
            except JournalError as exc:
                self._failure = exc  # the run stops on it too, at its next look at the feed
                raise
            if verdict != DUPLICATE:
                self._row += 1
            if verdict is None:
                self._inbox.put(raw)
            return verdict

    def _waiting(self) -> bool:
        return not self._inbox.empty()

    def _arrive(self) -> bool | None:
        if self._failure is not None:
            raise self._failure
        try:
            raw = self._inbox.get(timeout=max(self._qcheck, 0.01))
        except queue.Empty:
            return None
        self._deliver(raw.time, raw.values, self._is_live(raw.time))
        return True

    def _should_end(self) -> bool:
        with self._lock:  # no bar admitted between the last look at the inbox and the end
            if self._inbox.empty() and super()._should_end():
                self._ended = True
        return self._ended

    def stop(self) -> None:
        super().stop()
        with self._lock:
            if self._detached:
                return  # stopped already (a run that died stops its feeds itself)
            self._ended = self._detached = True
        self._endpoint.detach(self)


class PushEndpoint:
    """The `BarFeed` gRPC server at one address, routing each pushed bar to the feed of its symbol."""

    def __init__(self, spec: FeedSpec) -> None:
        """The endpoint at `spec.address`, guarded by the spec's token file and TLS files (read now; a bad
        one is an error naming it)."""
        address = self.address = str(spec.address)
        self.security = spec.security()
        self._feeds: dict[str, PushFeed] = {}
        self._lock = threading.Lock()
        guard = [] if spec.token_file is None else [TokenAuth(read_tokens(spec.token_file))]
        credentials = None if spec.tls_cert is None else server_credentials(TlsFiles(spec.tls_cert, spec.tls_key))
        threads = futures.ThreadPoolExecutor(_THREADS, thread_name_prefix="signalstack-push")
        # no SO_REUSEPORT: a second run at the same address must fail, not share the port silently
        self._server = grpc.server(threads, interceptors=guard, options=[("grpc.so_reuseport", 0), *KEEPALIVE_OPTIONS])
        pb_grpc.add_BarFeedServicer_to_server(_BarFeedServicer(self), self._server)
        try:
            port = (
                self._server.add_insecure_port(address)
                if credentials is None
                else self._server.add_secure_port(address, credentials)
            )
        except RuntimeError:  # newer grpcio raises where older ones return 0
            port = 0
        if not port:
            raise SettingsError(
                f"feed grpc:{address}: cannot listen at {address} (taken, or not an address of this "
                "machine); expected a free HOST:PORT"
            )
        self._server.start()
        log.info(
            "BarFeed endpoint listening at %s (%s, %s)",
            address,
            "TLS" if credentials else "plain text",
            "bearer tokens" if guard else "no token",
        )
        if not guard and not _loopback(address):
            log.warning(
                "BarFeed endpoint at %s takes bars from anyone who reaches it: give the feed a token_file "
                "(and tls_cert, tls_key) to accept only your senders",
                address,
            )

    @classmethod
    def attach(cls, spec: FeedSpec, feed: PushFeed) -> PushEndpoint:
        """The endpoint at `spec.address` (started now if none is), with `feed` receiving `spec.symbol`'s bars."""
        with _OPEN_LOCK:
            endpoint = _OPEN.get(spec.address)
            if endpoint is None:
                endpoint = _OPEN[spec.address] = cls(spec)
            elif endpoint.security != spec.security():
                raise SettingsError(
                    f"feed {spec.text!r}: grpc:{spec.address} is served with "
                    f"{_named(endpoint.security)}, this feed asks for {_named(spec.security())}; "
                    "expected the same token_file, tls_cert and tls_key for every feed at one address"
                )
            with endpoint._lock:
                if spec.symbol in endpoint._feeds:
                    raise SettingsError(
                        f"feed {spec.text!r}: {spec.symbol} is already fed through "
                        f"grpc:{spec.address}; expected one feed per symbol and address"
                    )
                endpoint._feeds[spec.symbol] = feed
        return endpoint

    def detach(self, feed: PushFeed) -> None:
        """Stop routing to `feed`; the last feed to leave stops the server."""
        with _OPEN_LOCK:
            with self._lock:
                self._feeds = {symbol: f for symbol, f in self._feeds.items() if f is not feed}
                last = not self._feeds
            if last:
                _OPEN.pop(self.address, None)
        if last:
            self._server.stop(_GRACE).wait(_GRACE + 1)
            log.info("BarFeed endpoint at %s stopped", self.address)

    def route(self, bar: pb.FeedBar) -> tuple[str | None, PushFeed | None]:
        """Hand a pushed bar to its symbol's feed: (`PushFeed.admit`'s verdict, the feed), or (why no feed
        takes it, None)."""
        with self._lock:
            feed = self._feeds.get(bar.symbol)
            symbols = sorted(self._feeds)
        if feed is None:
            return (
                f"symbol {bar.symbol!r}: no feed of this run trades it at {self.address} "
                f"(expected one of {', '.join(symbols) or 'none'})"
            ), None
        when, problem = _bar_time(bar.time)
        return feed.admit(when, (bar.open, bar.high, bar.low, bar.close, bar.volume), problem), feed


_OPEN: dict[str, PushEndpoint] = {}
"""The endpoints serving now, by address: one server per HOST:PORT in the process."""
_OPEN_LOCK = threading.Lock()


def _loopback(address: str) -> bool:
    """Whether HOST:PORT listens on this machine's loopback only."""
    host = address.rpartition(":")[0].strip("[]")
    return host == "localhost" or host.startswith("127.") or host == "::1"


def _named(security: dict[str, Path | None]) -> str:
    return ", ".join(f"{name} {path}" for name, path in security.items() if path is not None) or "no token or TLS"


def _bar_time(seconds: int) -> tuple[pd.Timestamp | None, str | None]:
    """A pushed bar's time (naive UTC, as a file's times are read) from unix seconds, or why it is none."""
    try:
        if seconds > 0:
            return as_time(seconds), None
    except ValueError:
        pass
    return None, f"time {seconds}, expected unix seconds > 0 of a date pandas can hold"


class _BarFeedServicer(pb_grpc.BarFeedServicer):
    """`BarFeed` on the wire: each bar to the endpoint, the verdicts counted into the acknowledgement."""

    def __init__(self, endpoint: PushEndpoint) -> None:
        self._endpoint = endpoint

    def PushBars(self, request_iterator: Iterator[pb.FeedBar], context: grpc.ServicerContext) -> pb.FeedAck:
        ack = pb.FeedAck()
        journals: dict[int, Journal] = {}  # of the feeds that took bars of this stream, ended since or not
        for index, bar in enumerate(request_iterator):
            try:
                verdict, feed = self._endpoint.route(bar)
            except JournalError as exc:
                context.abort(grpc.StatusCode.UNAVAILABLE, f"bar {index} ({bar.symbol} at {bar.time}): {exc}")
            if feed is not None:
                journals.setdefault(id(feed.p.journal), feed.p.journal)
            if verdict is None:
                ack.accepted += 1
            elif verdict == DUPLICATE:
                ack.duplicates += 1
            else:
                ack.rejected += 1
                ack.rejections.add(index=index, symbol=bar.symbol, time=bar.time, reason=verdict)
        try:
            for journal in journals.values():  # "accepted" means durable: committed before the sender hears it
                journal.flush()
        except JournalError as exc:
            context.abort(grpc.StatusCode.UNAVAILABLE, f"the run could not journal the bars sent ({exc})")
        return ack
