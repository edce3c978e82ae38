"""Fixtures of the server tests: the tiny model in process, and clients of the session's server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from signalstack.core.model import OnnxModel
from signalstack.transport.client import SignalClient


@pytest.fixture(scope="module")
def local(tiny_model: Path) -> OnnxModel:
    """The tiny model run in this process: what the server's answers must equal."""
    return OnnxModel(tiny_model)


@pytest.fixture(scope="module")
def client(grpc_target: str) -> Iterator[SignalClient]:
    with SignalClient(grpc_target, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def channel(grpc_target: str) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(grpc_target) as channel:
        yield channel
