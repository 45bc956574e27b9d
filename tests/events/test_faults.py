"""Faults between clients and the real broker: dead bootstrap entries, resets, stalls, an outage.

The broker is Tansu (one node, in memory); a ``TcpProxy`` in front of it is
the address it advertises, so every connection of every client, bootstrap
and data alike, goes through the proxy and feels its faults.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from meshctl.cli.app import app
from meshctl.core.context import CorrelationContext
from meshctl.embedded import EmbeddedBroker
from meshctl.events import Event
from meshctl.events.client import kafka_producer
from meshctl.events.cloudevents import encode_record
from meshctl.events.kafka import KafkaEventBus
from meshctl.testing import TcpProxy, closed_port, free_port

from .conftest import eventually

pytestmark = pytest.mark.kafka

ROUNDS = 20
PER_ROUND = 100  # 2,000 events in all
REDELIVERED = 300  # copies of published events produced again, as a retried batch would


async def test_a_bootstrap_list_with_dead_entries_reaches_the_live_broker(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bootstrap = f"127.0.0.1:{closed_port()},{kafka_bootstrap},127.0.0.1:{closed_port()}"
    seen: list[Event] = []

    async def handler(event: Event) -> None:
        seen.append(event)

    ctx = CorrelationContext.new("dead-entries")
    async with KafkaEventBus(bootstrap, topic_prefix=topic_prefix, spool_dir=tmp_path) as bus:
        published = await bus.publish("alert.sent", {"n": 1}, ctx)
        assert published.offset is not None and not bus.spooling
        sub = await bus.subscribe("alert.sent", handler, group_id=topic_prefix)
        await eventually(lambda: seen, "the subscription has the event")
        tailed = [e async for e in bus.tail("dead-entries", follow=False)]
        assert sub.stats.processed == 1
    assert [e.event_id for e in seen] == [e.event_id for e in tailed] == [published.event_id]
    monkeypatch.setenv("MESH_TOPIC_PREFIX", topic_prefix)
    command = ["--kafka", bootstrap, "events", "publish", "alert.sent", "-o", "json"]
    result = await asyncio.to_thread(CliRunner().invoke, app, command)
    assert result.exit_code == 0, result.output
    assert isinstance(json.loads(result.stdout)["offset"], int)  # acknowledged, not spooled


@pytest.fixture
async def proxy() -> AsyncIterator[TcpProxy]:
    """A proxy in front of a broker of this test's own, which advertises the proxy."""
    port = free_port()
    proxy = await TcpProxy(port).start()
    broker = EmbeddedBroker(port, advertised_port=proxy.port)
    try:
        await asyncio.to_thread(broker.start)
        yield proxy
    finally:
        await proxy.stop()
        await asyncio.to_thread(broker.stop)


async def fault(proxy: TcpProxy, round_no: int) -> None:
    """The fault of one round: resets, a short stall, a stall past the send timeout, an outage."""
    if round_no in (2, 6, 10, 17):
        proxy.reset()
    elif round_no == 4:
        proxy.stall(0.3)  # shorter than the send timeout: sends just wait
    elif round_no == 8:
        proxy.stall(1.5)  # longer: sends time out and spool, then the held requests land too
    elif round_no == 12:
        await proxy.stop()  # an outage: nothing connects until round 14
    elif round_no == 14:
        await proxy.start()


async def produce_through_faults(proxy: TcpProxy, bus: KafkaEventBus) -> list[Event]:
    published: list[Event] = []
    for round_no in range(ROUNDS):
        sends = [
            asyncio.create_task(
                bus.publish(
                    "frame.processed",
                    {"round": round_no, "n": n},
                    CorrelationContext.new(f"camera-{n % 17}"),
                )
            )  # fmt: skip
            for n in range(PER_ROUND)
        ]
        await asyncio.sleep(0.01)  # the round is on its way when the fault strikes
        await fault(proxy, round_no)
        published.extend(await asyncio.gather(*sends))
    await eventually(lambda: not bus.spooling, "the spool is replayed")
    return published


async def redeliver(bootstrap: str, events: list[Event]) -> None:
    """Produce exact copies of ``events`` (same ce_id and source), as a retried batch would."""
    producer = kafka_producer(bootstrap, "redeliver", acks="all")
    await producer.start()
    try:
        for event in events:
            value, headers, timestamp_ms = encode_record(event)
            await producer.send(
                event.topic or "", value, key=event.correlation_id.encode(), headers=headers,
                timestamp_ms=timestamp_ms,
            )  # fmt: skip
        await producer.flush()
    finally:
        await producer.stop()


async def test_resets_stalls_and_an_outage_lose_nothing_and_handlers_see_each_event_once(
    proxy: TcpProxy, topic_prefix: str, tmp_path: Path
) -> None:
    bus = KafkaEventBus(
        proxy.address, topic_prefix=topic_prefix, spool_dir=tmp_path / "spool",
        publish_timeout=1.0, probe_interval=0.05,
    )  # fmt: skip
    handled: list[str] = []

    async def handler(event: Event) -> None:
        handled.append(event.event_id)
        if len(handled) == 700:
            proxy.reset()  # the consumer's connections too, mid-stream

    async with bus:
        published = await produce_through_faults(proxy, bus)
        topic = published[0].topic or ""
        counts = bus.counts
        assert counts.failed[topic] == 0
        assert counts.spooled[topic] == counts.replayed[topic] > 0  # the outage spooled some
        assert counts.published[topic] + counts.spooled[topic] == len(published)
        await redeliver(proxy.address, published[:REDELIVERED])
        sub = await bus.subscribe("frame.processed", handler, group_id=topic_prefix)
        stats = sub.stats
        await eventually(
            lambda: stats.processed + stats.duplicates >= len(published) + REDELIVERED,
            "every record, copies included, is consumed",
        )
        await asyncio.sleep(0.5)  # a late redelivery would show up here
    assert len(published) == ROUNDS * PER_ROUND
    assert sorted(handled) == sorted(e.event_id for e in published)  # none lost, none twice
    assert sub.stats.processed == len(published)
    assert sub.stats.duplicates >= REDELIVERED  # more when a retried send wrote twice
