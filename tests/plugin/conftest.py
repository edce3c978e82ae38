"""Signal sources over the session's tiny model: in process and through the real gRPC server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from signalstack.plugin import GrpcSource, OnnxSource


@pytest.fixture(scope="session")
def onnx_source(tiny_model: Path) -> OnnxSource:
    return OnnxSource(tiny_model)


@pytest.fixture(scope="session")
def grpc_source(grpc_target: str) -> Iterator[GrpcSource]:
    with GrpcSource(grpc_target, "tiny") as source:
        yield source
