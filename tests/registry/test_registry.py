"""ServiceRegistry against the real Redis and fakeredis."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable

import pytest
import redis.asyncio as aioredis

from meshctl.core.endpoint import HealthStatus, ServiceEndpoint
from meshctl.errors import InvalidRequestError, RegistryUnavailableError
from meshctl.registry import ServiceRegistry, registry_key
from meshctl.registry.keys import service_keys
from meshctl.testing import closed_port

Make = Callable[..., ServiceEndpoint]

# Short real TTLs: expiry is Redis' own clock, so these tests wait for it.
SHORT_TTL = 0.3


async def test_register_then_discover_round_trip(registry: ServiceRegistry, endpoint: Make):
    ep = endpoint(metadata={"health_path": "/healthz"}, zone="a", version="1.2", weight=2)
    instance_id = await registry.register_service("analytics", ep)

    assert instance_id == ep.instance_id
    assert ep.registered_at is not None
    [found] = await registry.discover_services("analytics")
    assert found == ep
    assert found.to_dict() == ep.to_dict()
    assert await registry.discover_services("alert") == []


async def test_registered_at_comes_from_the_server_clock(
    registry: ServiceRegistry, client: aioredis.Redis, endpoint: Make
):
    ep = endpoint()
    await registry.register_service("analytics", ep)
    seconds, micros = await client.time()
    assert ep.registered_at is not None
    assert 0 <= seconds + micros / 1e6 - ep.registered_at < 5


async def test_lapsed_instance_is_invisible_then_reaped(
    registry: ServiceRegistry, client: aioredis.Redis, endpoint: Make
):
    short, long = endpoint(), endpoint()
    await registry.register_service("analytics", short, ttl=SHORT_TTL)
    await registry.register_service("analytics", long, ttl=30)
    keys = service_keys(registry.prefix, "analytics")

    await asyncio.sleep(SHORT_TTL + 0.1)
    # Nobody deleted it: the record is still there until someone looks.
    assert await client.hexists(keys.records, short.instance_id)

    assert await registry.discover_services("analytics") == [long]
    assert not await client.hexists(keys.records, short.instance_id)
    assert not await client.hexists(keys.state, short.instance_id)
    assert await client.zscore(keys.expiry, short.instance_id) is None


async def test_heartbeat_keeps_an_instance_alive(registry: ServiceRegistry, endpoint: Make):
    ep = endpoint()
    await registry.register_service("analytics", ep, ttl=SHORT_TTL)
    for _ in range(3):
        await asyncio.sleep(SHORT_TTL / 2)
        assert await registry.heartbeat("analytics", ep.instance_id, ttl=SHORT_TTL)
    assert await registry.discover_services("analytics") == [ep]


async def test_heartbeat_of_a_lapsed_or_unknown_instance_is_false(
    registry: ServiceRegistry, endpoint: Make
):
    ep = endpoint()
    await registry.register_service("analytics", ep, ttl=SHORT_TTL)
    assert not await registry.heartbeat("analytics", "nope")
    await asyncio.sleep(SHORT_TTL + 0.1)
    assert not await registry.heartbeat("analytics", ep.instance_id)
    assert await registry.discover_services("analytics") == []


async def test_keys_expire_after_their_longest_lived_instance(
    registry: ServiceRegistry, client: aioredis.Redis, endpoint: Make
):
    await registry.register_service("analytics", endpoint(), ttl=5)
    await registry.register_service("analytics", endpoint(), ttl=20)
    for key in service_keys(registry.prefix, "analytics")[:3]:
        # 120 s of grace, rounded up to the millisecond
        assert 135_000 < await client.pttl(key) <= 140_001


async def test_deregister(registry: ServiceRegistry, endpoint: Make):
    a, b = endpoint(), endpoint()
    await registry.register_service("analytics", a)
    await registry.register_service("analytics", b)

    assert await registry.deregister_service("analytics", a.instance_id)
    assert not await registry.deregister_service("analytics", a.instance_id)
    assert await registry.discover_services("analytics") == [b]


async def test_list_services_names_only_live_ones(registry: ServiceRegistry, endpoint: Make):
    await registry.register_service("streaming", endpoint("streaming"))
    await registry.register_service("alert", endpoint("alert"))
    await registry.register_service("auth", endpoint("auth"), ttl=SHORT_TTL)
    gone = endpoint("analytics")
    await registry.register_service("analytics", gone)
    await registry.deregister_service("analytics", gone.instance_id)

    await asyncio.sleep(SHORT_TTL + 0.1)
    assert await registry.list_services() == ["alert", "streaming"]


async def test_snapshot_returns_every_live_service(registry: ServiceRegistry, endpoint: Make):
    streaming = [endpoint("streaming") for _ in range(3)]
    for ep in streaming:
        await registry.register_service("streaming", ep)
    alert = endpoint("alert")
    await registry.register_service("alert", alert)
    await registry.set_health("alert", alert.instance_id, HealthStatus.HEALTHY)

    snapshot = await registry.snapshot()

    assert list(snapshot) == ["alert", "streaming"]
    assert sorted(ep.port for ep in snapshot["streaming"]) == sorted(ep.port for ep in streaming)
    assert snapshot["alert"][0].health_status is HealthStatus.HEALTHY


async def test_set_health_is_visible_and_needs_a_live_instance(
    registry: ServiceRegistry, endpoint: Make
):
    ep = endpoint()
    await registry.register_service("analytics", ep)

    assert await registry.set_health("analytics", ep.instance_id, HealthStatus.UNHEALTHY, "503")
    [found] = await registry.discover_services("analytics")
    assert found.health_status is HealthStatus.UNHEALTHY
    assert found.last_check is not None and found.registered_at == ep.registered_at
    assert not await registry.set_health("analytics", "ghost", HealthStatus.HEALTHY)


async def test_health_survives_concurrent_heartbeats(registry: ServiceRegistry, endpoint: Make):
    ep = endpoint()
    await registry.register_service("analytics", ep)

    beats = [registry.heartbeat("analytics", ep.instance_id) for _ in range(50)]
    health = registry.set_health("analytics", ep.instance_id, HealthStatus.HEALTHY)
    results = await asyncio.gather(*beats[:25], health, *beats[25:])

    assert all(results)
    [found] = await registry.discover_services("analytics")
    assert found.health_status is HealthStatus.HEALTHY


async def test_garbage_records_are_skipped_with_a_warning(
    registry: ServiceRegistry,
    client: aioredis.Redis,
    endpoint: Make,
    caplog: pytest.LogCaptureFixture,
):
    good = endpoint()
    await registry.register_service("analytics", good)
    bad_json, bad_fields, bad_weight, bad_state = endpoint(), endpoint(), endpoint(), endpoint()
    for ep in (bad_json, bad_fields, bad_weight, bad_state):
        await registry.register_service("analytics", ep)
    keys = service_keys(registry.prefix, "analytics")
    await client.hset(keys.records, bad_json.instance_id, "{not json")
    await client.hset(keys.records, bad_fields.instance_id, json.dumps({"host": "x"}))
    infinite = bad_weight.to_json().replace('"weight":1.0', '"weight":Infinity')
    await client.hset(keys.records, bad_weight.instance_id, infinite)
    await client.hset(keys.state, bad_state.instance_id, json.dumps({"status": "dreadful"}))

    with caplog.at_level(logging.WARNING, logger="meshctl.registry"):
        view = await registry.view("analytics")

    # a bad health state leaves the instance in, its health unknown
    assert set(view) == {good, bad_state}
    assert next(ep for ep in view if ep == bad_state).health_status is HealthStatus.UNKNOWN
    assert {(p.key, p.member) for p in view.problems} == {
        *((keys.records, ep.instance_id) for ep in (bad_json, bad_fields, bad_weight)),
        (keys.state, bad_state.instance_id),
    }
    warned = " ".join(r.getMessage() for r in caplog.records)
    for ep in (bad_json, bad_fields, bad_weight):
        assert f"{keys.records}[{ep.instance_id}]" in warned
    assert f"{keys.state}[{bad_state.instance_id}]" in warned

    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="meshctl.registry"):
        again = await registry.view("analytics")
    assert again.problems == view.problems
    assert caplog.records == []  # each problem is logged once, however often it is read


async def test_unchanged_records_are_not_parsed_again(registry: ServiceRegistry, endpoint: Make):
    a, b = endpoint(), endpoint()
    await registry.register_service("analytics", a)
    await registry.register_service("analytics", b)
    first = {ep.instance_id: ep for ep in await registry.discover_services("analytics")}

    await registry.set_health("analytics", b.instance_id, HealthStatus.HEALTHY)
    second = {ep.instance_id: ep for ep in await registry.discover_services("analytics")}

    assert second[a.instance_id] is first[a.instance_id]
    assert second[b.instance_id] is not first[b.instance_id]
    assert second[b.instance_id].health_status is HealthStatus.HEALTHY


async def test_changes_are_announced(
    registry: ServiceRegistry, client: aioredis.Redis, endpoint: Make
):
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    await pubsub.subscribe(registry.events_channel)
    assert registry.events_channel == registry_key(registry.prefix, "events")
    ep, short = endpoint(), endpoint()
    await registry.register_service("analytics", ep)
    await registry.set_health("analytics", ep.instance_id, HealthStatus.HEALTHY)
    await registry.set_health("analytics", ep.instance_id, HealthStatus.HEALTHY)  # no change
    await registry.deregister_service("analytics", ep.instance_id)
    await registry.register_service("analytics", short, ttl=SHORT_TTL)
    await asyncio.sleep(SHORT_TTL + 0.1)
    await registry.discover_services("analytics")

    seen: list[dict[str, str]] = []
    async with asyncio.timeout(5):
        while len(seen) < 5:
            message = await pubsub.get_message(timeout=1)
            if message is not None:
                seen.append(json.loads(message["data"]))
    await pubsub.aclose()  # type: ignore[no-untyped-call, unused-ignore]

    assert [(m["action"], m["service"], m["instance_id"]) for m in seen] == [
        ("registered", "analytics", ep.instance_id),
        ("health", "analytics", ep.instance_id),
        ("deregistered", "analytics", ep.instance_id),
        ("registered", "analytics", short.instance_id),
        ("expired", "analytics", short.instance_id),
    ]
    assert seen[1]["status"] == "healthy"


async def test_discovers_a_thousand_instances(registry: ServiceRegistry, client, endpoint: Make):
    keys = service_keys(registry.prefix, "analytics")
    eps = [endpoint(port=1 + i) for i in range(1000)]
    seconds, _ = await client.time()
    # Written directly in one pipeline: this test is about reading them back.
    async with client.pipeline(transaction=True) as pipe:
        for ep in eps:
            pipe.hset(keys.records, ep.instance_id, ep.to_json())
            pipe.zadd(keys.expiry, {ep.instance_id: seconds + 600})
        pipe.sadd(keys.services, "analytics")
        await pipe.execute()

    found = await registry.discover_services("analytics")

    assert sorted(ep.port for ep in found) == list(range(1, 1001))


@pytest.mark.parametrize("ttl", [0, -1.0])
async def test_bad_input_is_refused(registry: ServiceRegistry, endpoint: Make, ttl: float):
    with pytest.raises(InvalidRequestError, match="ttl"):
        await registry.register_service("analytics", endpoint(), ttl=ttl)
    with pytest.raises(InvalidRequestError, match="ttl"):
        await registry.register_service("analytics", endpoint(), ttl=2 * 86_400)
    with pytest.raises(InvalidRequestError, match="belongs to service 'analytics'"):
        await registry.register_service("alert", endpoint())
    with pytest.raises(InvalidRequestError, match="empty"):
        await registry.discover_services("")


def test_bad_url_is_refused():
    with pytest.raises(InvalidRequestError, match="Invalid registry URL 'http://x'"):
        ServiceRegistry("http://x")


async def test_unreachable_redis_raises_a_clear_error(endpoint: Make):
    port = closed_port()
    registry = ServiceRegistry(f"redis://127.0.0.1:{port}/0", prefix="nowhere")
    message = f"Cannot reach the registry at redis://127.0.0.1:{port}/0: Connection refused"
    calls = [
        registry.register_service("analytics", endpoint()),
        registry.deregister_service("analytics", "x"),
        registry.discover_services("analytics"),
        registry.list_services(),
        registry.heartbeat("analytics", "x"),
        registry.set_health("analytics", "x", HealthStatus.HEALTHY),
        registry.snapshot(),
    ]
    for call in calls:
        with pytest.raises(RegistryUnavailableError) as caught:
            await call
        assert str(caught.value) == message
        assert caught.value.exit_code == 3
    await registry.aclose()


async def test_a_burst_beyond_the_pool_size_queues_instead_of_failing(redis_url, key_prefix):
    from meshctl.registry.connection import MAX_CONNECTIONS

    registry = ServiceRegistry(redis_url, prefix=key_prefix)
    try:
        count = MAX_CONNECTIONS * 4
        await asyncio.gather(
            *(
                registry.register_service("burst", ServiceEndpoint("burst", "10.0.0.1", 2000 + i))
                for i in range(count)
            )
        )
        assert len(await registry.discover_services("burst")) == count
    finally:
        keys = [k async for k in registry.redis.scan_iter(match=f"{key_prefix}:*")]
        if keys:
            await registry.redis.delete(*keys)
        await registry.aclose()
