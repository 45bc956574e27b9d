"""Deadlines, reflection fallback, and the process-wide client built from settings."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from meshctl.config import MeshSettings
from meshctl.core.endpoint import ServiceEndpoint
from meshctl.errors import CallTimeoutError, InvalidRequestError
from meshctl.mesh import open_mesh
from meshctl.testing import Platform


@pytest.fixture
async def silent_port():
    """A TCP port that accepts connections and never answers."""
    held: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)
        await reader.read()

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    for writer in held:
        writer.close()
    server.close()
    await server.wait_closed()


async def test_a_silent_endpoint_times_out_and_trips_its_breaker(
    platform: Platform, mesh, silent_port
):
    endpoint = ServiceEndpoint(
        "analytics", "127.0.0.1", silent_port, metadata={"grpc_services": "its.v1.AnalyticsService"}
    )
    await platform.registry.register_service("analytics", endpoint, ttl=60)
    await mesh.watcher.refresh("analytics")
    with pytest.raises(CallTimeoutError, match=r"analytics/GetTrafficMetrics timed out after 0.3s"):
        await mesh.call_service("analytics", "GetTrafficMetrics", {}, timeout=0.3)
    breaker = mesh.breakers.peek_endpoint(endpoint)
    assert breaker.snapshot()["failure_count"] == 1


async def test_timeouts_must_be_positive(mesh):
    with pytest.raises(InvalidRequestError, match="timeout must be positive"):
        await mesh.call_service("analytics", "GetTrafficMetrics", {}, timeout=0)


async def test_methods_resolve_through_reflection_when_not_advertised(platform: Platform, mesh):
    port = await platform.start("analytics")
    (registered,) = await platform.registry.discover_services("analytics")
    await platform.registry.deregister_service("analytics", registered.instance_id)
    bare = dataclasses.replace(registered, metadata={}, instance_id="no-metadata")
    await platform.registry.register_service("analytics", bare, ttl=60)
    await mesh.watcher.refresh("analytics")
    reply = await mesh.call_service("analytics", "GetTrafficMetrics", {"camera_id": "x"})
    assert reply == {"metrics": []}
    assert "its.v1.AnalyticsService" in mesh.methods.reflected("analytics")
    assert (await mesh.call("analytics", "GetTrafficMetrics", {})).endpoint.port == port


async def test_open_mesh_wires_registry_and_bus_from_settings(platform: Platform, redis_url):
    await platform.start("analytics")
    settings = MeshSettings(redis_url=redis_url, prefix=platform.registry.prefix)
    mesh = open_mesh(settings, name="from-settings")
    async with mesh:
        assert mesh.name == "from-settings"
        reply = await mesh.call_service("analytics", "GetTrafficMetrics", {})
        assert "metrics" in reply
        event = await mesh.publish_event("frame.processed", {"frame_id": "f1"})
        assert event.source == "from-settings"
    await mesh.registry.aclose()
