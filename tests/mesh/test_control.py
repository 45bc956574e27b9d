"""The control plane through real Redis: reports out, breaker commands in."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
import redis.asyncio as aioredis

from meshctl.errors import CircuitBreakerOpenError
from meshctl.mesh import open_mesh
from meshctl.registry.control import read_reports, send_command
from meshctl.testing import Platform


async def _report_of(
    redis: aioredis.Redis,
    prefix: str,
    client_id: str,
    predicate: Callable[[dict[str, Any]], bool] = lambda r: True,
) -> dict[str, Any]:
    for _ in range(100):
        for report in await read_reports(redis, prefix):
            if report["client_id"] == client_id and predicate(report):
                return report
        await asyncio.sleep(0.05)
    raise AssertionError(f"no matching report from {client_id}")


async def test_reports_carry_breakers_and_call_statistics(platform: Platform, mesh, redis_client):
    await platform.start("analytics")
    for _ in range(5):
        await mesh.call_service("analytics", "GetTrafficMetrics", {})
    report = await _report_of(
        redis_client,
        platform.registry.prefix,
        mesh.control.client_id,
        lambda r: r["services"].get("analytics", {}).get("requests") == 5,
    )
    assert report["name"] == "test-client"
    scopes = {(b["service"], b["scope"]) for b in report["breakers"]}
    assert scopes == {("analytics", "service"), ("analytics", "endpoint")}
    (instance_stats,) = report["endpoints"]["analytics"].values()
    assert instance_stats["requests"] == 5 and instance_stats["latency_ms"]["p99"] > 0


async def test_reset_command_closes_a_tripped_breaker_and_says_so(
    platform: Platform, mesh, redis_client
):
    endpoint = await platform.ghost("analytics")
    await mesh.watcher.refresh("analytics")
    for _ in range(3):
        with pytest.raises(Exception):  # noqa: B017 - connection failures, then open breakers
            await mesh.call_service("analytics", "GetTrafficMetrics", {}, timeout=2)
    assert mesh.breakers.peek_endpoint(endpoint).state == "open"
    answers = await send_command(
        redis_client, platform.registry.prefix, "reset", service="analytics", wait=5
    )
    (answer,) = answers
    assert answer["client_id"] == mesh.control.client_id
    changed = {c["breaker"]: (c["from"], c["to"]) for c in answer["changes"]}
    assert changed[f"analytics@{endpoint.address}"] == ("open", "closed")
    assert mesh.breakers.peek_endpoint(endpoint).state == "closed"


async def test_force_open_holds_for_later_calls(platform: Platform, mesh, redis_client):
    await platform.start("alert")
    answers = await send_command(
        redis_client, platform.registry.prefix, "force_open", service="alert", wait=5
    )
    assert answers[0]["changes"] == [{"breaker": "alert", "from": "closed", "to": "forced_open"}]
    with pytest.raises(CircuitBreakerOpenError, match="Circuit breaker open for alert"):
        await mesh.call_service("alert", "GetAlertStatistics", {})
    await send_command(redis_client, platform.registry.prefix, "close", service="alert", wait=5)
    assert await mesh.call_service("alert", "GetAlertStatistics", {}) is not None


async def test_a_client_started_after_a_force_open_obeys_it(platform: Platform, redis_client):
    await platform.start("alert")
    prefix = platform.registry.prefix
    await send_command(redis_client, prefix, "force_open", service="alert", wait=0)
    late = open_mesh(platform.settings, name="late", registry=platform.registry, events=False)
    async with late:
        with pytest.raises(CircuitBreakerOpenError, match="Circuit breaker open for alert"):
            await late.call_service("alert", "GetAlertStatistics", {})
        # A command for this client alone is not undone by the mark on the next refresh.
        await send_command(redis_client, prefix, "close", service="alert", client_id="late")
        assert late.watcher is not None
        await late.watcher.refresh("alert")
        assert await late.call_service("alert", "GetAlertStatistics", {}) is not None
    await send_command(redis_client, prefix, "reset", service="alert", wait=0)
    assert await redis_client.hgetall(f"{prefix}:control:forced") == {}
    later = open_mesh(platform.settings, name="later", registry=platform.registry, events=False)
    async with later:
        assert await later.call_service("alert", "GetAlertStatistics", {}) is not None


async def test_commands_for_another_client_are_ignored(platform: Platform, mesh, redis_client):
    answers = await send_command(
        redis_client, platform.registry.prefix, "reset", client_id="someone-else", wait=0.5
    )
    assert answers == []


async def test_garbage_reports_are_skipped(mesh, redis_client, key_prefix, caplog):
    await mesh.control.publish()
    await redis_client.hset(f"{key_prefix}:clients", "junk", b"\xff not json")
    seconds, _ = await redis_client.time()  # a live expiry: later than a report lives is junk
    await redis_client.zadd(f"{key_prefix}:clients:expiry", {"junk": seconds + 60})
    reports = await read_reports(redis_client, key_prefix)
    assert [r["client_id"] for r in reports] == [mesh.control.client_id]
    assert "not JSON" in caplog.text


async def test_reports_lapse_when_a_client_stops(mesh, redis_client, key_prefix):
    await mesh.control.publish()
    assert await read_reports(redis_client, key_prefix)
    await mesh.control.stop()
    assert await read_reports(redis_client, key_prefix) == []


def test_bad_commands_are_refused():
    from meshctl.registry.control import validate_command

    with pytest.raises(ValueError, match="unknown breaker action"):
        validate_command("explode", "analytics", None)
    with pytest.raises(ValueError, match="needs its service"):
        validate_command("reset", None, "abc")
