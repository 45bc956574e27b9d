"""SLI buckets in Redis: what instances served, per minute and hour, read back for SLOs."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError

from meshctl.core.slo import LATENCY_EDGES, Slo, parse_latency
from meshctl.core.stats import MethodStats
from meshctl.registry.keys import sli_key
from meshctl.registry.sli import (
    KEEP,
    SliRecorder,
    delete_slo,
    load_slos,
    read_counts,
    save_slo,
)
from meshctl.testing import closed_port
from meshctl.testing.clock import FakeClock

DAY = 86400.0
NOW = 1_750_000_000.0 // 3600 * 3600 + 1800  # half past an hour


def serve(served: MethodStats, method: str, *latencies: float, failed: int = 0) -> None:
    for i, latency in enumerate(latencies):
        served.of(method).start()
        served.of(method).finish(latency, "INTERNAL" if i < failed else None)


async def test_instances_add_what_they_served_to_the_services_buckets(
    client: aioredis.Redis, key_prefix: str
) -> None:
    clock = FakeClock(NOW)
    first, second = MethodStats(), MethodStats()
    one = SliRecorder(client, key_prefix, "analytics", first, clock=clock)
    two = SliRecorder(client, key_prefix, "analytics", second, clock=clock)
    serve(first, "ProcessDetections", 0.004, 0.004, 0.3, failed=1)
    serve(second, "ProcessDetections", 0.02)
    serve(second, "GetTrafficMetrics", 0.001)
    await one.flush()
    await two.flush()
    await one.flush()  # nothing new: nothing added twice
    minute = await client.hgetall(sli_key(key_prefix, "analytics", "m", int(NOW // 60)))
    assert minute[b"ProcessDetections|total"] == b"4"
    assert minute[b"ProcessDetections|failed"] == b"1"
    assert minute[b"GetTrafficMetrics|total"] == b"1"
    hour_key = sli_key(key_prefix, "analytics", "h", int(NOW // 3600))
    assert (await client.hgetall(hour_key)) == minute
    assert 0 < await client.ttl(hour_key) <= KEEP["h"]

    slo = Slo("analytics", 99.9, 30 * DAY, parse_latency("p99<100ms"))
    window, lookbacks = await read_counts(client, key_prefix, slo, NOW)
    assert (window.total, window.failed, window.slow(0.1)) == (5, 1, 1)
    assert {c.total for c in lookbacks.values()} == {5}
    only = Slo("analytics", 99.9, 30 * DAY, method="GetTrafficMetrics")
    window, _ = await read_counts(client, key_prefix, only, NOW)
    assert (window.total, window.failed) == (1, 0)


async def test_lookbacks_see_only_their_minutes_and_the_window_its_hours(
    client: aioredis.Redis, key_prefix: str
) -> None:
    clock = FakeClock(NOW - 2 * 3600)  # two hours ago
    served = MethodStats()
    recorder = SliRecorder(client, key_prefix, "alert", served, clock=clock)
    serve(served, "SendAlert", *[0.01] * 10, failed=10)
    await recorder.flush()
    clock.set(NOW)
    serve(served, "SendAlert", *[0.01] * 5)
    await recorder.flush()
    slo = Slo("alert", 99.0, 7 * DAY)
    window, lookbacks = await read_counts(client, key_prefix, slo, NOW)
    assert (window.total, window.failed) == (15, 10)
    by_name = {int(seconds): counts for seconds, counts in lookbacks.items()}
    assert (by_name[300].total, by_name[300].failed) == (5, 0)
    assert (by_name[3600].total, by_name[3600].failed) == (5, 0)
    assert (by_name[21600].total, by_name[21600].failed) == (15, 10)
    short = Slo("alert", 99.0, 3600)  # a one-hour window holds only this hour
    window, _ = await read_counts(client, key_prefix, short, NOW)
    assert window.total == 5


async def test_a_flush_redis_refused_is_carried_into_the_next(
    client: aioredis.Redis, key_prefix: str
) -> None:
    served = MethodStats()
    recorder = SliRecorder(client, key_prefix, "streaming", served, clock=FakeClock(NOW))
    serve(served, "ProcessDetections", 0.01, 0.01)

    recorder.redis = aioredis.Redis(port=closed_port())
    with pytest.raises(RedisConnectionError):
        await recorder.flush()
    await recorder.redis.aclose()
    recorder.redis = client
    serve(served, "ProcessDetections", 0.01)
    await recorder.stop()  # the final flush
    window, _ = await read_counts(client, key_prefix, Slo("streaming", 99.9, 30 * DAY), NOW)
    assert window.total == 3


async def test_fields_that_are_not_counts_are_skipped(
    client: aioredis.Redis, key_prefix: str
) -> None:
    key = sli_key(key_prefix, "auth", "h", int(NOW // 3600))
    last = f"login|w{len(LATENCY_EDGES) - 1}"
    fields = {
        "login|total": "7",
        "login|failed": "x",
        "junk": "1",
        "login|w99": "3",
        last: "7",
    }
    for field, value in fields.items():
        await client.hset(key, field, value)
    await client.set(sli_key(key_prefix, "auth", "m", int(NOW // 60)), "not a hash")
    window, lookbacks = await read_counts(client, key_prefix, Slo("auth", 99.0, DAY), NOW)
    assert (window.total, window.failed, window.within[-1]) == (7, 0, 7)
    assert all(c.total == 0 for c in lookbacks.values())


async def test_slos_are_stored_replaced_listed_and_deleted(
    client: aioredis.Redis, key_prefix: str
) -> None:
    slo = Slo("analytics", 99.9, 30 * DAY, parse_latency("p99<100ms"))
    assert await save_slo(client, key_prefix, slo) is False
    stricter = Slo("analytics", 99.95, 30 * DAY)
    assert await save_slo(client, key_prefix, stricter) is True  # replaced
    per_method = Slo("analytics", 99.0, 7 * DAY, method="GenerateReport")
    await save_slo(client, key_prefix, per_method)
    await client.hset(f"{key_prefix}:slos", "broken", "{not json")
    slos, problems = await load_slos(client, key_prefix)
    assert slos == [stricter, per_method]
    assert len(problems) == 1 and "'broken'" in problems[0]
    assert await delete_slo(client, key_prefix, "analytics", "GenerateReport") is True
    assert await delete_slo(client, key_prefix, "analytics", "GenerateReport") is False


async def test_a_bucket_of_the_wrong_type_is_skipped_not_counted_twice(
    client: aioredis.Redis, key_prefix: str
) -> None:
    served = MethodStats()
    recorder = SliRecorder(client, key_prefix, "analytics", served, clock=FakeClock(NOW))
    await client.set(sli_key(key_prefix, "analytics", "m", int(NOW // 60)), "junk")
    serve(served, "ProcessDetections", 0.01, 0.01)
    await recorder.flush()
    await recorder.flush()
    window, _ = await read_counts(client, key_prefix, Slo("analytics", 99.9, DAY), NOW)
    assert window.total == 2  # the hour bucket took them once
