"""The commands users saw fail on one poisoned key: each now answers for the rest of the mesh."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from typer.testing import CliRunner, Result

from meshctl.cli.app import app
from meshctl.core.endpoint import ServiceEndpoint
from meshctl.registry import ServiceRegistry
from meshctl.registry.keys import report_keys, service_keys, services_key

pytestmark = pytest.mark.redis


@pytest.fixture
async def poisoned(
    redis_client: aioredis.Redis, key_prefix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> ServiceRegistry:
    """A live analytics next to a wrong-typed key of x, an infinite expiry and a bad report."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    registry = ServiceRegistry(redis_client, prefix=key_prefix)
    await registry.register_service("analytics", ServiceEndpoint("analytics", "127.0.0.1", 1))
    await redis_client.zadd(service_keys(key_prefix, "analytics").expiry, {"junk": float("inf")})
    await redis_client.sadd(services_key(key_prefix), "x")
    await redis_client.set(service_keys(key_prefix, "x").expiry, "s")
    seconds, _ = await redis_client.time()
    hash_key, expiry_key = report_keys(key_prefix)
    await redis_client.hset(hash_key, "bad", json.dumps({"client_id": "bad", "breakers": "no"}))
    await redis_client.zadd(expiry_key, {"bad": seconds + 60})
    return registry


async def meshctl(redis_url: str, prefix: str, *args: str) -> Result:
    """The command in a thread: it runs its own event loop."""
    argv = ["--redis-url", redis_url, "--prefix", prefix, *args]
    runner = CliRunner()
    return await asyncio.to_thread(lambda: runner.invoke(app, argv))


async def test_listing_top_breakers_and_check_answer(
    poisoned: ServiceRegistry, redis_url: str, key_prefix: str
):
    listed = await meshctl(redis_url, key_prefix, "services", "list", "-o", "json")
    assert listed.exit_code == 0, listed.output
    assert [row["service"] for row in json.loads(listed.stdout)] == ["analytics"]

    top = await meshctl(redis_url, key_prefix, "top", "--once", "--interval", "0.1", "-o", "json")
    assert top.exit_code == 0, top.output
    assert "analytics" in top.stdout

    breakers = await meshctl(redis_url, key_prefix, "breakers", "status", "-o", "json")
    assert breakers.exit_code == 0, breakers.output
    assert json.loads(breakers.stdout) == []

    check = await meshctl(redis_url, key_prefix, "check", "-o", "json")
    data = json.loads(check.stdout)["checks"]
    [warning] = [r for r in data if r["check"] == "registry-data"]
    assert warning["status"] == "warn"
    assert f"{service_keys(key_prefix, 'x').expiry}: is a string, not a zset" in warning["detail"]
    assert "report has fields of the wrong shape" in warning["detail"]
    assert check.exit_code == 1  # analytics' one instance does not answer its health check
    assert [r["check"] for r in data if r["status"] == "fail"] == ["service:analytics"]
