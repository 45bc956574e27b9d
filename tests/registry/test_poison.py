"""Foreign data in the registry's keys is skipped and reported, never propagated."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

import pytest
import redis.asyncio as aioredis

from meshctl.core.endpoint import HealthStatus, ServiceEndpoint
from meshctl.registry import HealthMonitor, ServiceRegistry
from meshctl.registry.control import parse_command, read_reports, send_command
from meshctl.registry.keys import forced_key, report_keys, service_keys, services_key
from meshctl.registry.scripts import MAX_RECORD_BYTES
from meshctl.registry.snapshot import SnapshotReader

Make = Callable[..., ServiceEndpoint]


async def live_three(registry: ServiceRegistry, endpoint: Make) -> set[ServiceEndpoint]:
    eps = {endpoint() for _ in range(3)}
    for ep in eps:
        await registry.register_service("analytics", ep)
    return eps


async def test_an_infinite_expiry_neither_wipes_the_service_nor_lingers(
    registry: ServiceRegistry, client: aioredis.Redis, endpoint: Make
):
    eps = await live_three(registry, endpoint)
    keys = service_keys(registry.prefix, "analytics")
    await client.zadd(keys.expiry, {"junk": float("inf"), "later": 1e12})

    for ep in eps:  # the heartbeats that used to set the keys to expire in the past
        assert await registry.heartbeat("analytics", ep.instance_id)
    for key in keys[:3]:
        assert 100_000 < await client.pttl(key) <= 180_001

    view = await registry.view("analytics")
    assert set(view) == eps
    assert {(p.key, p.member) for p in view.problems} == {
        (keys.expiry, "junk"),
        (keys.expiry, "later"),
    }
    assert await client.zscore(keys.expiry, "junk") is None  # removed like a lapsed one
    assert (await registry.view("analytics")).problems == ()


async def test_a_wrong_typed_key_spoils_only_its_own_service(
    registry: ServiceRegistry, client: aioredis.Redis, endpoint: Make
):
    eps = await live_three(registry, endpoint)
    broken = service_keys(registry.prefix, "x")
    await client.sadd(services_key(registry.prefix), "x")
    await client.set(broken.expiry, "s")

    assert await registry.list_services() == ["analytics"]
    snapshot = await registry.snapshot()
    assert set(snapshot) == {"analytics"} and set(snapshot["analytics"]) == eps
    assert [str(p) for p in snapshot.problems] == [f"{broken.expiry}: is a string, not a zset"]
    assert (await registry.view("x")).problems == tuple(snapshot.problems)
    mesh = await SnapshotReader(registry).read()
    assert set(mesh.services) == {"analytics"} and list(mesh.problems) == snapshot.problems

    assert not await registry.heartbeat("x", "anyone")
    assert not await registry.set_health("x", "anyone", HealthStatus.HEALTHY)
    assert not await registry.deregister_service("x", "anyone")
    # the service's own registration replaces the foreign key
    mine = endpoint("x")
    await registry.register_service("x", mine)
    assert await registry.discover_services("x") == [mine]
    assert (await registry.snapshot()).problems == []


async def test_a_wrong_typed_services_set_or_forced_mark_is_skipped(
    registry: ServiceRegistry, client: aioredis.Redis, endpoint: Make
):
    eps = await live_three(registry, endpoint)
    await client.delete(services_key(registry.prefix))
    await client.rpush(services_key(registry.prefix), "analytics")
    await client.set(forced_key(registry.prefix), "open")

    snapshot = await registry.snapshot()
    assert snapshot == {} and len(snapshot.problems) == 1
    view = await registry.view("analytics")
    assert set(view) == eps and not view.forced_open
    assert [p.key for p in view.problems] == [forced_key(registry.prefix)]
    await registry.register_service("analytics", endpoint())  # repairs the set
    assert await registry.list_services() == ["analytics"]


async def test_oversized_and_undecodable_values_are_left_out(
    registry: ServiceRegistry, client: aioredis.Redis, endpoint: Make
):
    big_record, big_state, good = endpoint(), endpoint(), endpoint()
    for ep in (big_record, big_state, good):
        await registry.register_service("analytics", ep)
    keys = service_keys(registry.prefix, "analytics")
    huge = "x" * (MAX_RECORD_BYTES + 1)
    await client.hset(keys.records, big_record.instance_id, huge)
    await client.hset(keys.state, big_state.instance_id, huge)
    await client.sadd(services_key(registry.prefix), b"\xff\xfe", "y" * 300)

    view = await registry.view("analytics")
    assert set(view) == {big_state, good}
    assert {(p.key, p.member) for p in view.problems} == {
        (keys.records, big_record.instance_id),
        (keys.state, big_state.instance_id),
    }
    snapshot = await registry.snapshot()
    assert list(snapshot) == ["analytics"]
    assert any("service name of 300 bytes" in str(p) for p in snapshot.problems)


async def test_the_health_monitor_checks_the_others(
    registry: ServiceRegistry, client: aioredis.Redis, endpoint: Make
):
    eps = await live_three(registry, endpoint)
    await client.sadd(services_key(registry.prefix), "x")
    await client.set(service_keys(registry.prefix, "x").records, "s")

    found = await HealthMonitor(registry, timeout=0.5).check_once()

    assert set(found) == {ep.key for ep in eps}


async def report(client: aioredis.Redis, prefix: str, client_id: str, body: str | bytes) -> None:
    hash_key, expiry_key = report_keys(prefix)
    seconds, _ = await client.time()
    await client.hset(hash_key, client_id, body)
    await client.zadd(expiry_key, {client_id: seconds + 60})


async def test_malformed_reports_are_skipped(client: aioredis.Redis, key_prefix: str):
    good = {"client_id": "good", "name": "a", "breakers": [{"service": "s", "state": "open"}]}
    await report(client, key_prefix, "good", json.dumps(good))
    await report(client, key_prefix, "list", json.dumps({"client_id": "list", "breakers": "no"}))
    bad_snap = {"client_id": "snap", "breakers": [{"service": "s", "retry_after": "soon"}]}
    await report(client, key_prefix, "snap", json.dumps(bad_snap))
    await report(client, key_prefix, "utf", b"\xff not json")
    await report(client, key_prefix, "huge", json.dumps({"client_id": "h", "pad": "x" * 5_000_000}))
    await client.zadd(report_keys(key_prefix)[1], {"forever": float("inf")})

    reports = await read_reports(client, key_prefix)

    assert reports == [good]
    reasons = " ".join(str(p) for p in reports.problems)
    for reason in ("wrong shape", "not JSON", "report of 50000", "no time a report TTL"):
        assert reason in reasons
    assert len(reports.problems) == 5
    assert await client.zscore(report_keys(key_prefix)[1], "forever") is None


def test_garbage_commands_are_refused_and_logged_short(caplog: pytest.LogCaptureFixture):
    with caplog.at_level(logging.WARNING, logger="meshctl.registry"):
        assert parse_command(b"{" + b"x" * 1_000_000) is None
        assert parse_command(json.dumps({"action": "reset", "service": ["a"]})) is None
        assert parse_command(json.dumps({"action": ["reset"]})) is None
    assert len(caplog.records) == 3
    assert all(len(r.getMessage()) < 400 for r in caplog.records)
    assert "1000001 bytes" in caplog.records[0].getMessage()
    assert parse_command(json.dumps({"id": "1", "action": "reset", "service": "a"})) is not None


async def test_commands_replace_a_wrong_typed_forced_mark(
    registry: ServiceRegistry, client: aioredis.Redis, endpoint: Make
):
    await registry.register_service("analytics", endpoint())
    await client.set(forced_key(registry.prefix), "open")

    assert await send_command(client, registry.prefix, "force_open", service="analytics") == []
    assert (await registry.view("analytics")).forced_open
    await send_command(client, registry.prefix, "reset", service="analytics", wait=0.1)
    assert not (await registry.view("analytics")).forced_open
