"""The committed generated code is what the .proto files generate today, with the oldest supported tools,
into signalstack's own descriptor pool."""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path

import pytest
from google.protobuf import descriptor_pool
from packaging.requirements import Requirement
from packaging.version import Version

from signalstack.protos import pool
from signalstack.protos.generate import GRPCIO_TOOLS, PROTO_ROOT, SUFFIXES, ToolsUnavailable, generate
from signalstack.protos.inference import grpc_predict_v2_pb2 as oip
from signalstack.protos.signalstack.v1 import signals_pb2 as pb

ROOT = Path(__file__).resolve().parents[2]


def _committed(suffix: str) -> dict[Path, str]:
    return {p.relative_to(PROTO_ROOT): p.read_text() for p in PROTO_ROOT.rglob(f"*{suffix}")}


def test_committed_code_matches_protos(tmp_path: Path) -> None:
    try:
        generated = generate(tmp_path)
    except ToolsUnavailable as error:
        if os.environ.get("CI"):
            raise
        pytest.skip(str(error))
    written = {p.relative_to(tmp_path): p.read_bytes() for p in generated}
    committed = {p.relative_to(PROTO_ROOT): p.read_bytes() for p in PROTO_ROOT.rglob("*") if p.name.endswith(SUFFIXES)}
    assert set(committed) == set(written), "run: python -m signalstack.protos.generate"
    stale = [str(path) for path in written if written[path] != committed[path]]
    assert not stale, f"stale generated code {stale}: run python -m signalstack.protos.generate"


def test_lower_bounds_are_the_versions_the_code_was_generated_for() -> None:
    """grpcio-tools GRPCIO_TOOLS wrote the code: its stubs need grpcio >= it, its messages a protobuf
    runtime >= its protoc. The declared lower bounds must admit nothing older."""
    declared = {
        (r := Requirement(text)).name: r.specifier
        for text in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    }
    for name in ("grpcio", "grpcio-tools", "grpcio-health-checking", "grpcio-reflection"):
        assert [s.version for s in declared[name] if s.operator == ">="] == [GRPCIO_TOOLS], name
    stubs = {
        re.search(r"^GRPC_GENERATED_VERSION = '([\d.]+)'$", text, re.MULTILINE).group(1)
        for text in _committed("_pb2_grpc.py").values()
    }
    assert stubs == {GRPCIO_TOOLS}
    gencode = {
        Version(
            ".".join(
                re.search(
                    r"ValidateProtobufRuntimeVersion\(\s*_runtime_version\.Domain\.PUBLIC,"
                    r"\s*(\d+),\s*(\d+),\s*(\d+),",
                    text,
                ).groups()
            )
        )
        for text in _committed("_pb2.py").values()
    }
    (floor,) = [Version(s.version) for s in declared["protobuf"] if s.operator == ">="]
    assert max(gencode) <= floor, f"protobuf >= {floor} admits runtimes older than the gencode {max(gencode)}"


def test_messages_are_built_in_signalstacks_own_pool_not_the_default_one() -> None:
    for module in (oip, pb):
        assert module.DESCRIPTOR.pool is pool.POOL
        assert module.DESCRIPTOR.pool is not descriptor_pool.Default()
    assert oip.ModelInferRequest.__module__ == "signalstack.protos.inference.grpc_predict_v2_pb2"
    with pytest.raises(KeyError):
        descriptor_pool.Default().FindFileByName("inference/grpc_predict_v2.proto")
    for text in _committed("_pb2.py").values():
        assert "_descriptor_pool.Default()" not in text


def test_a_reflection_pool_holds_each_service_from_where_it_was_registered() -> None:
    from grpc_health.v1 import health_pb2

    names = ["signalstack.v1.SignalService", "inference.GRPCInferenceService", "grpc.health.v1.Health"]
    merged = pool.for_services(names)
    assert merged is not pool.POOL and merged is not descriptor_pool.Default()
    assert [merged.FindServiceByName(name).file.name for name in names] == [
        "signalstack/v1/signals.proto",
        "inference/grpc_predict_v2.proto",
        health_pb2.DESCRIPTOR.name,
    ]
    with pytest.raises(KeyError, match="nope.Service"):
        pool.for_services(["nope.Service"])
