"""Instances dying or hanging under closed-loop load: calls move to siblings in time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest

from meshctl.core.balancer import LoadBalancingStrategy
from meshctl.core.breaker import CircuitState
from meshctl.errors import MeshError, ServiceUnavailableError
from meshctl.mesh import ServiceMeshClient
from meshctl.testing import Platform
from tests.mesh.conftest import SERVICE, Fleet, quiet_client

TIMEOUT = 2.0  # room for a starved machine: all 16 callers and 8 servers share one loop
MARGIN = 0.1
CALLERS = 16
STRATEGIES = list(LoadBalancingStrategy)


@pytest.fixture
async def client(platform: Platform) -> AsyncIterator[ServiceMeshClient]:
    """A client with the default breakers and a short connect timeout."""
    mesh = quiet_client(platform)
    async with mesh:
        yield mesh


@dataclass
class Load:
    calls: int = 0
    failures: list[MeshError] = field(default_factory=list)
    slowest: float = 0.0


async def closed_loop(
    mesh: ServiceMeshClient,
    strategy: LoadBalancingStrategy,
    total: int,
    *,
    at: int,
    then: Callable[[], Awaitable[object]],
) -> Load:
    """``total`` calls from CALLERS callers; ``then()`` runs once ``at`` calls are done."""
    load = Load()
    started = asyncio.Event()
    issued = 0

    async def caller() -> None:
        nonlocal issued
        while issued < total:
            issued += 1
            begin = time.monotonic()
            try:
                await mesh.call(
                    SERVICE,
                    "GetTrafficMetrics",
                    {},
                    timeout=TIMEOUT,
                    strategy=strategy,
                    key=f"cam{issued % 64}",
                )
            except MeshError as exc:
                load.failures.append(exc)
            load.slowest = max(load.slowest, time.monotonic() - begin)
            load.calls += 1
            if load.calls == at:
                started.set()

    async def disrupt() -> None:
        await started.wait()
        await then()

    await asyncio.gather(disrupt(), *(caller() for _ in range(CALLERS)))
    return load


def assert_served(load: Load, total: int) -> None:
    assert load.calls == total
    assert len(load.failures) <= total * 0.001, load.failures[:3]
    assert load.slowest <= TIMEOUT + MARGIN


@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_killing_half_the_instances_under_load_fails_no_call(
    fleet: Fleet, client: ServiceMeshClient, strategy: LoadBalancingStrategy
):
    endpoints = [await fleet.start() for _ in range(8)]
    victims = endpoints[::2]

    async def kill_half() -> None:
        await asyncio.gather(*(fleet.kill(ep.port) for ep in victims))

    load = await closed_loop(client, strategy, 2000, at=300, then=kill_half)
    assert_served(load, 2000)
    # A connection that fails is always retried on a sibling: none reaches a caller.
    assert not [f for f in load.failures if isinstance(f, ServiceUnavailableError)]
    status = await client.get_circuit_breaker_status()
    assert status[SERVICE]["state"] == "closed"
    for ep in endpoints:
        breaker = client.breakers.peek_endpoint(ep)
        if ep in victims and breaker is not None and breaker.snapshot()["total_failures"]:
            assert breaker.state is CircuitState.OPEN  # ejected


@pytest.mark.parametrize("hang", ["silent", "stuck"])
@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_a_hung_instance_costs_one_short_attempt(
    fleet: Fleet, client: ServiceMeshClient, strategy: LoadBalancingStrategy, hang: str
):
    for _ in range(3):
        await fleet.start()
    if hang == "silent":  # accepts connections, never sets one up
        hung = await fleet.silent()
    else:  # connected, takes requests and never answers them
        hung = await fleet.start()
        fleet.stuck.add(hung.port)

    async def nothing() -> None:
        return None

    load = await closed_loop(client, strategy, 1000, at=1, then=nothing)
    assert_served(load, 1000)
    status = await client.get_circuit_breaker_status()
    assert status[SERVICE]["state"] == "closed"  # the siblings answered all along
    breaker = client.breakers.peek_endpoint(hung)
    if breaker is not None and breaker.snapshot()["total_failures"]:
        assert breaker.state is CircuitState.OPEN
