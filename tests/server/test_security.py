"""TLS and bearer tokens: accepted and refused as configured; health stays open; tokens never logged."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import grpc
import pandas as pd
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from signalstack.protos.inference import grpc_predict_v2_pb2 as oip
from signalstack.protos.inference import grpc_predict_v2_pb2_grpc as oip_grpc
from signalstack.server.app import SignalServer
from signalstack.server.repository import ModelRepository
from signalstack.transport.client import SignalClient
from signalstack.transport.guard import read_tokens, server_credentials
from signalstack.transport.security import ClientSecurity, TlsFiles

from .support import TOKEN, Pki, bar_events, make_pki, running


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def repository(model_dir: Path) -> ModelRepository:
    return ModelRepository(model_dir)


@pytest.fixture(scope="module")
def guarded(repository: ModelRepository) -> Iterator[SignalServer]:
    with running(repository, tokens=[TOKEN, "another-token-for-rotation"]) as server:
        yield server


def _code(call: object) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as info:
        call()  # type: ignore[operator]
    return info.value.code(), info.value.details()


@pytest.mark.parametrize(
    "token, message",
    [
        (None, "missing bearer token (expected metadata 'authorization: Bearer <token>')"),
        ("wrong-token-0123456789", "invalid bearer token"),
    ],
    ids=["missing", "wrong"],
)
def test_calls_without_a_valid_token_are_unauthenticated(
    guarded: SignalServer, sp500: pd.DataFrame, token: str | None, message: str
) -> None:
    target = f"127.0.0.1:{guarded.port}"
    with SignalClient(target, timeout=10, security=ClientSecurity(token=token)) as client:
        assert _code(client.list_models) == (grpc.StatusCode.UNAUTHENTICATED, message)
        assert _code(lambda: list(client.stream_signals(bar_events(sp500.iloc[:3])))) == (
            grpc.StatusCode.UNAUTHENTICATED,
            message,
        )
    with grpc.insecure_channel(target) as channel:
        metadata = [("authorization", f"Bearer {token}")] if token else []
        stub = oip_grpc.GRPCInferenceServiceStub(channel)
        assert (
            _code(lambda: stub.ServerLive(oip.ServerLiveRequest(), timeout=10, metadata=metadata))[0]
            == grpc.StatusCode.UNAUTHENTICATED
        )


def test_a_valid_token_is_accepted_on_every_service(guarded: SignalServer, sp500: pd.DataFrame) -> None:
    target = f"127.0.0.1:{guarded.port}"
    with SignalClient(target, timeout=10, security=ClientSecurity(token=TOKEN)) as client:
        assert [m.name for m in client.list_models()] == ["tiny"]
        assert len(list(client.stream_signals(bar_events(sp500.iloc[:3])))) == 3
    with SignalClient(target, timeout=10, security=ClientSecurity(token="another-token-for-rotation")) as client:
        assert client.get_model("tiny").version == 1
    with grpc.insecure_channel(target) as channel:
        stub = oip_grpc.GRPCInferenceServiceStub(channel)
        for scheme in ("Bearer", "bearer"):
            metadata = [("authorization", f"{scheme} {TOKEN}")]
            assert stub.ServerLive(oip.ServerLiveRequest(), timeout=10, metadata=metadata).live


def test_health_needs_no_token(guarded: SignalServer) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{guarded.port}") as channel:
        response = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service="tiny"), timeout=10)
    assert response.status == health_pb2.HealthCheckResponse.SERVING


def test_tokens_never_reach_the_logs(guarded: SignalServer, caplog: pytest.LogCaptureFixture) -> None:
    wrong = "wrong-but-still-secret-0123456789"
    with caplog.at_level(logging.DEBUG):
        for token in (TOKEN, wrong):
            with SignalClient(f"127.0.0.1:{guarded.port}", timeout=10, security=ClientSecurity(token=token)) as client:
                try:
                    client.get_model("nope")
                except grpc.RpcError:
                    pass
    assert "refused /signalstack.v1.SignalService/GetModel from" in caplog.text
    assert TOKEN not in caplog.text and wrong not in caplog.text


def test_token_files_hold_one_token_per_line(tmp_path: Path) -> None:
    path = tmp_path / "tokens"
    path.write_text(f"# desk tokens\n{TOKEN}\n\n  another-token-for-rotation  \n")
    assert read_tokens(path) == [TOKEN, "another-token-for-rotation"]
    path.write_text("# nothing here\n")
    with pytest.raises(ValueError, match="no token"):
        read_tokens(path)
    path.write_text("short\n")
    with pytest.raises(ValueError, match="non-blank line 1 is shorter than 16 characters"):
        read_tokens(path)


def test_tls_serves_clients_that_trust_the_ca(repository: ModelRepository, pki: Pki) -> None:
    with running(repository, tls=TlsFiles(pki.server_cert, pki.server_key)) as server:
        target = f"127.0.0.1:{server.port}"
        with SignalClient(target, timeout=10, security=ClientSecurity(tls_ca=pki.ca)) as client:
            assert [m.name for m in client.list_models()] == ["tiny"]
        with SignalClient(target, timeout=5) as plaintext:
            assert _code(plaintext.list_models)[0] == grpc.StatusCode.UNAVAILABLE


def test_tls_with_client_certificates_refuses_clients_without_one(repository: ModelRepository, pki: Pki) -> None:
    tls = TlsFiles(pki.server_cert, pki.server_key, client_ca=pki.ca)
    with running(repository, tls=tls, tokens=[TOKEN]) as server:
        target = f"127.0.0.1:{server.port}"
        desk = ClientSecurity(token=TOKEN, tls_ca=pki.ca, tls_cert=pki.client_cert, tls_key=pki.client_key)
        with SignalClient(target, timeout=10, security=desk) as client:
            assert [m.name for m in client.list_models()] == ["tiny"]
        anonymous_security = ClientSecurity(token=TOKEN, tls_ca=pki.ca)
        with SignalClient(target, timeout=5, security=anonymous_security) as anonymous:
            assert _code(anonymous.list_models)[0] == grpc.StatusCode.UNAVAILABLE


def test_tls_files_must_be_pem(tmp_path: Path, pki: Pki) -> None:
    (tmp_path / "key.pem").write_text("not a key")
    with pytest.raises(ValueError, match="key.pem: not a PEM file"):
        server_credentials(TlsFiles(pki.server_cert, tmp_path / "key.pem"))
    with pytest.raises(OSError, match="missing.pem: cannot read the TLS certificate"):
        server_credentials(TlsFiles(tmp_path / "missing.pem", pki.server_key))
