"""KeepAlive: registration held open by heartbeats, surviving deletion and outages."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import pytest

from meshctl.core.endpoint import ServiceEndpoint
from meshctl.registry import ServiceRegistry
from meshctl.registry.keys import service_keys
from meshctl.testing import closed_port

Make = Callable[..., ServiceEndpoint]


async def test_registers_on_enter_and_deregisters_on_exit(
    registry: ServiceRegistry, endpoint: Make
):
    ep = endpoint()
    async with registry.keep_alive(ep, ttl=30) as alive:
        assert alive.registered
        assert alive.interval == 10
        assert await registry.discover_services("analytics") == [ep]
    assert await registry.discover_services("analytics") == []


async def test_re_registers_after_the_record_is_deleted(
    registry: ServiceRegistry, endpoint: Make, caplog: pytest.LogCaptureFixture
):
    ep = endpoint()
    async with registry.keep_alive(ep, ttl=30, interval=3600) as alive:
        await registry.redis.delete(*service_keys(registry.prefix, "analytics")[:3])
        assert await registry.discover_services("analytics") == []

        with caplog.at_level(logging.INFO, logger="meshctl.registry"):
            await alive.beat()

        assert await registry.discover_services("analytics") == [ep]
        assert "vanished" in caplog.text


async def test_heartbeats_outlast_the_ttl(registry: ServiceRegistry, endpoint: Make):
    ep = endpoint()
    async with registry.keep_alive(ep, ttl=0.3, interval=0.05):
        await asyncio.sleep(0.6)  # twice the TTL, real Redis expiry
        assert await registry.discover_services("analytics") == [ep]


async def test_logs_instead_of_raising_while_redis_is_unreachable(
    endpoint: Make, caplog: pytest.LogCaptureFixture
):
    registry = ServiceRegistry(f"redis://127.0.0.1:{closed_port()}/0")
    with caplog.at_level(logging.WARNING, logger="meshctl.registry"):
        async with registry.keep_alive(endpoint(), ttl=30, interval=3600) as alive:
            assert not alive.registered
            await alive.beat()
    await registry.aclose()

    warnings = [r.getMessage() for r in caplog.records]
    # one warning for the outage, however many beats fail, and one for the deregistration
    assert len(warnings) == 2
    assert "Connection refused" in warnings[0]
