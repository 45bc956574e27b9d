"""The HTTP side of the call path: its deadline, what its errors say, its health probe."""

from __future__ import annotations

import time

import pytest

from meshctl.core.endpoint import ServiceEndpoint
from meshctl.errors import CallTimeoutError, ConnectionFailedError
from meshctl.mesh import ServiceMeshClient
from meshctl.testing import Platform, closed_port
from meshctl.transport.http_client import HttpTransport
from tests.mesh.conftest import Fleet

ROUTES = {"route.health": "GET /api/v1/auth/health", "health_path": "/api/v1/auth/health"}


async def test_an_http_instance_that_never_answers_costs_the_deadline_and_no_more(fleet: Fleet):
    silent = await fleet.silent()
    endpoint = ServiceEndpoint("auth", silent.host, silent.port, protocol="http", metadata=ROUTES)
    http = HttpTransport(connect_timeout=0.2)
    try:
        began = time.monotonic()
        with pytest.raises(CallTimeoutError, match="auth/health timed out after 0.3s"):
            await http.call(endpoint, "health", {}, timeout=0.3, headers={})
        assert time.monotonic() - began < 0.4
        assert not await http.healthy(endpoint, 0.2)
    finally:
        await http.aclose()


async def test_a_refused_http_connection_never_left(platform: Platform):
    endpoint = ServiceEndpoint("auth", "127.0.0.1", closed_port(), protocol="http", metadata=ROUTES)
    http = HttpTransport()
    try:
        with pytest.raises(ConnectionFailedError) as info:
            await http.call(endpoint, "health", {}, timeout=1, headers={})
        assert info.value.retriable  # safe to send elsewhere, whatever the method
        assert not await http.healthy(endpoint, 0.5)
    finally:
        await http.aclose()


async def test_the_recovery_probe_reads_an_http_instances_health(
    platform: Platform, mesh: ServiceMeshClient
):
    await platform.start("auth")
    [endpoint] = await platform.registry.discover_services("auth")
    assert await mesh.sender.healthy(endpoint, 2.0)
    result = await mesh.call("auth", "health")
    assert result.attempts == 1 and result.latency > 0
