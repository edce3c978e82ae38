"""What both ends of a connection agree on: message size limits and keepalive pings.

The client (`client.SignalClient`, what a strategy process loads for `GrpcSource`) reads its
channel options here, so it loads none of the server's modules.
"""

from __future__ import annotations

MAX_MESSAGE_BYTES = 256 * 1024 * 1024
"""Largest request or response: a PredictSeries over decades of minute bars runs to tens of MiB."""

CHANNEL_OPTIONS = [
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    # Ping a quiet connection every 30 s so a dead peer or a NAT that forgot it shows up as an error.
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.http2.max_pings_without_data", 0),
]
"""Options of `SignalClient`'s channel: the server's message limits and a keepalive it accepts."""

KEEPALIVE_OPTIONS = [
    ("grpc.keepalive_time_ms", 60_000),  # ping clients quiet for a minute; drop those not answering in 20 s
    ("grpc.keepalive_timeout_ms", 20_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_recv_ping_interval_without_data_ms", 10_000),  # clients may ping every 10 s
    ("grpc.http2.max_ping_strikes", 2),  # then GOAWAY for clients pinging faster
]
"""The server's side: how often it pings quiet clients, and how often it lets them ping."""
