"""HealthMonitor against a real grpc.aio health server and a tiny real HTTP server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from meshctl.core.endpoint import HealthStatus, ServiceEndpoint
from meshctl.registry import HealthMonitor, RegistryWatcher, ServiceRegistry
from meshctl.testing import FakeClock, closed_port

Make = Callable[..., ServiceEndpoint]
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


@pytest.fixture
async def grpc_health() -> AsyncIterator[tuple[int, health.aio.HealthServicer]]:
    """A grpc.aio server on a free port whose overall status is SERVING."""
    server = grpc.aio.server()
    servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    await servicer.set("", SERVING)
    yield port, servicer
    await server.stop(None)


@pytest.fixture
async def http_port() -> AsyncIterator[int]:
    """A minimal HTTP server: 200 on /health and /live, 503 elsewhere."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request_line = await reader.readline()
        while (await reader.readline()) not in (b"\r\n", b""):
            pass
        path = request_line.split()[1] if request_line else b"/"
        status = b"200 OK" if path in (b"/health", b"/live") else b"503 Service Unavailable"
        writer.write(b"HTTP/1.1 " + status + b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        await writer.drain()
        writer.close()
        await writer.wait_closed()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()


async def test_one_pass_records_every_instance(
    registry: ServiceRegistry,
    endpoint: Make,
    grpc_health: tuple[int, health.aio.HealthServicer],
    http_port: int,
):
    grpc_port, servicer = grpc_health
    await servicer.set("its.v1.Alert", NOT_SERVING)
    instances = {
        "grpc serving": endpoint("streaming", port=grpc_port),
        "grpc not serving": endpoint(
            "alert", port=grpc_port, metadata={"health_service": "its.v1.Alert"}
        ),
        "grpc closed": endpoint("streaming", port=closed_port()),
        "http ok": endpoint("auth", port=http_port, protocol="http"),
        "http custom path": endpoint(
            "auth", port=http_port, protocol="http", metadata={"health_path": "live"}
        ),
        "http 503": endpoint(
            "auth", port=http_port, protocol="http", metadata={"health_path": "/x"}
        ),
        "http closed": endpoint("auth", port=closed_port(), protocol="http"),
    }
    for ep in instances.values():
        await registry.register_service(ep.service_name, ep)

    found = await HealthMonitor(registry, timeout=2).check_once()

    expected = {
        "grpc serving": HealthStatus.HEALTHY,
        "grpc not serving": HealthStatus.UNHEALTHY,
        "grpc closed": HealthStatus.UNHEALTHY,
        "http ok": HealthStatus.HEALTHY,
        "http custom path": HealthStatus.HEALTHY,
        "http 503": HealthStatus.UNHEALTHY,
        "http closed": HealthStatus.UNHEALTHY,
    }
    assert {label: found[ep.key] for label, ep in instances.items()} == expected
    snapshot = await registry.snapshot()
    recorded = {ep.key: ep.health_status for group in snapshot.values() for ep in group}
    assert {label: recorded[ep.key] for label, ep in instances.items()} == expected


async def test_a_status_change_is_picked_up(
    registry: ServiceRegistry, endpoint: Make, grpc_health: tuple[int, health.aio.HealthServicer]
):
    port, servicer = grpc_health
    ep = endpoint("streaming", port=port)
    await registry.register_service("streaming", ep)
    monitor = HealthMonitor(registry, timeout=2)

    assert (await monitor.check_once())[ep.key] is HealthStatus.HEALTHY
    await servicer.set("", NOT_SERVING)
    assert (await monitor.check_once())[ep.key] is HealthStatus.UNHEALTHY
    [found] = await registry.discover_services("streaming")
    assert found.health_status is HealthStatus.UNHEALTHY


async def test_writes_only_on_change_or_when_due(
    registry: ServiceRegistry, endpoint: Make, grpc_health: tuple[int, health.aio.HealthServicer]
):
    ep = endpoint("streaming", port=grpc_health[0])
    await registry.register_service("streaming", ep)
    clock = FakeClock(0.0)
    monitor = HealthMonitor(registry, interval=10, timeout=2, clock=clock)

    async def last_check() -> float | None:
        [found] = await registry.discover_services("streaming")
        return found.last_check

    await monitor.check_once()
    first = await last_check()
    assert first is not None

    clock.now = 49.0  # rewrite_after defaults to five intervals
    await monitor.check_once()
    assert await last_check() == first

    clock.now = 50.0
    await monitor.check_once()
    second = await last_check()
    assert second is not None and second > first


async def test_runs_passes_in_the_background(
    registry: ServiceRegistry, endpoint: Make, grpc_health: tuple[int, health.aio.HealthServicer]
):
    ep = endpoint("streaming", port=grpc_health[0])
    await registry.register_service("streaming", ep)
    async with RegistryWatcher(registry, refresh_interval=3600) as watcher:
        view = await watcher.get("streaming")
        async with HealthMonitor(registry, interval=3600, timeout=2):
            checked = await asyncio.wait_for(watcher.wait_changed("streaming", view), 5)
    assert checked[0].health_status is HealthStatus.HEALTHY
    assert not [t for t in asyncio.all_tasks() if t.get_name() == "registry-health-monitor"]
