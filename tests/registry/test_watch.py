"""RegistryWatcher: a cached view driven by pub/sub, serving its last view through outages."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable

import pytest

from meshctl.core.endpoint import HealthStatus, ServiceEndpoint
from meshctl.errors import RegistryUnavailableError
from meshctl.registry import CachedRegistry, RegistryWatcher, ServiceRegistry
from meshctl.registry.keys import service_keys
from meshctl.testing import FakeClock, TcpProxy, closed_port

Make = Callable[..., ServiceEndpoint]

# No periodic safety net during these tests: only messages can refresh the view.
NEVER = 3600.0


async def changed(
    watcher: RegistryWatcher, name: str, previous: object
) -> tuple[ServiceEndpoint, ...]:
    return await asyncio.wait_for(watcher.wait_changed(name, previous), timeout=5)  # type: ignore[arg-type]


def watch_tasks() -> list[asyncio.Task[object]]:
    return [t for t in asyncio.all_tasks() if t.get_name().startswith("registry-watch")]


async def test_messages_refresh_the_view_without_polling(registry: ServiceRegistry, endpoint: Make):
    async with RegistryWatcher(registry, refresh_interval=NEVER) as watcher:
        empty = await watcher.get("analytics")
        assert empty == () and not watcher.stale

        ep = endpoint()
        await registry.register_service("analytics", ep)
        view = await changed(watcher, "analytics", empty)
        assert view == (ep,)

        await registry.set_health("analytics", ep.instance_id, HealthStatus.HEALTHY)
        healthier = await changed(watcher, "analytics", view)
        assert healthier[0].health_status is HealthStatus.HEALTHY

        await registry.deregister_service("analytics", ep.instance_id)
        assert await changed(watcher, "analytics", healthier) == ()
    assert watch_tasks() == []


async def test_the_view_keeps_its_identity_until_it_changes(
    registry: ServiceRegistry, endpoint: Make
):
    await registry.register_service("analytics", endpoint())
    async with CachedRegistry(registry, refresh_interval=NEVER) as watcher:
        view = await watcher.get("analytics")
        await watcher.refresh("analytics")
        assert await watcher.get("analytics") is view
        assert watcher.peek("analytics") is view
        assert watcher.peek("alert") is None


async def test_periodic_refresh_notices_silent_expiry(registry: ServiceRegistry, endpoint: Make):
    ep = endpoint()
    await registry.register_service("analytics", ep, ttl=0.3)
    async with RegistryWatcher(registry, refresh_interval=0.1) as watcher:
        view = await watcher.get("analytics")
        assert view == (ep,)
        assert await changed(watcher, "analytics", view) == ()


@pytest.fixture
async def proxy(redis_client) -> AsyncIterator[TcpProxy]:
    """A cuttable path to the real Redis."""
    async with TcpProxy(redis_client.connection_pool.connection_kwargs["port"]) as proxy:
        yield proxy


@pytest.mark.redis
async def test_serves_the_last_view_while_redis_is_away(
    redis_client, key_prefix: str, proxy: TcpProxy, endpoint: Make
):
    direct = ServiceRegistry(redis_client, prefix=key_prefix)
    proxied = ServiceRegistry(proxy.redis_url, prefix=key_prefix)
    first, second = endpoint(), endpoint()
    await direct.register_service("analytics", first)
    try:
        async with RegistryWatcher(proxied, refresh_interval=NEVER, retry_interval=0.05) as watcher:
            view = await watcher.get("analytics")
            assert view == (first,) and not watcher.stale

            await proxy.stop()
            with pytest.raises(RegistryUnavailableError, match=f"redis://127.0.0.1:{proxy.port}/0"):
                await watcher.refresh("analytics")
            assert watcher.stale
            assert await watcher.get("analytics") is view

            await direct.register_service("analytics", second)  # missed while away
            await proxy.start()
            recovered = await changed(watcher, "analytics", view)
            assert set(recovered) == {first, second}
            assert not watcher.stale
    finally:
        await proxied.aclose()
    assert watch_tasks() == []


@pytest.fixture
async def nowhere() -> AsyncIterator[ServiceRegistry]:
    registry = ServiceRegistry(f"redis://127.0.0.1:{closed_port()}/0")
    yield registry
    await registry.aclose()


async def test_starts_stale_when_redis_is_unreachable(nowhere: ServiceRegistry):
    async with RegistryWatcher(nowhere, retry_interval=0.05) as watcher:
        assert watcher.stale
        with pytest.raises(RegistryUnavailableError, match="Connection refused"):
            await watcher.get("analytics")
    assert watch_tasks() == []


async def test_an_unannounced_empty_answer_is_held_for_a_bounded_time(
    registry: ServiceRegistry, endpoint: Make
):
    clock = FakeClock()
    ep = endpoint()
    await registry.register_service("analytics", ep)
    watcher = RegistryWatcher(registry, fail_static_for=45, clock=clock)
    view = await watcher.get("analytics")
    await registry.redis.delete(*service_keys(registry.prefix, "analytics")[:3])  # as a flush

    await watcher.refresh("analytics")
    assert await watcher.get("analytics") is view and watcher.fail_static("analytics")
    clock.advance(44)
    await watcher.refresh("analytics")
    assert watcher.peek("analytics") is view and watcher.held == {"analytics": 44}

    clock.advance(1)
    await watcher.refresh("analytics")
    assert watcher.peek("analytics") == () and not watcher.fail_static("analytics")


async def test_a_view_held_ends_when_the_instances_return(
    registry: ServiceRegistry, endpoint: Make
):
    first, second = endpoint(), endpoint()
    await registry.register_service("analytics", first)
    watcher = RegistryWatcher(registry, clock=FakeClock())
    await watcher.get("analytics")
    await registry.redis.delete(*service_keys(registry.prefix, "analytics")[:3])
    await watcher.refresh("analytics")
    assert watcher.fail_static("analytics")

    await registry.register_service("analytics", second)
    await watcher.refresh("analytics")
    assert watcher.peek("analytics") == (second,) and watcher.held == {}


async def test_fail_static_can_be_turned_off(registry: ServiceRegistry, endpoint: Make):
    await registry.register_service("analytics", endpoint())
    watcher = RegistryWatcher(registry, fail_static_for=0)
    await watcher.get("analytics")
    await registry.redis.delete(*service_keys(registry.prefix, "analytics")[:3])
    await watcher.refresh("analytics")
    assert watcher.peek("analytics") == ()


async def test_an_announced_departure_empties_the_view_at_once(
    registry: ServiceRegistry, endpoint: Make
):
    a, b = endpoint(), endpoint()
    await registry.register_service("analytics", a)
    await registry.register_service("analytics", b)
    async with RegistryWatcher(registry, refresh_interval=NEVER) as watcher:
        first = await watcher.get("analytics")
        await registry.deregister_service("analytics", a.instance_id)
        second = await changed(watcher, "analytics", first)
        await registry.deregister_service("analytics", b.instance_id)
        assert await changed(watcher, "analytics", second) == ()
        assert not watcher.fail_static("analytics")


async def test_malformed_and_oversized_events_do_not_stop_the_listener(
    registry: ServiceRegistry, endpoint: Make, caplog: pytest.LogCaptureFixture
):
    async with RegistryWatcher(registry, refresh_interval=NEVER) as watcher:
        view = await watcher.get("analytics")
        with caplog.at_level(logging.DEBUG, logger="meshctl.registry"):
            for data in (b"x" * 100_000, b"[1]", b'{"service": 5}', b"\xff"):
                await registry.redis.publish(registry.events_channel, data)
            ep = endpoint()
            await registry.register_service("analytics", ep)
            assert await changed(watcher, "analytics", view) == (ep,)
    assert all(len(r.getMessage()) < 400 for r in caplog.records)
