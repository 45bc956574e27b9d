"""Faults in Redis: writes prune what expired, the servers' cache follows the version counter."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import redis.asyncio as aioredis

from meshctl.core.faults import Fault, fault_from_options
from meshctl.registry.faults import FaultCache, FaultTable, clear_faults, inject_fault
from meshctl.registry.keys import faults_key, faults_version_key
from meshctl.testing import closed_port

pytestmark = pytest.mark.redis


def a_fault(service: str = "analytics", **options: Any) -> Fault:
    return fault_from_options(service, now=time.time(), abort="UNAVAILABLE", **options)


async def test_a_write_prunes_expired_records_and_bumps_the_version(
    redis_client: aioredis.Redis, key_prefix: str
) -> None:
    stale = a_fault()
    expired = {**stale.record(), "created_at": time.time() - 120, "expires_at": time.time() - 60}
    await redis_client.hset(faults_key(key_prefix), stale.id, json.dumps(expired))
    await redis_client.hset(faults_key(key_prefix), "junk", "{")
    fresh = await inject_fault(redis_client, key_prefix, a_fault())
    assert set(await redis_client.hkeys(faults_key(key_prefix))) == {
        fresh.id.encode(), b"junk",  # an unreadable record is left for an operator
    }  # fmt: skip
    assert await redis_client.get(faults_version_key(key_prefix)) == b"1"
    assert await clear_faults(redis_client, key_prefix, [fresh.id]) == [fresh.id]
    assert await redis_client.get(faults_version_key(key_prefix)) == b"2"


async def test_the_cache_reads_again_only_when_the_version_moves(
    redis_client: aioredis.Redis, key_prefix: str
) -> None:
    tables: list[FaultTable] = []
    cache = FaultCache(redis_client, key_prefix, tables.append)
    first = await inject_fault(redis_client, key_prefix, a_fault())
    await cache.refresh()
    assert cache.faults == {"analytics": (first,)} and len(tables) == 1
    sneaked = a_fault("auth", method="verify")  # written without a version bump: not seen
    await redis_client.hset(faults_key(key_prefix), sneaked.id, json.dumps(sneaked.record()))
    await cache.refresh()
    assert len(tables) == 1
    await clear_faults(redis_client, key_prefix, service="analytics")
    await cache.refresh()
    assert tables[-1] == {"auth": (sneaked,)}


async def test_the_cache_keeps_its_faults_while_redis_is_away(
    redis_client: aioredis.Redis, key_prefix: str
) -> None:
    fault = await inject_fault(redis_client, key_prefix, a_fault())
    tables: list[FaultTable] = []
    cache = FaultCache(redis_client, key_prefix, tables.append)
    await cache.refresh()
    away = aioredis.Redis(port=closed_port(), socket_connect_timeout=0.2)
    cache.redis = away
    try:
        await cache.refresh()
        await cache.refresh()
    finally:
        await away.aclose()
    assert cache.faults == {"analytics": (fault,)} and len(tables) == 1
    cache.redis = redis_client
    await cache.refresh()  # back: read again, though the version did not move
    assert len(tables) == 2


async def test_the_cache_starts_with_the_faults(
    redis_client: aioredis.Redis, key_prefix: str
) -> None:
    fault = await inject_fault(redis_client, key_prefix, a_fault())
    tables: list[FaultTable] = []
    async with FaultCache(redis_client, key_prefix, tables.append, interval=0.01):
        assert tables == [{"analytics": (fault,)}]
