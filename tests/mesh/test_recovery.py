"""Breakers that recover by themselves, breaker accounting, and what a result tells."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from meshctl.core.balancer import LoadBalancingStrategy
from meshctl.core.breaker import CircuitBreaker, CircuitBreakerConfig, CircuitState
from meshctl.errors import (
    CircuitBreakerOpenError,
    ConnectionFailedError,
    ConnectionLostError,
    NoEndpointsError,
)
from meshctl.mesh import ServiceMeshClient
from meshctl.testing import Platform
from tests.mesh.conftest import SERVICE, Fleet, quiet_client

METHOD = "GetTrafficMetrics"
# A call racing the killed server's GOAWAY may find its connection lost rather than refused;
# both are failures of the endpoint.
DOWN = (ConnectionFailedError, ConnectionLostError)


@pytest.fixture
async def client(platform: Platform) -> AsyncIterator[ServiceMeshClient]:
    """Breakers that open after 2 failures and look again after 0.3 s; no traffic of its own."""
    mesh = quiet_client(
        platform,
        breaker_config=CircuitBreakerConfig(failure_threshold=2, timeout_duration=0.3),
    )
    async with mesh:
        yield mesh


async def entered(breaker: CircuitBreaker, state: CircuitState, within: float = 5.0) -> None:
    """Wait until ``breaker`` next enters ``state``."""
    reached = asyncio.Event()

    def changed(_: CircuitBreaker, old: CircuitState, new: CircuitState) -> None:
        if new is state:
            reached.set()

    breaker.add_listener(changed)
    try:
        async with asyncio.timeout(within):
            await reached.wait()
    finally:
        breaker.remove_listener(changed)


async def test_an_idle_clients_open_breaker_is_probed_and_closes_when_the_instance_is_back(
    fleet: Fleet, client: ServiceMeshClient
):
    endpoint = await fleet.start()
    await client.call(SERVICE, METHOD, {})
    await fleet.kill(endpoint.port)
    for _ in range(2):
        with pytest.raises(DOWN):
            await client.call(SERVICE, METHOD, {}, endpoint=endpoint)
    breaker = client.breakers.peek_endpoint(endpoint)
    assert breaker is not None and breaker.state is CircuitState.OPEN
    # Still down at the recovery time: the probe fails and the breaker opens again.
    await entered(breaker, CircuitState.OPEN)
    assert breaker.snapshot()["trip_count"] == 2
    await fleet.serve(endpoint.port)  # back on the same address, no call made
    await entered(breaker, CircuitState.CLOSED)
    assert (await client.call(SERVICE, METHOD, {})).endpoint == endpoint
    assert client.recovery.pending == 0  # the probe is done


async def test_a_restarted_instance_starts_with_a_fresh_breaker_and_connection(
    fleet: Fleet, client: ServiceMeshClient
):
    old = await fleet.start()
    sibling = await fleet.start()
    await client.call(SERVICE, METHOD, {}, endpoint=old)
    await client.call(SERVICE, METHOD, {}, endpoint=sibling)
    await fleet.kill(old.port)
    for _ in range(2):
        with pytest.raises(DOWN):
            await client.call(SERVICE, METHOD, {}, endpoint=old)
    new = await fleet.start(old.port)  # same port, new instance id; the old record stays
    assert new.instance_id != old.instance_id
    assert client.watcher is not None
    await client.watcher.refresh(SERVICE)
    result = await client.call(SERVICE, METHOD, {}, endpoint=new)
    assert result.endpoint == new and result.attempts == 1
    fresh = client.breakers.peek_endpoint(new)
    assert fresh is not None and fresh.state is CircuitState.CLOSED


async def test_no_endpoints_never_trips_the_service_breaker(client: ServiceMeshClient):
    for _ in range(10):
        with pytest.raises(NoEndpointsError):
            await client.call(SERVICE, METHOD, {})
    snapshot = client.breakers.service(SERVICE).snapshot()
    assert snapshot["state"] == "closed" and snapshot["total_failures"] == 0


async def test_one_dead_endpoint_never_opens_the_service_breaker_while_a_sibling_answers(
    fleet: Fleet, client: ServiceMeshClient
):
    live = await fleet.start()
    dead = await fleet.start()
    await fleet.kill(dead.port)
    for _ in range(10):  # pinned: every call fails, on that endpoint alone
        with pytest.raises((*DOWN, CircuitBreakerOpenError)):
            await client.call(SERVICE, METHOD, {}, endpoint=dead)
        await client.call(SERVICE, METHOD, {}, endpoint=live)
    assert client.breakers.service(SERVICE).state is CircuitState.CLOSED
    await fleet.kill(live.port)  # now the whole service is down
    for _ in range(2):
        with pytest.raises(DOWN):
            await client.call(SERVICE, METHOD, {}, endpoint=live)
    assert client.breakers.service(SERVICE).state is CircuitState.OPEN


async def test_the_result_tells_the_whole_calls_latency_and_every_attempt(
    fleet: Fleet, client: ServiceMeshClient
):
    await fleet.silent()  # costs a connect timeout (0.2 s) to find out
    await fleet.start()
    results = [
        await client.call(SERVICE, METHOD, {}, strategy=LoadBalancingStrategy.ROUND_ROBIN)
        for _ in range(4)
    ]
    retried = [r for r in results if r.attempts == 2]
    assert retried and all(r.attempts == 1 or r.attempts == 2 for r in results)
    assert 0.2 <= retried[0].latency < 0.5  # the first meeting waited out the connect timeout
    assert all(r.latency < 0.2 for r in results if r.attempts == 1)
