"""The span store on the real Redis: batches, TTLs, the correlation index, Redis down."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis

from meshctl.core.context import CorrelationContext
from meshctl.core.spans import SpanRecord
from meshctl.mesh import ServiceMeshClient
from meshctl.registry.keys import correlation_traces_key, trace_key
from meshctl.registry.spanstore import SpanStore, read_spans
from meshctl.services import analytics
from meshctl.testing import Platform, closed_port, served
from meshctl.transport.spanexport import RecordProcessor
from meshctl.transport.tracing import PROCESS_TRACING

pytestmark = pytest.mark.redis


def record(trace: str, span_id: str, correlation_id: str | None = "corr-1") -> SpanRecord:
    return SpanRecord(
        trace_id=trace * 32,
        span_id=span_id * 16,
        parent_id=None,
        name="svc/Get",
        kind="client",
        service="svc",
        start_ns=1,
        duration_ns=2,
        correlation_id=correlation_id,
    )


async def eventually(condition, attempts: int = 250) -> None:
    """Read until ``condition()`` holds: the store writes on its own schedule, not the test's."""
    for _ in range(attempts):
        if await condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the store never wrote what was expected")


async def test_records_are_kept_per_trace_and_found_by_correlation_id(
    redis_client: aioredis.Redis, key_prefix: str
):
    store = SpanStore(redis_client, key_prefix, ttl=60)
    for rec in (record("a", "1"), record("a", "2"), record("b", "3"), record("c", "4", None)):
        store.add(rec)

    assert await store.flush() == 4

    found = await read_spans(redis_client, key_prefix, "corr-1")
    assert sorted(r.span_id[0] for r in found) == ["1", "2", "3"]
    assert [r.span_id[0] for r in await read_spans(redis_client, key_prefix, "c" * 32)] == ["4"]
    assert await read_spans(redis_client, key_prefix, "unknown") == []
    for key in (trace_key(key_prefix, "a" * 32), correlation_traces_key(key_prefix, "corr-1")):
        assert 0 < await redis_client.ttl(key) <= 60
    assert (store.written, store.dropped) == (4, 0)


async def test_a_trace_keeps_its_first_spans_only(redis_client: aioredis.Redis, key_prefix: str):
    store = SpanStore(redis_client, key_prefix, max_spans=2)
    for span_id in "123":
        store.add(record("a", span_id))
    await store.flush()
    store.add(record("a", "4"))
    await store.flush()

    found = await read_spans(redis_client, key_prefix, "corr-1")
    assert [r.span_id[0] for r in found] == ["1", "2"]


async def test_a_record_that_does_not_parse_is_skipped(
    redis_client: aioredis.Redis, key_prefix: str
):
    store = SpanStore(redis_client, key_prefix)
    store.add(record("a", "1"))
    await store.flush()
    await redis_client.rpush(trace_key(key_prefix, "a" * 32), b"{not json", b"[1]")

    assert [r.span_id[0] for r in await read_spans(redis_client, key_prefix, "corr-1")] == ["1"]


async def test_the_store_writes_in_the_background_and_on_close(
    redis_client: aioredis.Redis, key_prefix: str
):
    async def stored() -> bool:
        return len(await read_spans(redis_client, key_prefix, "corr-1")) == 2

    async with SpanStore(redis_client, key_prefix, interval=0.05) as store:
        store.add(record("a", "1"))
        store.add(record("a", "2"))
        await eventually(stored)
        store.add(record("a", "3"))  # queued at close: written by it
    assert store.written == 3
    assert len(await read_spans(redis_client, key_prefix, "corr-1")) == 3


async def test_a_full_queue_drops_and_counts():
    store = SpanStore(f"redis://127.0.0.1:{closed_port()}/0", "unused", queue_limit=2)
    for span_id in "123":
        store.add(record("a", span_id))
    assert store.dropped == 1
    await store.aclose()  # Redis is not there: what was queued is dropped, not raised
    assert (store.written, store.dropped) == (0, 3)


async def test_redis_down_fails_no_call(platform: Platform, mesh: ServiceMeshClient):
    await platform.start("analytics")
    store = SpanStore(f"redis://127.0.0.1:{closed_port()}/0", "unused", interval=0.05)
    await store.start()
    release = PROCESS_TRACING.start("tests", RecordProcessor(store.add))
    try:
        for _ in range(3):
            reply = await mesh.call_service("analytics", "GetTrafficMetrics", {"camera_id": "c"})
            assert "metrics" in reply
    finally:
        release()
        await store.aclose()
    assert store.written == 0 and store.dropped >= 6  # each call: a client and a server span


async def test_a_hosted_service_keeps_its_spans_in_the_store(
    platform: Platform, mesh: ServiceMeshClient, redis_client: aioredis.Redis, key_prefix: str
):
    store = SpanStore(redis_client, key_prefix, interval=0.05)
    app = analytics.build(platform.settings)
    async with served(app, registry=platform.registry, span_store=store):
        ctx = CorrelationContext.new("corr-hosted")
        request = {"camera_id": "c"}
        await mesh.call("analytics", "GetTrafficMetrics", request, correlation_context=ctx)

        async def kept() -> bool:
            return bool(await read_spans(redis_client, key_prefix, "corr-hosted"))

        await eventually(kept)
    found = await read_spans(redis_client, key_prefix, "corr-hosted")
    names = {(r.name, r.kind, r.service) for r in found}
    # The test's own client span is kept too: the process traces while the host serves.
    assert ("its.v1.AnalyticsService/GetTrafficMetrics", "server", "analytics") in names
    assert ("analytics/GetTrafficMetrics", "client", "test-client") in names
    assert {r.trace_id for r in found} == {ctx.trace_id}
    assert PROCESS_TRACING.tracer is None  # the host released the process's tracing


async def test_new_traces_beyond_the_rate_are_not_kept_and_kept_ones_stay_whole(
    redis_client: aioredis.Redis, key_prefix: str
):
    now = [0.0]
    store = SpanStore(redis_client, key_prefix, traces_per_second=2, clock=lambda: now[0])
    for trace, span_id in (("a", "1"), ("b", "2"), ("c", "3"), ("a", "4")):
        store.add(record(trace, span_id))
    assert store.over_rate == 1  # trace c: a's later span still went in
    now[0] = 0.5  # one more new trace's worth
    store.add(record("c", "5"))
    store.add(record("d", "6"))
    assert store.over_rate == 2

    await store.flush()
    kept = await read_spans(redis_client, key_prefix, "corr-1")
    assert sorted(r.span_id[0] for r in kept) == ["1", "2", "4", "5"]
