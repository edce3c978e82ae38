"""Helpers for server tests: real servers on loopback, model folders, wire messages."""

from __future__ import annotations

import datetime as dt
import ipaddress
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pandas as pd
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from grpc_health.v1 import health_pb2, health_pb2_grpc

from signalstack.protos.inference import grpc_predict_v2_pb2 as oip
from signalstack.protos.signalstack.v1 import signals_pb2 as pb
from signalstack.server.app import SignalServer
from signalstack.server.options import ServeOptions
from signalstack.server.repository import ModelRepository

from ..support import free_port


@contextmanager
def running(repository: ModelRepository, *, tokens: Sequence[str] = (), **options: Any) -> Iterator[SignalServer]:
    """A started server over `repository` on a free 127.0.0.1 port with `ServeOptions` fields `options`
    (`tokens` go to a token file), stopped (in-flight calls cancelled) on exit."""
    with tempfile.TemporaryDirectory() as folder:
        if tokens:
            options["token_file"] = Path(folder) / "tokens"
            options["token_file"].write_text("\n".join(tokens) + "\n")
        server = SignalServer(ServeOptions(repository.root, port=free_port(), grace=0, **options), repository)
        with server:
            yield server


def install(model: Path, folder: Path, name: str, version: int | None = None) -> Path:
    """Copy `model` into `folder` as NAME/VERSION/model.onnx (NAME.onnx without a version), atomically."""
    target = folder / f"{name}.onnx" if version is None else folder / name / str(version) / "model.onnx"
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.parent / f".{target.name}.partial"
    shutil.copyfile(model, partial)
    partial.replace(target)
    return target


def bar_events(bars: pd.DataFrame, model: str = "tiny", symbol: str = "SPY") -> list[pb.BarEvent]:
    """StreamSignals messages for each bar of `bars`, with unix-second times."""
    times = bars.index.as_unit("s").asi8
    return [
        pb.BarEvent(model=model, symbol=symbol, time=int(t), open=o, high=h, low=lo, close=c, volume=v)
        for t, o, h, lo, c, v in zip(times, bars["open"], bars["high"], bars["low"], bars["close"], bars["volume"])
    ]


def infer_request(x: np.ndarray, model: str = "tiny", *, raw: bool = True, **fields: Any) -> oip.ModelInferRequest:
    """An Open Inference Protocol request for feature windows `x`, as raw bytes or typed contents."""
    tensor = oip.ModelInferRequest.InferInputTensor(name="features", datatype="FP32", shape=x.shape)
    if raw:
        return oip.ModelInferRequest(model_name=model, inputs=[tensor], raw_input_contents=[x.tobytes()], **fields)
    tensor.contents.fp32_contents.extend(x.ravel().tolist())
    return oip.ModelInferRequest(model_name=model, inputs=[tensor], **fields)


def wait_until_serving(target: str, process: subprocess.Popen, seconds: float) -> None:
    """Poll the health service until SERVING, failing if the process dies or time runs out."""
    deadline = time.monotonic() + seconds
    with grpc.insecure_channel(target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            assert process.poll() is None, f"server exited early with {process.returncode}"
            try:
                response = stub.Check(health_pb2.HealthCheckRequest(), timeout=1)
                if response.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                time.sleep(0.1)
    pytest.fail(f"server on {target} not SERVING after {seconds} s")


TOKEN = "s3cret-token-0123456789abcdef"


@dataclass(frozen=True)
class Pki:
    """A throwaway CA with a server certificate for 127.0.0.1 and a client certificate, as PEM files."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def _issue(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Certificate | None,
    issuer_key: ec.EllipticCurvePrivateKey,
    *,
    ca: bool = False,
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
    return builder.sign(issuer_key, hashes.SHA256())


def _write(folder: Path, name: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey | None = None) -> Path:
    (folder / f"{name}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    if key is not None:
        (folder / f"{name}.key").write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
    return folder / f"{name}.crt"


def make_pki(folder: Path) -> Pki:
    """A throwaway CA, a server certificate for 127.0.0.1 signed by it and a client certificate, in `folder`."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _issue("signalstack test CA", ca_key, None, ca_key, ca=True)
    server_key, client_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    _write(folder, "ca", ca)
    _write(folder, "server", _issue("127.0.0.1", server_key, ca, ca_key), server_key)
    _write(folder, "client", _issue("desk client", client_key, ca, ca_key), client_key)
    return Pki(
        folder / "ca.crt", folder / "server.crt", folder / "server.key", folder / "client.crt", folder / "client.key"
    )
