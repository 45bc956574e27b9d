"""Every service counts what it served, per method, and publishes it as a server report.

Real servers on loopback, real Redis: the counts are read back the way ``top``
and ``check`` read them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc
import httpx
import pytest
from fastapi import FastAPI
from grpc_health.v1 import health_pb2, health_pb2_grpc

from meshctl.config import MeshSettings
from meshctl.mesh import open_mesh
from meshctl.proto.its.v1 import common_pb2, streaming_pb2, streaming_pb2_grpc
from meshctl.registry import ServiceRegistry
from meshctl.registry.control import read_reports
from meshctl.services.host import serve
from meshctl.services.rpc import service_handler

pytestmark = pytest.mark.redis


@dataclass
class VerdictApp:
    """GetTrafficMetrics answers by its camera id: ok, a caller's mistake, a fault, a crash."""

    name: str = "streaming"
    grpc_service_names: Sequence[str] = ("its.v1.StreamingService",)

    def add_to_server(self, server: grpc.aio.Server) -> None:
        descriptor = streaming_pb2.DESCRIPTOR.services_by_name["StreamingService"]
        server.add_generic_rpc_handlers((service_handler(descriptor, self),))

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def GetTrafficMetrics(self, request: Any, context: Any) -> Any:
        if request.camera_id == "missing":
            await context.abort(grpc.StatusCode.NOT_FOUND, "no such camera")
        if request.camera_id == "broken":
            await context.abort(grpc.StatusCode.INTERNAL, "storage failed")
        if request.camera_id == "crash":
            raise RuntimeError("a bug")
        return common_pb2.GetTrafficMetricsResponse()

    async def ProcessDetections(self, request: Any, context: Any) -> Any:
        return streaming_pb2.ProcessDetectionsResponse()

    async def HealthCheck(self, request: Any, context: Any) -> Any:
        return streaming_pb2.HealthCheckResponse()


@dataclass
class RoutesApp:
    name: str = "auth"
    asgi_app: Any = None
    metadata: dict[str, str] = field(
        default_factory=lambda: {
            "route.echo": "GET /echo",
            "route.boom": "POST /boom",
            "route.health": "GET /health",
            "health_path": "/health",
        }
    )

    def __post_init__(self) -> None:
        api = FastAPI()

        @api.get("/echo")
        async def echo() -> dict[str, str]:
            return {"ok": "yes"}

        @api.post("/boom")
        async def boom() -> None:
            raise RuntimeError("a bug")

        @api.get("/health")
        async def health() -> dict[str, str]:
            return {"status": "healthy"}

        self.asgi_app = api

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass


@pytest.fixture
async def registry(redis_client: Any, key_prefix: str) -> AsyncIterator[ServiceRegistry]:
    reg = ServiceRegistry(redis_client, prefix=key_prefix)
    yield reg
    await reg.aclose()


async def _start(app: Any, registry: ServiceRegistry) -> tuple[asyncio.Task[None], Any, int]:
    stop = asyncio.Event()
    port: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(
        serve(app, registry=registry, stop_event=stop, ready=port.set_result)
    )
    return task, stop, await asyncio.wait_for(port, 10)


async def served_report(
    registry: ServiceRegistry, until: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    """The one server report, once ``until`` holds of it (reports go out once a second)."""
    async with asyncio.timeout(10):
        while True:
            servers = (await read_reports(registry.redis, registry.prefix)).servers
            if len(servers) == 1 and until(servers[0]):
                return servers[0]
            await asyncio.sleep(0.1)


async def test_grpc_calls_are_counted_per_method_with_statuses(registry: ServiceRegistry):
    task, stop, port = await _start(VerdictApp(), registry)
    try:
        [endpoint] = await registry.discover_services("streaming")
        first = await served_report(registry, lambda r: True)  # there from the start
        assert (first["name"], first["role"], first["instance_id"]) == (
            "streaming", "server", endpoint.instance_id,
        )  # fmt: skip
        assert first["address"] == endpoint.address and first["served"] == {}
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
            stub = streaming_pb2_grpc.StreamingServiceStub(channel)
            for camera in ("ok", "ok", "missing", "broken", "crash"):
                request = common_pb2.GetTrafficMetricsRequest(camera_id=camera)
                try:
                    await stub.GetTrafficMetrics(request)
                except grpc.aio.AioRpcError:
                    pass

        def counted(report: dict[str, Any]) -> bool:
            return bool(report["served"].get("GetTrafficMetrics", {}).get("requests") == 5)

        report = await served_report(registry, counted)
        stats = report["served"]["GetTrafficMetrics"]
        assert stats["errors"] == {"NOT_FOUND": 1, "INTERNAL": 1, "UNKNOWN": 1}
        assert stats["failures"] == 2  # NOT_FOUND was the caller's mistake
        assert stats["active"] == 0 and stats["latency_ms"]["max"] > 0
        assert set(report["served"]) == {"GetTrafficMetrics"}  # the health probe is not counted
        assert report["callers"] == {}  # a raw stub says nothing of who it is
        async with open_mesh(
            MeshSettings(prefix=registry.prefix), name="ops-cli", registry=registry, events=False
        ) as mesh:
            await mesh.call("streaming", "GetTrafficMetrics", {"camera_id": "ok"})
        report = await served_report(registry, lambda r: "ops-cli" in r["callers"])
        assert report["callers"]["ops-cli"] == {"requests": 1, "failures": 0}
    finally:
        stop.set()
        await task
    assert (await read_reports(registry.redis, registry.prefix)).servers == []


async def test_http_requests_are_counted_per_route(registry: ServiceRegistry):
    task, stop, port = await _start(RoutesApp(), registry)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            assert (await client.get("/echo")).status_code == 200
            assert (await client.get("/nowhere")).status_code == 404
            assert (await client.post("/boom")).status_code == 500
            assert (await client.get("/health")).status_code == 200

        def counted(report: dict[str, Any]) -> bool:
            return sum(int(s["requests"]) for s in report["served"].values()) == 3

        served = (await served_report(registry, counted))["served"]
        assert set(served) == {"echo", "boom", "unrouted"}
        assert (served["echo"]["requests"], served["echo"]["failures"]) == (1, 0)
        assert served["unrouted"]["errors"] == {"HTTP 404": 1}
        assert served["unrouted"]["failures"] == 0
        assert (served["boom"]["errors"], served["boom"]["failures"]) == ({"HTTP 500": 1}, 1)
    finally:
        stop.set()
        await task


async def test_the_metrics_endpoint_is_announced_and_shows_the_calls(
    registry: ServiceRegistry,
):
    from prometheus_client.parser import text_string_to_metric_families

    stop = asyncio.Event()
    port: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(
        serve(
            VerdictApp(), registry=registry, stop_event=stop, ready=port.set_result, metrics_port=0
        )  # fmt: skip
    )
    try:
        bound = await asyncio.wait_for(port, 10)
        [endpoint] = await registry.discover_services("streaming")
        url = endpoint.metadata["metrics_url"]
        assert url.startswith("http://127.0.0.1:") and url.endswith("/metrics")
        async with grpc.aio.insecure_channel(f"127.0.0.1:{bound}") as channel:
            stub = streaming_pb2_grpc.StreamingServiceStub(channel)
            for camera in ("ok", "ok", "missing"):
                with contextlib.suppress(grpc.aio.AioRpcError):
                    await stub.GetTrafficMetrics(
                        common_pb2.GetTrafficMetricsRequest(camera_id=camera)
                    )
        async with httpx.AsyncClient() as client:
            reply = await client.get(url)
        assert reply.status_code == 200
        requests = {
            s.labels["code"]: s.value
            for family in text_string_to_metric_families(reply.text)
            for s in family.samples
            if s.name == "meshctl_server_requests_total"
            and s.labels["instance_id"] == endpoint.instance_id
        }
        assert requests == {"OK": 2.0, "NOT_FOUND": 1.0}
        beats = {
            s.name: s.value
            for family in text_string_to_metric_families(reply.text)
            for s in family.samples
            if s.labels.get("instance_id") == endpoint.instance_id
            and s.name.startswith(("meshctl_heartbeat", "meshctl_registrations"))
        }
        # registered once on start; the 20 s heartbeat has not come yet
        assert beats == {
            "meshctl_heartbeats_total": 1.0,
            "meshctl_heartbeat_failures_total": 0.0,
            "meshctl_registrations_total": 1.0,
        }
    finally:
        stop.set()
        await task
    async with httpx.AsyncClient() as client:  # the instance is gone from the exposition
        text = (await client.get(url)).text
    assert endpoint.instance_id not in text
