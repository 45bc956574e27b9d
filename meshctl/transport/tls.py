"""mTLS for gRPC and HTTP: credentials from files that are rotated underneath us.

A process with TLS has three PEM files (``MESH_TLS_CA``, ``MESH_TLS_CERT``,
``MESH_TLS_KEY``): written by ``meshctl up``, ``meshctl certs`` or, in
production, cert-manager or SPIRE. :class:`TlsFiles` reads them again when
they change (checked at most every ``CHECK_EVERY`` seconds), keeping the
last good pair while a rotation is half written, and counts a
``generation`` per change:

- servers hand gRPC a fetcher (``server_credentials``): each new connection
  gets the current certificate, without a restart; client certificates
  are required and must chain to the CA.
- clients open channels with the generation's credentials (``channel``);
  a transport seeing a newer generation opens new channels and lets the old
  ones drain.

An endpoint says it speaks TLS in its registry record (``tls: "1"``
metadata); clients pick credentials per endpoint, so a plain-text mesh works
as before. ``peer_identity`` gives a server the caller's SPIFFE ID.
"""

from __future__ import annotations

import os
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from meshctl.config.settings import MeshSettings
from meshctl.core.endpoint import ServiceEndpoint
from meshctl.errors import ConnectionFailedError, InvalidRequestError
from meshctl.transport.certs import CertificateError, key_matches

TLS_METADATA = "tls"
CHECK_EVERY = 1.0
DRAIN_GRACE = 30.0
"""Seconds calls in flight on a connection replaced after a rotation get to finish."""
# gRPC core's properties that may carry the URI SAN, the most specific first
_SPIFFE_PROPERTIES = (
    "peer_spiffe_id",
    "x509_uri_subject_alternative_name",
    "x509_subject_alternative_name",
)


@dataclass(frozen=True, slots=True)
class Material:
    """One generation of a process's TLS files, read together."""

    generation: int
    ca: bytes
    cert: bytes
    key: bytes


class TlsFiles:
    """A process's CA, certificate and key files, re-read when they change.

    Args:
        ca, cert, key: paths of the PEM files.
        clock: monotonic seconds, for how often the files are looked at.
    """

    def __init__(
        self,
        ca: str | Path,
        cert: str | Path,
        key: str | Path,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.paths = (Path(ca), Path(cert), Path(key))
        self._clock = clock
        self._lock = threading.Lock()  # gRPC calls the server fetcher from its own threads
        self._stamp = self._stamps()
        self._checked = clock()
        self._material = self._read(1)

    @property
    def ca(self) -> Path:
        return self.paths[0]

    @property
    def cert(self) -> Path:
        return self.paths[1]

    @property
    def key(self) -> Path:
        return self.paths[2]

    def _stamps(self) -> tuple[tuple[int, int], ...]:
        try:
            return tuple((s.st_mtime_ns, s.st_ino) for s in map(os.stat, self.paths))
        except OSError as exc:
            raise CertificateError(f"cannot read TLS file {exc.filename}: {exc.strerror}") from None

    def _read(self, generation: int) -> Material:
        try:
            ca, cert, key = (path.read_bytes() for path in self.paths)
        except OSError as exc:
            raise CertificateError(f"cannot read TLS file {exc.filename}: {exc.strerror}") from None
        if not key_matches(cert, key):
            raise CertificateError(f"the key {self.key} does not belong to {self.cert}")
        return Material(generation, ca, cert, key)

    def current(self) -> Material:
        """The files' contents; read again when they changed since the last look."""
        with self._lock:
            now = self._clock()
            if now - self._checked < CHECK_EVERY:
                return self._material
            self._checked = now
            try:
                stamp = self._stamps()
                if stamp != self._stamp:
                    self._material = self._read(self._material.generation + 1)
                    self._stamp = stamp
            except CertificateError:
                pass  # a rotation half written, or a file replaced right now: keep the last pair
            return self._material


def tls_files(settings: MeshSettings) -> TlsFiles | None:
    """The process's TLS files as the settings name them; None for plain text.

    Raises:
        InvalidRequestError: only some of the three files are set.
        CertificateError: the files cannot be read or do not match.
    """
    if not settings.tls:
        return None
    given = {"tls_ca": settings.tls_ca, "tls_cert": settings.tls_cert, "tls_key": settings.tls_key}
    if not any(given.values()):
        return None
    missing = [f"MESH_{k.upper()}" for k, v in given.items() if not v]
    if missing:
        raise InvalidRequestError(f"TLS needs {', '.join(missing)} as well")
    return TlsFiles(*(str(v) for v in given.values()))


def speaks_tls(endpoint: ServiceEndpoint) -> bool:
    """Whether the endpoint's registry record says it serves TLS only."""
    return endpoint.metadata.get(TLS_METADATA) == "1"


def for_endpoint(endpoint: ServiceEndpoint, tls: TlsFiles | None) -> TlsFiles | None:
    """The credentials to dial ``endpoint`` with: ``tls`` when it speaks TLS, else none.

    Raises:
        ConnectionFailedError: it speaks TLS and this process has no certificate.
    """
    if not speaks_tls(endpoint):
        return None
    if tls is None:
        raise ConnectionFailedError(
            endpoint.address,
            "it serves mTLS only and this process has no certificate "
            "(set MESH_TLS_CA, MESH_TLS_CERT and MESH_TLS_KEY)",
        )
    return tls


def _channel_credentials(material: Material) -> grpc.ChannelCredentials:
    return grpc.ssl_channel_credentials(
        root_certificates=material.ca, private_key=material.key, certificate_chain=material.cert
    )


def channel(
    address: str, tls: TlsFiles | None, options: Sequence[tuple[str, Any]] = ()
) -> grpc.aio.Channel:
    """An asyncio channel to ``address``: mTLS with the current files, plain without ``tls``."""
    if tls is None:
        return grpc.aio.insecure_channel(address, options=options)
    return grpc.aio.secure_channel(address, _channel_credentials(tls.current()), options=options)


def blocking_channel(address: str, tls: TlsFiles | None) -> grpc.Channel:
    """A blocking channel to ``address``, as :func:`channel` (for worker threads)."""
    if tls is None:
        return grpc.insecure_channel(address)
    return grpc.secure_channel(address, _channel_credentials(tls.current()))


def server_credentials(tls: TlsFiles) -> grpc.ServerCredentials:
    """Server credentials that require a client certificate and follow rotations."""

    def configuration(material: Material) -> Any:
        return grpc.ssl_server_certificate_configuration(
            [(material.key, material.cert)], root_certificates=material.ca
        )

    served = [tls.current()]

    def fetch() -> Any:
        material = tls.current()
        if material.generation == served[0].generation:
            return None  # unchanged: gRPC keeps the configuration it has
        served[0] = material
        return configuration(material)

    return grpc.dynamic_ssl_server_credentials(
        configuration(served[0]), fetch, require_client_authentication=True
    )


def peer_identity(context: grpc.aio.ServicerContext[Any, Any]) -> str | None:
    """The caller's SPIFFE ID from its verified certificate; None in plain text or without one."""
    auth = context.auth_context()
    for key in _SPIFFE_PROPERTIES:
        for value in auth.get(key, ()):
            text = value.decode() if isinstance(value, bytes) else str(value)
            if text.startswith("spiffe://"):
                return text
    return None


def client_ssl_context(tls: TlsFiles) -> ssl.SSLContext:
    """An HTTPS client context: the peer checked against the CA, our certificate offered."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(tls.ca))
    context.load_cert_chain(str(tls.cert), str(tls.key))
    return context
