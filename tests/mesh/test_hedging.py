"""Hedged attempts: the race itself with real tasks, then a slow instance on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from meshctl.core.balancer import LoadBalancingStrategy
from meshctl.core.retry import RetryPolicy
from meshctl.mesh import ServiceMeshClient
from meshctl.mesh.hedging import race
from meshctl.testing import Platform
from tests.mesh.conftest import SERVICE, Fleet, quiet_client

ROUND_ROBIN = LoadBalancingStrategy.ROUND_ROBIN


async def answer(value: str, when: asyncio.Event) -> str:
    await when.wait()
    return value


async def fail(message: str, when: asyncio.Event) -> str:
    await when.wait()
    raise RuntimeError(message)


async def test_a_quick_first_attempt_is_never_hedged():
    asked: list[str] = []
    now = asyncio.Event()
    now.set()

    def backup() -> None:
        asked.append("backup")

    assert await race(answer("first", now), 1.0, backup) == "first"
    assert asked == []


async def test_a_slow_first_attempt_loses_to_the_backup_and_is_cancelled():
    never = asyncio.Event()
    now = asyncio.Event()
    now.set()
    first = asyncio.ensure_future(answer("first", never))
    result = await race(first, 0.01, lambda: answer("backup", now))
    assert result == "backup"
    assert first.cancelled()


async def test_a_declined_backup_leaves_the_first_attempt_to_finish():
    later = asyncio.Event()
    asyncio.get_running_loop().call_later(0.05, later.set)
    assert await race(answer("first", later), 0.01, lambda: None) == "first"


def after(seconds: float) -> asyncio.Event:
    event = asyncio.Event()
    asyncio.get_running_loop().call_later(seconds, event.set)
    return event


async def test_one_failure_waits_for_the_other_and_two_raise_the_last():
    winner = await race(fail("first", after(0.05)), 0.01, lambda: answer("backup", after(0.1)))
    assert winner == "backup"
    with pytest.raises(RuntimeError, match="backup"):
        await race(fail("first", after(0.05)), 0.01, lambda: fail("backup", after(0.1)))


async def test_cancelling_the_race_cancels_both_attempts():
    cancelled: list[str] = []

    async def hold(name: str) -> str:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(name)
            raise
        return name

    racing = asyncio.ensure_future(race(hold("first"), 0.0, lambda: hold("backup")))
    await asyncio.sleep(0.01)
    racing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await racing
    assert sorted(cancelled) == ["backup", "first"]


@pytest.fixture
async def hedging(platform: Platform) -> AsyncIterator[ServiceMeshClient]:
    async with quiet_client(platform, retry=RetryPolicy(hedge=True)) as mesh:
        yield mesh


@pytest.fixture
async def plain(platform: Platform) -> AsyncIterator[ServiceMeshClient]:
    async with quiet_client(platform) as mesh:
        yield mesh


async def test_a_slow_instance_is_hedged_to_a_sibling_after_the_usual_latency(
    fleet: Fleet, hedging: ServiceMeshClient, plain: ServiceMeshClient
):
    fast = await fleet.start()
    slow = await fleet.start()
    fleet.slow[slow.port] = 0.5
    for mesh in (hedging, plain):
        for _ in range(40):  # the service's usual latency: a millisecond or so
            await mesh.call(SERVICE, "GetTrafficMetrics", {}, endpoint=fast)
    hedged = [
        await hedging.call(SERVICE, "GetTrafficMetrics", {}, strategy=ROUND_ROBIN, timeout=2)
        for _ in range(6)
    ]
    assert all(r.latency < 0.25 and r.endpoint == fast for r in hedged)
    assert any(r.attempts == 2 for r in hedged)  # those that met the slow one first
    slow_breaker = hedging.breakers.peek_endpoint(slow)
    assert slow_breaker is not None and slow_breaker.snapshot()["total_failures"] == 0
    # Off by default: the same calls wait for the slow one.
    unhedged = [
        await plain.call(SERVICE, "GetTrafficMetrics", {}, strategy=ROUND_ROBIN, timeout=2)
        for _ in range(2)
    ]
    assert any(r.latency >= 0.5 and r.endpoint == slow for r in unhedged)
