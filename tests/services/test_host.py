"""The host serves an app on port 0, registers it, restores context and stops gracefully."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc
import httpx
import pytest
from fastapi import FastAPI
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

from meshctl.core.context import CorrelationContext, current_context
from meshctl.proto.its.v1 import common_pb2, streaming_pb2, streaming_pb2_grpc
from meshctl.registry import ServiceRegistry
from meshctl.services.host import serve
from meshctl.services.rpc import service_handler

pytestmark = pytest.mark.redis


@dataclass
class SlowApp:
    """A streaming-shaped app whose ProcessDetections waits until released."""

    name: str = "streaming"
    grpc_service_names: Sequence[str] = ("its.v1.StreamingService",)
    entered: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    events: list[str] = field(default_factory=list)

    def add_to_server(self, server: grpc.aio.Server) -> None:
        descriptor = streaming_pb2.DESCRIPTOR.services_by_name["StreamingService"]
        server.add_generic_rpc_handlers((service_handler(descriptor, self),))

    async def start(self) -> None:
        self.events.append("start")

    async def stop(self) -> None:
        self.events.append("stop")

    async def ProcessDetections(self, request: Any, context: Any) -> Any:
        self.entered.set()
        await self.release.wait()
        self.events.append("call done")
        return streaming_pb2.ProcessDetectionsResponse(frame_id=request.frame.frame_id)

    async def GetTrafficMetrics(self, request: Any, context: Any) -> Any:
        return common_pb2.GetTrafficMetricsResponse()

    async def HealthCheck(self, request: Any, context: Any) -> Any:
        ctx = current_context()
        assert ctx is not None
        return streaming_pb2.HealthCheckResponse(status=f"{ctx.correlation_id} {ctx.trace_id}")


@pytest.fixture
async def registry(redis_client: Any, key_prefix: str) -> AsyncIterator[ServiceRegistry]:
    reg = ServiceRegistry(redis_client, prefix=key_prefix)
    yield reg
    await reg.aclose()


async def _start(app: Any, registry: ServiceRegistry | None, **kwargs: Any):
    stop = asyncio.Event()
    port: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(
        serve(app, registry=registry, stop_event=stop, ready=port.set_result, **kwargs)
    )
    return task, stop, await asyncio.wait_for(port, 10)


async def test_grpc_app_registers_answers_health_reflection_and_sees_context(
    registry: ServiceRegistry,
) -> None:
    app = SlowApp()
    task, stop, port = await _start(app, registry)
    try:
        [endpoint] = await registry.discover_services("streaming")
        assert (endpoint.host, endpoint.port, endpoint.protocol) == ("127.0.0.1", port, "grpc")
        assert endpoint.metadata["grpc_services"] == "its.v1.StreamingService"

        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            health = health_pb2_grpc.HealthStub(channel)
            for name in ("", "its.v1.StreamingService"):
                reply = await health.Check(health_pb2.HealthCheckRequest(service=name))
                assert reply.status == health_pb2.HealthCheckResponse.SERVING

            stub = streaming_pb2_grpc.StreamingServiceStub(channel)
            for n in (1, 2):  # the second call of a method sees its own context
                ctx = CorrelationContext.new(f"corr-host-{n}")
                reply = await stub.HealthCheck(
                    streaming_pb2.HealthCheckRequest(), metadata=tuple(ctx.to_headers().items())
                )
                assert reply.status == f"corr-host-{n} {ctx.trace_id}"

        def listed() -> list[str]:
            sync_channel = grpc.insecure_channel(f"127.0.0.1:{port}")
            try:
                return sorted(ProtoReflectionDescriptorDatabase(sync_channel).get_services())
            finally:
                sync_channel.close()

        assert await asyncio.to_thread(listed) == [
            "grpc.health.v1.Health",
            "grpc.reflection.v1alpha.ServerReflection",
            "its.v1.StreamingService",
        ]
    finally:
        stop.set()
        await task
    assert await registry.discover_services("streaming") == []
    assert app.events == ["start", "stop"]


async def test_stop_deregisters_first_then_drains_the_in_flight_call(
    registry: ServiceRegistry,
) -> None:
    app = SlowApp()
    task, stop, port = await _start(app, registry, grace=10)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = streaming_pb2_grpc.StreamingServiceStub(channel)
        request = common_pb2.ProcessDetectionsRequest(frame=common_pb2.Frame(frame_id="f-1"))
        call = asyncio.ensure_future(stub.ProcessDetections(request))
        await asyncio.wait_for(app.entered.wait(), 10)
        stop.set()
        for _ in range(500):  # deregistration happens before the drain starts
            if not await registry.discover_services("streaming"):
                break
            await asyncio.sleep(0.01)
        assert await registry.discover_services("streaming") == []
        assert not task.done()
        app.release.set()
        reply = await asyncio.wait_for(call, 10)
    await asyncio.wait_for(task, 10)
    assert reply.frame_id == "f-1"
    assert app.events == ["start", "call done", "stop"]


@dataclass
class EchoHttpApp:
    name: str = "auth"
    asgi_app: Any = None
    metadata: dict[str, str] = field(
        default_factory=lambda: {"route.echo": "GET /echo", "health_path": "/echo"}
    )

    def __post_init__(self) -> None:
        api = FastAPI()

        @api.get("/echo")
        async def echo() -> dict[str, str | None]:
            ctx = current_context()
            return {"correlation_id": ctx.correlation_id if ctx else None}

        self.asgi_app = api

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass


async def test_http_app_registers_and_restores_context(registry: ServiceRegistry) -> None:
    task, stop, port = await _start(EchoHttpApp(), registry)
    try:
        [endpoint] = await registry.discover_services("auth")
        assert (endpoint.port, endpoint.protocol) == (port, "http")
        assert endpoint.metadata["route.echo"] == "GET /echo"
        headers = CorrelationContext.new("corr-http-1").to_headers()
        async with httpx.AsyncClient() as client:
            reply = await client.get(f"http://127.0.0.1:{port}/echo", headers=headers)
        assert reply.json() == {"correlation_id": "corr-http-1"}
        assert reply.headers["x-correlation-id"] == "corr-http-1"
    finally:
        stop.set()
        await task
    assert await registry.discover_services("auth") == []


async def _closed_by_server(port: int, within: float) -> bool:
    """Open a connection, send nothing, and tell whether the server closes it in time."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        async with asyncio.timeout(within):
            while await reader.read(4096):  # gRPC sends its SETTINGS first
                pass
        return True
    except TimeoutError:
        return False
    finally:
        writer.close()


@pytest.mark.parametrize("app", [SlowApp, EchoHttpApp])
async def test_connections_that_never_start_are_closed(app: Any) -> None:
    """Silent connections (300 held for 12 s were never closed) go after the idle timeout;
    a connection in use is left alone."""
    task, stop, port = await _start(app(), None, idle_timeout=0.5)
    try:
        closed = await asyncio.gather(*(_closed_by_server(port, within=5) for _ in range(20)))
        assert all(closed)
        if app is EchoHttpApp:
            async with httpx.AsyncClient() as client:
                assert (await client.get(f"http://127.0.0.1:{port}/echo")).status_code == 200
        else:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                stub = streaming_pb2_grpc.StreamingServiceStub(channel)
                await stub.GetTrafficMetrics(common_pb2.GetTrafficMetricsRequest())
    finally:
        stop.set()
        await task
