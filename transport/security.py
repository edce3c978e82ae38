"""Credentials, declared once: a client's bearer token and TLS files (`ClientSecurity`), a server's TLS files
(`TlsFiles`, which `guard.server_credentials` reads).

`backtest`, `paper run`, `GrpcSource`, StreamSignals streams and the BarFeed push client all take a
`ClientSecurity`. The token is a secret: it is never written out (`to_dict` leaves it out, `repr`
hides it); the file paths are kept and read again when a run resumes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field, model_validator

from signalstack.core.errors import SettingsError
from signalstack.core.settings import Settings

from .channel import CHANNEL_OPTIONS

if TYPE_CHECKING:
    import grpc

TOKEN_VARIABLE = "SIGNALSTACK_TOKEN"
"""The environment variable a command line reads the bearer token from when --token is not given."""


class ClientTls(Settings):
    """The TLS files a client connects with: the files that may be written down (a paper.yaml's keys), unlike the
    token."""

    tls_ca: Path | None = None
    """CA certificate (PEM) of the server: connect with TLS."""
    tls_cert: Path | None = None
    """Client certificate (PEM), for servers that verify clients; with tls_key, over TLS."""
    tls_key: Path | None = None
    """Private key (PEM) of tls_cert."""

    @model_validator(mode="after")
    def _paired(self) -> ClientTls:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError(f"tls_cert {self.tls_cert} and tls_key {self.tls_key}: expected both or neither")
        if self.tls_cert is not None and self.tls_ca is None:
            raise ValueError(
                f"tls_cert {self.tls_cert} without tls_ca: a client certificate is sent over TLS only "
                "(expected the server's CA certificate too)"
            )
        return self


class ClientSecurity(ClientTls):
    """How a client proves itself to a server and checks the server: a bearer token, TLS, a client certificate."""

    token: str | None = Field(None, repr=False)
    """Bearer token the server asks for (default: $SIGNALSTACK_TOKEN); never journaled or written to a file."""

    @classmethod
    def from_environment(cls, token: str | None = None, *, served: bool = True, **files: Path | None) -> ClientSecurity:
        """Settings with `token`, else $SIGNALSTACK_TOKEN when it is set and the source is `served` (a model run in
        process refuses a token), and the TLS files given."""
        return cls.of(token=token or (os.environ.get(TOKEN_VARIABLE) if served else None) or None, **files)

    @property
    def tls(self) -> bool:
        return self.tls_ca is not None

    def to_dict(self) -> dict[str, Any]:
        """The TLS paths and whether a token is used; never the token itself."""
        return {
            "token": self.token is not None,
            **{
                key: None if value is None else str(value)
                for key, value in (("tls_ca", self.tls_ca), ("tls_cert", self.tls_cert), ("tls_key", self.tls_key))
            },
        }

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        """The metadata every call sends: the bearer token, when there is one."""
        return (("authorization", f"Bearer {self.token}"),) if self.token else ()

    def channel(self, target: str) -> grpc.Channel:
        """A channel to `target` (HOST:PORT) with the options both ends agree on: over TLS with `tls_ca`
        (and this client's certificate when given), the PEM files read now; plain text without."""
        import grpc  # here, not above: the serve options import this module, and the CLI's help loads no gRPC

        if not self.tls:
            return grpc.insecure_channel(target, options=CHANNEL_OPTIONS)
        return grpc.secure_channel(target, grpc.ssl_channel_credentials(**self.pem()), options=CHANNEL_OPTIONS)

    def pem(self) -> dict[str, bytes]:
        """The PEM files read now, by gRPC's keyword (root_certificates, certificate_chain, private_key); an
        unreadable file is a SettingsError naming it."""
        out: dict[str, bytes] = {}
        for keyword, path in (
            ("root_certificates", self.tls_ca),
            ("certificate_chain", self.tls_cert),
            ("private_key", self.tls_key),
        ):
            if path is not None:
                try:
                    out[keyword] = Path(path).read_bytes()
                except OSError as exc:
                    raise SettingsError(
                        f"{path}: cannot read it ({exc.strerror or exc}); expected a PEM file"
                    ) from None
        return out


@dataclass(frozen=True)
class TlsFiles:
    """PEM files for TLS; with `client_ca`, clients must present a certificate it signed."""

    cert: Path
    key: Path
    client_ca: Path | None = None

    @classmethod
    def from_flags(cls, cert: Path | None, key: Path | None, client_ca: Path | None = None) -> TlsFiles | None:
        """The files of --tls-cert, --tls-key and --tls-client-ca; None for plain text; errors name the mismatch."""
        if (cert is None) != (key is None):
            raise SettingsError(f"tls_cert {cert} and tls_key {key}: expected both or neither")
        if client_ca is not None and cert is None:
            raise SettingsError(f"tls_client_ca {client_ca} without tls_cert: client certificates need TLS")
        if cert is None or key is None:  # both or neither, as checked above
            return None
        return cls(Path(cert), Path(key), client_ca and Path(client_ca))
