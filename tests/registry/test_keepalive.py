"""KeepAlive: registration held open by heartbeats, surviving deletion and outages."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import pytest

from meshctl.core.endpoint import ServiceEndpoint
from meshctl.errors import RegistryUnavailableError
from meshctl.registry import KeepAlive, ServiceRegistry
from meshctl.registry.keepalive import OUTAGE_RETRY
from meshctl.registry.keys import service_keys
from meshctl.testing import TcpProxy, closed_port

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
        assert (alive.beats, alive.registrations, alive.beat_failures) == (2, 2, 0)
        await alive.beat()
        assert (alive.beats, alive.registrations) == (3, 2)


def test_beats_are_spread_around_the_interval(endpoint: Make):
    alive = KeepAlive(ServiceRegistry("redis://127.0.0.1:1/0"), endpoint(), ttl=30)
    delays = [alive.next_delay() for _ in range(2000)]
    assert 9.0 <= min(delays) < 9.1 and 10.9 < max(delays) <= 11.0


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
            assert (alive.beat_failures, alive.beats) == (2, 0)
            # while Redis is away the next beat comes within OUTAGE_RETRY, not the interval
            assert alive.next_delay() <= 1.1 * OUTAGE_RETRY
    await registry.aclose()

    warnings = [r.getMessage() for r in caplog.records]
    # one warning for the outage, however many beats fail, and one for the deregistration
    assert len(warnings) == 2
    assert "Connection refused" in warnings[0]


class Observed:
    """A registry that tells when a heartbeat failed and when a registration went through."""

    def __init__(self, registry: ServiceRegistry) -> None:
        self.registry = registry
        self.beat_failed = asyncio.Event()
        self.registered = asyncio.Event()

    async def register_service(self, name: str, endpoint: ServiceEndpoint, ttl: float = 60) -> str:
        instance_id = await self.registry.register_service(name, endpoint, ttl)
        self.registered.set()
        return instance_id

    async def heartbeat(self, name: str, instance_id: str, ttl: float = 60) -> bool:
        try:
            return await self.registry.heartbeat(name, instance_id, ttl)
        except RegistryUnavailableError:
            self.beat_failed.set()
            raise

    async def deregister_service(self, name: str, instance_id: str) -> bool:
        return await self.registry.deregister_service(name, instance_id)


@pytest.mark.redis
async def test_registers_again_within_a_second_of_redis_coming_back_empty(
    redis_client, key_prefix: str, endpoint: Make
):
    interval = 2.0  # beats two seconds apart, but a second apart while Redis is away
    loop = asyncio.get_running_loop()
    async with TcpProxy(redis_client.connection_pool.connection_kwargs["port"]) as proxy:
        proxied = ServiceRegistry(proxy.redis_url, prefix=key_prefix)
        observed = Observed(proxied)
        async with KeepAlive(observed, endpoint(), ttl=60, interval=interval):
            observed.registered.clear()
            await proxy.stop()
            await asyncio.wait_for(observed.beat_failed.wait(), interval + 1)
            await redis_client.delete(*service_keys(key_prefix, "analytics")[:3])
            await proxy.start()
            started = loop.time()
            await asyncio.wait_for(observed.registered.wait(), interval + 1)
            assert loop.time() - started < OUTAGE_RETRY + 0.5
        await proxied.aclose()
