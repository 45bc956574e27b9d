"""What ``meshctl call`` asks Redis: one read before its RPC, seen with MONITOR."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
import redis.asyncio as aioredis

from meshctl.cli.app import app
from meshctl.registry import scripts
from meshctl.registry.control import send_command

pytestmark = pytest.mark.redis

# What a connection sends to set itself up, before the command it was opened for.
HANDSHAKE = ("CLIENT", "HELLO", "SELECT", "AUTH", "READONLY")


async def commands_of_one_call(meshctl: Any, redis_url: str, *args: str) -> tuple[Any, list[str]]:
    """Run ``meshctl call ARGS``; returns its result and the commands its connections sent."""
    name = f"meshctl-call-{uuid.uuid4().hex[:8]}"
    marker = f"end-of-{name}"
    seen: list[dict[str, Any]] = []
    watcher = aioredis.Redis.from_url(redis_url)
    async with watcher.monitor() as monitor:

        async def collect() -> None:
            async for command in monitor.listen():
                seen.append(command)
                if command["command"] == f"ECHO {marker}":
                    return

        collecting = asyncio.create_task(collect())
        base = [*meshctl.base]
        base[1] = f"{redis_url}?client_name={name}"  # the call's connections announce themselves
        result = await asyncio.to_thread(meshctl.runner.invoke, app, [*base, "call", *args])
        async with aioredis.Redis.from_url(redis_url) as other:
            await other.echo(marker)
        await asyncio.wait_for(collecting, 10)
    await watcher.aclose()
    ours = {
        (c["client_address"], c["client_port"])
        for c in seen
        if c["command"] == f"CLIENT SETNAME {name}"
    }
    sent = [
        c["command"]
        for c in seen
        if (c["client_address"], c["client_port"]) in ours
        and not c["command"].upper().startswith(HANDSHAKE)
    ]
    return result, sent


async def test_a_call_reads_the_registry_once(platform, meshctl, redis_url):
    await platform.start("analytics")
    async with aioredis.Redis.from_url(redis_url) as client:
        await client.script_load(scripts.DISCOVER)  # a cold script cache costs a load, not a read
    result, sent = await commands_of_one_call(
        meshctl, redis_url, "analytics", "GetTrafficMetrics", "-d", "{}"
    )
    assert result.exit_code == 0, result.output
    assert len(sent) == 1, sent
    assert sent[0].startswith("EVALSHA") and f"{platform.registry.prefix}:svc:analytics" in sent[0]


async def test_the_one_read_carries_an_operators_forced_open(platform, meshctl, redis_url):
    await platform.start("analytics")
    redis, prefix = platform.registry.redis, platform.registry.prefix
    await send_command(redis, prefix, "force_open", service="analytics", wait=0)
    result, sent = await commands_of_one_call(
        meshctl, redis_url, "analytics", "GetTrafficMetrics", "-d", "{}"
    )
    assert result.exit_code == 1
    assert "Circuit breaker open" in result.output or "circuit breaker" in result.output.lower()
    assert len([c for c in sent if c.startswith(("EVALSHA", "EVAL "))]) == 1, sent

    await send_command(redis, prefix, "reset", service="analytics", wait=0)
    result, _ = await commands_of_one_call(
        meshctl, redis_url, "analytics", "GetTrafficMetrics", "-d", "{}"
    )
    assert result.exit_code == 0, result.output
