"""Random garbage in every key of the registry layout, while services beat and a client calls.

A seeded loop, bounded in rounds and time, writes what another program might:
junk members, fields and scores in the live services' keys, wrong-typed keys
of other services named in the services set, junk reports, forced marks,
answers and messages on both channels. It never overwrites what a live
instance wrote itself (that would be a deletion, not garbage). After every
burst: no registry read raises, every live instance is still discovered and
listed, and calls through the mesh client still succeed.
"""

from __future__ import annotations

import json
import random
import time
from contextlib import AsyncExitStack
from typing import Any

import pytest
import redis.asyncio as aioredis

from meshctl.core.endpoint import ServiceEndpoint
from meshctl.mesh import ServiceMeshClient
from meshctl.registry import ServiceRegistry
from meshctl.registry.control import read_reports
from meshctl.registry.keys import (
    ack_key,
    control_channel,
    events_channel,
    forced_key,
    report_keys,
    service_keys,
    services_key,
)
from meshctl.registry.snapshot import SnapshotReader
from meshctl.testing import Platform

pytestmark = pytest.mark.redis

ROUNDS, BURST, SECONDS = 150, 15, 10.0
JUNK_NAMES = ["x", "junk", "a:b", "", "y" * 300, "\xff"]


def garbage(rng: random.Random) -> bytes:
    """Bytes another program might leave: noise, odd JSON, endpoint-like records, big blobs."""
    kind = rng.randrange(6)
    if kind == 0:
        return rng.randbytes(rng.randrange(64))
    if kind == 1:
        return rng.choice([b"Infinity", b"NaN", b"null", b"[]", b'"s"', b"-1e999", b"{"])
    if kind == 2:
        record: dict[str, Any] = {"service_name": "alert", "host": 5, "port": 1, "weight": "w"}
        record[rng.choice(list(record))] = rng.choice([None, [], {}, True, 1e308, "x"])
        return json.dumps(record).encode()
    if kind == 3:
        shape = {"client_id": "junk", "breakers": rng.choice(["notalist", [1], [{"state": 1}]])}
        return json.dumps(shape).encode()
    if kind == 4:
        return json.dumps({"status": rng.choice(["dreadful", 1, None]), "last_check": "x"}).encode()
    return b"z" * rng.choice([70_000, 300_000])


async def scribble(
    rng: random.Random, redis: aioredis.Redis, prefix: str, live: dict[str, set[str]]
) -> None:
    """One random write of garbage somewhere in the layout."""
    service = rng.choice(list(live))
    keys = service_keys(prefix, service)
    junk_id = rng.choice(["junk", "j" * 300, "\xff", *live[service]])
    other = service_keys(prefix, rng.choice(JUNK_NAMES))
    score = rng.choice([float("inf"), float("-inf"), 1e12, -5.0, time.time() + 30])
    action = rng.randrange(11)
    if action == 0 and junk_id not in live[service]:
        await redis.hset(keys.records, junk_id, garbage(rng))
    elif action == 1:  # a bad health state leaves the instance in, its health unknown
        await redis.hset(keys.state, junk_id, garbage(rng))
    elif action == 2 and junk_id not in live[service]:
        await redis.zadd(keys.expiry, {junk_id: score})
    elif action == 3:
        await redis.sadd(services_key(prefix), rng.choice([b"\xff\xfe", b"\x00", b"*"]))
    elif action == 4:
        await redis.sadd(services_key(prefix), other.records.split(":")[-2])
        key = rng.choice([other.records, other.expiry, other.state])
        await redis.delete(key)
        kind = rng.randrange(3)
        if kind == 0:
            await redis.set(key, b"s")
        elif kind == 1:
            await redis.rpush(key, b"l")
        else:
            await redis.sadd(key, b"m")
    elif action == 5:
        hash_key, expiry_key = report_keys(prefix)
        await redis.hset(hash_key, "junk", garbage(rng))
        await redis.zadd(expiry_key, {rng.choice(["junk", "other"]): score})
    elif action == 6:
        await redis.hset(forced_key(prefix), rng.choice(JUNK_NAMES), garbage(rng))
    elif action == 7:
        await redis.rpush(ack_key(prefix, "junk"), garbage(rng))
    elif action == 8:
        await redis.publish(control_channel(prefix), garbage(rng))
    elif action == 9:
        message = {"action": "expired", "service": service, "instance_id": junk_id}
        body = garbage(rng) if rng.random() < 0.5 else json.dumps(message).encode()
        await redis.publish(events_channel(prefix), body)
    else:
        await redis.publish(events_channel(prefix), garbage(rng))


async def check_intact(
    registry: ServiceRegistry, mesh: ServiceMeshClient, live: dict[str, set[str]]
) -> None:
    snapshot = await registry.snapshot()
    for service, ids in live.items():
        assert ids <= {ep.instance_id for ep in snapshot.get(service, [])}, service
        assert ids <= {ep.instance_id for ep in await registry.view(service)}, service
    assert set(live) <= set(await registry.list_services())
    mesh_view = await SnapshotReader(registry).read()
    assert set(live) <= set(mesh_view.services)
    assert all(
        isinstance(r["client_id"], str) for r in await read_reports(registry.redis, registry.prefix)
    )
    assert await mesh.call_service("alert", "GetAlertStatistics", {}) is not None
    assert live["alert"] <= {ep.instance_id for ep in await mesh.endpoints.get("alert")}


async def test_garbage_everywhere_breaks_nothing(
    platform: Platform, mesh: ServiceMeshClient, redis_client: aioredis.Redis, key_prefix: str
):
    rng = random.Random(12)
    registry = platform.registry
    port = await platform.start("alert")
    await platform.start("streaming")
    async with AsyncExitStack() as stack:
        # more instances of the same servers, beating twice a second through the fuzz
        beating = [ServiceEndpoint("alert", "127.0.0.1", port) for _ in range(2)]
        for ep in beating:
            await stack.enter_async_context(registry.keep_alive(ep, ttl=1.5))
        live = {
            name: {ep.instance_id for ep in await registry.discover_services(name)}
            for name in ("alert", "streaming")
        }
        assert len(live["alert"]) == 3 and len(live["streaming"]) == 1
        deadline = time.monotonic() + SECONDS
        for _ in range(ROUNDS):
            for _ in range(BURST):
                await scribble(rng, redis_client, key_prefix, live)
            await check_intact(registry, mesh, live)
            if time.monotonic() > deadline:
                break
