"""`push_bars`: send bars to a paper run's grpc feed from any process, e.g. a market-data vendor's adapter.

The sending side of `signalstack.paper.push`: it needs grpcio and this package's generated messages, nothing
that trades. Each call is one `BarFeed.PushBars` stream; its acknowledgement says how every bar was taken.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import NamedTuple

from signalstack.core.times import TimeLike, unix_seconds
from signalstack.protos.signalstack.v1 import feeds_pb2 as pb
from signalstack.protos.signalstack.v1 import feeds_pb2_grpc as pb_grpc
from signalstack.transport.security import ClientSecurity


class PushedBar(NamedTuple):
    """One bar to push; any 7-item sequence in this order will do."""

    symbol: str
    time: TimeLike
    """Unix seconds, or a date/datetime (naive ones are UTC): `core.times.unix_seconds`, in whole seconds."""
    open: float
    high: float
    low: float
    close: float
    volume: float


@dataclass(frozen=True)
class Rejection:
    """A bar the run would not take: its position in the stream, symbol, unix time and why."""

    index: int
    symbol: str
    time: int
    reason: str


@dataclass(frozen=True)
class PushAck:
    """How the run took one stream of bars: `accepted` were new and are journaled (durable), `duplicates`
    it had already, `rejected` it will not trade (each in `rejections`)."""

    accepted: int
    duplicates: int
    rejected: int
    rejections: tuple[Rejection, ...]


def push_bars(
    target: str, bars: Iterable[PushedBar | tuple], *, timeout: float = 30.0, security: ClientSecurity | None = None
) -> PushAck:
    """Stream `bars` to the paper run whose grpc feeds listen at `target` (HOST:PORT); return its acknowledgement.

    `security`: a bearer token of the feed's token_file, when it has one, and as `tls_ca` the CA that
    signed the feed's tls_cert, to connect over TLS (required when the feed serves TLS).
    Waits up to `timeout` seconds in all, including for the run to be listening (a run being resumed).
    Raises InvalidInput for a bar that cannot be sent (a time that is no date, or not whole seconds) and
    grpc.RpcError when the run cannot be reached in time, refuses the token (UNAUTHENTICATED) or cannot
    journal.
    """
    security = security or ClientSecurity()
    with security.channel(target) as channel:
        reply = pb_grpc.BarFeedStub(channel).PushBars(
            _messages(bars), timeout=timeout, wait_for_ready=True, metadata=security.metadata
        )
    return PushAck(
        accepted=reply.accepted,
        duplicates=reply.duplicates,
        rejected=reply.rejected,
        rejections=tuple(Rejection(r.index, r.symbol, r.time, r.reason) for r in reply.rejections),
    )


def _messages(bars: Iterable[PushedBar | tuple]) -> Iterator[pb.FeedBar]:
    for bar in bars:
        symbol, when, open_, high, low, close, volume = bar
        yield pb.FeedBar(
            symbol=symbol,
            time=unix_seconds(when, exact=True),
            open=open_,
            high=high,
            low=low,
            close=close,
            volume=volume,
        )
