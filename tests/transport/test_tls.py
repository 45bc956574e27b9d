"""mTLS on real loopback servers: who is refused, who gets in, and rotation under load."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from fastapi import FastAPI, Request

from meshctl.core.endpoint import ServiceEndpoint
from meshctl.core.identity import client_id, service_id
from meshctl.errors import ConnectionFailedError, ServiceUnavailableError
from meshctl.proto.its.v1 import common_pb2, streaming_pb2
from meshctl.services.host import serve
from meshctl.services.rpc import service_handler
from meshctl.transport.certs import Issued, issue, load_or_create_ca, write_pair
from meshctl.transport.grpc_client import GrpcTransport
from meshctl.transport.http_client import HttpTransport
from meshctl.transport.methods import GrpcMethod
from meshctl.transport.tls import TlsFiles, peer_identity

PROCESS = GrpcMethod.from_descriptor(
    streaming_pb2.DESCRIPTOR.services_by_name["StreamingService"].methods_by_name[
        "ProcessDetections"
    ]
)


class Clock:
    """Monotonic seconds the test moves on, so rotations are seen without sleeping."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@dataclass
class WhoAmIApp:
    """ProcessDetections answers with the caller's SPIFFE ID, once released."""

    name: str = "streaming"
    grpc_service_names: Sequence[str] = ("its.v1.StreamingService",)
    gate: asyncio.Event = field(default_factory=asyncio.Event)
    waiting: int = 0
    arrived: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def held(self, count: int) -> None:
        """Return once ``count`` calls wait at the gate."""
        async with self.arrived:
            await self.arrived.wait_for(lambda: self.waiting >= count)

    def add_to_server(self, server: grpc.aio.Server) -> None:
        descriptor = streaming_pb2.DESCRIPTOR.services_by_name["StreamingService"]
        server.add_generic_rpc_handlers((service_handler(descriptor, self),))

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def ProcessDetections(self, request: Any, context: Any) -> Any:
        async with self.arrived:
            self.waiting += 1
            self.arrived.notify_all()
        await self.gate.wait()
        return streaming_pb2.ProcessDetectionsResponse(frame_id=peer_identity(context) or "-")

    async def GetTrafficMetrics(self, request: Any, context: Any) -> Any:
        return common_pb2.GetTrafficMetricsResponse()

    async def HealthCheck(self, request: Any, context: Any) -> Any:
        return streaming_pb2.HealthCheckResponse(status="ok")


class Pki:
    """A mesh CA in a temporary directory, issuing pairs into it."""

    def __init__(self, root: Path, name: str = "ca") -> None:
        self.root = root
        self.ca = load_or_create_ca(root / name, "mesh.local")
        self.ca_path = root / name / "ca.pem"

    def write(self, name: str, issued: Issued) -> tuple[Path, Path]:
        cert, key = self.root / f"{name}.pem", self.root / f"{name}-key.pem"
        write_pair(cert, key, issued)
        return cert, key

    def files(self, name: str, identity: Any, clock: Clock | None = None) -> TlsFiles:
        cert, key = self.write(name, issue(self.ca, identity, hours=1))
        return TlsFiles(self.ca_path, cert, key, **({"clock": clock} if clock else {}))


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return Pki(tmp_path)


async def _serve(app: Any, tls: TlsFiles) -> tuple[asyncio.Task[None], asyncio.Event, int]:
    stop = asyncio.Event()
    port: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(serve(app, stop_event=stop, ready=port.set_result, tls=tls))
    return task, stop, await asyncio.wait_for(port, 10)


def _endpoint(port: int, metadata: dict[str, str] | None = None) -> ServiceEndpoint:
    return ServiceEndpoint(
        service_name="streaming",
        host="127.0.0.1",
        port=port,
        metadata={"tls": "1", **(metadata or {})},
    )


async def _call(transport: GrpcTransport, port: int) -> str:
    request = PROCESS.request_class()
    reply = await transport.call(_endpoint(port), PROCESS, request, timeout=10, metadata={})
    return str(getattr(reply.message, "frame_id"))  # noqa: B009 (a generated message)


async def test_valid_client_gets_in_and_the_server_sees_its_spiffe_id(pki: Pki):
    app = WhoAmIApp()
    app.gate.set()
    task, stop, port = await _serve(app, pki.files("server", service_id("streaming")))
    transport = GrpcTransport(tls=pki.files("client", client_id("tester")))
    try:
        assert await _call(transport, port) == "spiffe://mesh.local/client/tester"
    finally:
        await transport.aclose()
        stop.set()
        await task


async def test_plain_text_client_and_client_of_another_ca_are_refused(pki: Pki):
    app = WhoAmIApp()
    app.gate.set()
    task, stop, port = await _serve(app, pki.files("server", service_id("streaming")))
    stranger = Pki(pki.root, "other-ca")
    # trusts the mesh's CA (so it would accept the server) but its own cert is not the mesh's
    strange_cert, strange_key = stranger.write(
        "stranger", issue(stranger.ca, client_id("x"), hours=1)
    )
    outsider = GrpcTransport(tls=TlsFiles(pki.ca_path, strange_cert, strange_key))
    plain = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        stub = plain.unary_unary(
            PROCESS.path,
            request_serializer=PROCESS.request_class.SerializeToString,
            response_deserializer=PROCESS.response_class.FromString,
        )
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub(PROCESS.request_class(), timeout=3)
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
        with pytest.raises(ConnectionFailedError):
            await _call(outsider, port)
        assert app.waiting == 0  # neither request reached the service
    finally:
        await plain.close()
        await outsider.aclose()
        stop.set()
        await task


async def test_client_without_a_certificate_is_told_why():
    transport = GrpcTransport()
    with pytest.raises(ConnectionFailedError, match="MESH_TLS_CERT"):
        await _call(transport, 1)
    await transport.aclose()


def _served_certificate(port: int, client: TlsFiles, alpn: str = "h2") -> bytes:
    """The certificate a new TLS connection to ``port`` is shown (DER)."""
    context = ssl.create_default_context(cafile=str(client.ca))
    context.load_cert_chain(str(client.cert), str(client.key))
    context.set_alpn_protocols([alpn])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname="localhost") as tls:
            der = tls.getpeercert(binary_form=True)
    assert der is not None
    return der


async def test_rotation_under_load_fails_no_call(pki: Pki):
    clock = Clock()
    app = WhoAmIApp()
    server_files = pki.files("server", service_id("streaming"), clock)
    task, stop, port = await _serve(app, server_files)
    client_files = pki.files("client", client_id("before"), clock)
    transport = GrpcTransport(tls=client_files)
    try:
        before = [asyncio.create_task(_call(transport, port)) for _ in range(200)]
        await app.held(200)
        first_cert = await asyncio.to_thread(_served_certificate, port, client_files)

        # Both sides' files are replaced (as `meshctl up` or cert-manager would) and looked at.
        new_server = issue(pki.ca, service_id("streaming"), hours=1)
        pki.write("server", new_server)
        pki.write("client", issue(pki.ca, client_id("after"), hours=1))
        clock.now += 60
        after = [asyncio.create_task(_call(transport, port)) for _ in range(200)]
        await app.held(400)
        second_cert = await asyncio.to_thread(_served_certificate, port, client_files)
        app.gate.set()
        results = await asyncio.gather(*before, *after, return_exceptions=True)
    finally:
        await transport.aclose()
        stop.set()
        await task
    failures = [r for r in results if isinstance(r, BaseException)]
    assert failures == []
    assert set(results[:200]) == {"spiffe://mesh.local/client/before"}
    assert set(results[200:]) == {"spiffe://mesh.local/client/after"}
    fresh = x509.load_pem_x509_certificate(new_server.cert_pem).public_bytes(Encoding.DER)
    assert first_cert != second_cert == fresh


@dataclass
class EchoHttps:
    name: str = "auth"
    asgi_app: Any = None
    metadata: dict[str, str] = field(default_factory=lambda: {"route.whoami": "GET /whoami"})

    def __post_init__(self) -> None:
        api = FastAPI()

        @api.get("/whoami")
        async def whoami(request: Request) -> dict[str, Any]:
            return {"ok": True}

        self.asgi_app = api

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass


async def test_https_service_with_a_client_certificate(pki: Pki):
    task, stop, port = await _serve(EchoHttps(), pki.files("auth", service_id("auth")))
    client = pki.files("client", client_id("tester"))
    transport = HttpTransport(tls=client)
    endpoint = _endpoint(port, {"route.whoami": "GET /whoami", "scheme": "https"})
    stranger = Pki(pki.root, "other-ca")
    bad_cert, bad_key = stranger.write("bad", issue(stranger.ca, client_id("x"), hours=1))
    try:
        reply = await transport.call(endpoint, "whoami", {}, timeout=5, headers={})
        assert reply.body == {"ok": True}
        async with httpx.AsyncClient() as plain:
            with pytest.raises(httpx.TransportError):
                await plain.get(f"http://127.0.0.1:{port}/whoami")
        outsider = HttpTransport(tls=TlsFiles(pki.ca_path, bad_cert, bad_key))
        # TLS 1.3 refuses a client certificate after the handshake: lost, not failed to connect
        with pytest.raises(ServiceUnavailableError):
            await outsider.call(endpoint, "whoami", {}, timeout=5, headers={})
        await outsider.aclose()

        # A rotated certificate reaches new connections without a restart.
        shown = await asyncio.to_thread(_served_certificate, port, client, "http/1.1")
        rotated = issue(pki.ca, service_id("auth"), hours=1)
        pki.write("auth", rotated)
        fresh = x509.load_pem_x509_certificate(rotated.cert_pem).public_bytes(Encoding.DER)
        async with asyncio.timeout(10):  # the server looks at its files once a second
            while shown != fresh:
                await asyncio.sleep(0.2)
                shown = await asyncio.to_thread(_served_certificate, port, client, "http/1.1")
        assert (await transport.call(endpoint, "whoami", {}, timeout=5, headers={})).body
    finally:
        await transport.aclose()
        stop.set()
        await task


def test_files_are_read_again_only_when_changed_and_whole(pki: Pki):
    clock = Clock()
    files = pki.files("svc", service_id("alert"), clock)
    first = files.current()
    assert first.generation == 1
    half = issue(pki.ca, service_id("alert"), hours=1)
    pki.write("other", half)
    files.cert.write_bytes(half.cert_pem)  # the certificate replaced, its key not yet
    clock.now += 0.5
    assert files.current() is first  # not looked at within a second
    clock.now += 1
    assert files.current() is first  # looked at: a mismatched pair is not taken
    files.key.write_bytes(half.key_pem)
    clock.now += 1
    second = files.current()
    assert second.generation == 2 and second.cert == half.cert_pem


def test_settings_name_all_three_files_or_none(pki: Pki):
    from meshctl.config import MeshSettings
    from meshctl.errors import InvalidRequestError
    from meshctl.transport.tls import tls_files

    files = pki.files("svc", service_id("alert"))
    ca, cert, key = str(files.ca), str(files.cert), str(files.key)
    assert tls_files(MeshSettings()) is None
    assert tls_files(MeshSettings(tls_ca=ca, tls_cert=cert, tls_key=key, tls=False)) is None
    loaded = tls_files(MeshSettings(tls_ca=ca, tls_cert=cert, tls_key=key))
    assert loaded is not None and loaded.cert == files.cert
    with pytest.raises(InvalidRequestError, match="MESH_TLS_KEY"):
        tls_files(MeshSettings(tls_ca=ca, tls_cert=cert))
