"""KafkaEventBus against the real broker: wire contract, foreign clients, spool, garbage."""

from __future__ import annotations

import asyncio
import json
import logging
import zlib
from collections.abc import Sequence
from pathlib import Path

import pytest
from cloudevents.core.bindings import kafka as kafka_binding
from cloudevents.core.formats.json import JSONFormat
from confluent_kafka import OFFSET_BEGINNING, Consumer, Message, Producer, TopicPartition

from meshctl.core.context import CorrelationContext
from meshctl.embedded import EmbeddedBroker
from meshctl.errors import BrokerUnavailableError, SpoolFullError
from meshctl.events import Event
from meshctl.events.client import TopicManager
from meshctl.events.kafka import KafkaEventBus
from meshctl.events.partitioner import partition_for

pytestmark = pytest.mark.kafka


def bus_for(bootstrap: str, prefix: str, tmp_path: Path, **kwargs: object) -> KafkaEventBus:
    return KafkaEventBus(
        bootstrap,
        topic_prefix=prefix,
        spool_dir=tmp_path / "spool",
        **kwargs,  # type: ignore[arg-type]
    )


def confluent_produce(
    bootstrap: str,
    topic: str,
    key: bytes,
    values: list[bytes],
    headers: Sequence[tuple[str, bytes]] = (),
    partitioner: str = "murmur2_random",
) -> int:
    """Produce as a foreign client would; returns how many records are still unsent.

    ``murmur2_random`` is librdkafka's Java-compatible partitioner (the key lands
    where meshctl's producers put it); its own default is ``consistent_random``.
    """
    producer = Producer({"bootstrap.servers": bootstrap, "partitioner": partitioner})
    for value in values:
        producer.produce(topic, value, key=key, headers=[(k, v) for k, v in headers])
    return int(producer.flush(10))


def confluent_read(bootstrap: str, topic: str, count: int) -> list[Message[bytes, bytes]]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"{topic}-reader"})
    # Assign rather than join a group: no rebalance wait.
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(3)])
    messages = []
    try:
        for _ in range(200):
            msg = consumer.poll(0.2)
            if msg is not None and msg.error() is None:
                messages.append(msg)
            if len(messages) == count:
                break
    finally:
        consumer.close()
    return messages


async def test_librdkafka_and_the_cloudevents_sdk_read_a_valid_binary_mode_event(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    ctx = CorrelationContext.new("wire-1", user_id="u7")
    async with bus_for(kafka_bootstrap, topic_prefix, tmp_path) as bus:
        event = await bus.publish("violation.detected", {"camera_id": "c3"}, ctx, source="a b")
    [msg] = await asyncio.to_thread(
        confluent_read, kafka_bootstrap, f"{topic_prefix}.violation.detected", 1
    )
    assert msg.key() == b"wire-1"  # partitioning as before: keyed by correlation id
    headers = {k: v for k, v in dict(msg.headers() or []).items() if isinstance(v, bytes)}
    # The SDK validates required attributes, the time and the extension names on construction.
    ce = kafka_binding.from_binary(
        kafka_binding.KafkaMessage(headers=headers, key=msg.key(), value=msg.value() or b""),
        JSONFormat(),
    )
    assert ce.get_specversion() == "1.0"
    assert ce.get_id() == event.event_id
    assert ce.get_type() == "its.violation.detected"
    assert ce.get_source() == "/meshctl/a%20b"
    assert ce.get_time() == event.occurred_at
    assert ce.get_datacontenttype() == "application/json"
    assert ce.get_data() == {"camera_id": "c3"}
    assert ce.get_extension("correlationid") == "wire-1"
    traceparent = ce.get_extension("traceparent")
    assert isinstance(traceparent, str) and traceparent.startswith(f"00-{ctx.trace_id}-")
    assert headers["traceparent"] == traceparent.encode()  # for W3C propagators too
    assert headers["x-user-id"] == b"u7"
    assert json.loads(msg.value() or b"") == {"camera_id": "c3"}  # the data alone, no envelope


async def test_a_foreign_producers_event_shows_up_in_a_tail(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    async with bus_for(kafka_bootstrap, topic_prefix, tmp_path) as bus:
        await bus.publish("alert.sent", {"n": 0}, CorrelationContext.new("mixed"))
        envelope = {
            "event_id": "e-1",
            "event_type": "alert.sent",
            "source": "legacy",
            "occurred_at": "2026-01-01T00:00:00+00:00",
            "correlation_id": "mixed",
            "trace_id": "0af7651916cd43dd8448eb211c80319c",
            "data": {"n": 1},
        }
        headers = [("correlation_id", b"mixed"), ("event_type", b"alert.sent")]
        topic, value = f"{topic_prefix}.alert.sent", json.dumps(envelope).encode()
        unsent = await asyncio.to_thread(
            confluent_produce, kafka_bootstrap, topic, b"mixed", [value], headers
        )
        assert unsent == 0
        events = [e async for e in bus.tail("mixed", follow=False)]
    assert [(e.source, e.data["n"]) for e in events] == [("meshctl", 0), ("legacy", 1)]


async def test_binary_structured_and_old_records_on_one_topic_read_alike(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    topic = f"{topic_prefix}.alert.sent"
    structured = {
        "specversion": "1.0", "id": "s-1", "type": "its.alert.sent", "source": "/meshctl/other",
        "time": "2026-01-01T00:00:01Z", "correlationid": "three", "data": {"n": 1},
    }  # fmt: skip
    old = {
        "event_id": "e-2", "event_type": "alert.sent", "source": "legacy",
        "occurred_at": "2026-01-01T00:00:02+00:00", "correlation_id": "three",
        "trace_id": "0af7651916cd43dd8448eb211c80319c", "data": {"n": 2},
    }  # fmt: skip
    async with bus_for(kafka_bootstrap, topic_prefix, tmp_path) as bus:
        await bus.publish("alert.sent", {"n": 0}, CorrelationContext.new("three"))
        for value, headers in [
            (structured, [("content-type", b"application/cloudevents+json")]),
            ({"n": 3}, [("ce_specversion", b"1.0"), ("ce_correlationid", b"other")]),
            (old, [("correlation_id", b"three"), ("event_type", b"alert.sent")]),
        ]:  # one key, so one partition in this order: handling n=2 means the bad one is past
            unsent = await asyncio.to_thread(
                confluent_produce, kafka_bootstrap, topic, b"three",
                [json.dumps(value).encode()], headers,
            )  # fmt: skip
            assert unsent == 0
        by_id = [e async for e in bus.tail("three", follow=False)]
        everything = [e async for e in bus.tail(event_types="alert.sent", follow=False)]
        got: asyncio.Queue[Event] = asyncio.Queue()
        sub = await bus.subscribe("alert.sent", got.put, group_id=f"{topic_prefix}-g")
        handled = [await asyncio.wait_for(got.get(), 30) for _ in range(3)]
    assert sorted((e.data["n"], e.source) for e in by_id) == [
        (0, "meshctl"), (1, "other"), (2, "legacy"),
    ]  # fmt: skip
    assert {e.correlation_id for e in by_id} == {"three"}
    # The third record claims binary mode but lacks id, type and source: reported, not fatal.
    [bad] = [e for e in everything if e.malformed]
    assert "lacks id, source, type" in (bad.error or "")
    assert sorted(e.data["n"] for e in handled) == [0, 1, 2]
    assert sub.stats.malformed == 1


async def test_a_tail_by_correlation_id_finds_events_of_any_partitioner(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    topic = f"{topic_prefix}.alert.sent"
    await TopicManager(kafka_bootstrap, client_id=topic_prefix).ensure([topic])
    # a key that librdkafka's default (CRC32) puts elsewhere than murmur2 does
    key = next(
        f"corr-{n}" for n in range(100)
        if zlib.crc32(f"corr-{n}".encode()) % 3 != partition_for(f"corr-{n}".encode(), 3)
    )  # fmt: skip
    envelope = {
        "event_id": "e-crc", "event_type": "alert.sent", "source": "kcat",
        "occurred_at": "2026-01-01T00:00:00+00:00", "correlation_id": key,
        "trace_id": "0af7651916cd43dd8448eb211c80319c", "data": {"n": 1},
    }  # fmt: skip
    headers = [("correlation_id", key.encode()), ("event_type", b"alert.sent")]
    unsent = await asyncio.to_thread(
        confluent_produce, kafka_bootstrap, topic, key.encode(),
        [json.dumps(envelope).encode()], headers, "consistent_random",
    )  # fmt: skip
    assert unsent == 0
    async with bus_for(kafka_bootstrap, topic_prefix, tmp_path) as bus:
        await bus.publish("alert.sent", {"n": 0}, CorrelationContext.new(key))
        found = [e async for e in bus.tail(key, follow=False)]
        keyed = [e async for e in bus.tail(key, follow=False, keyed_only=True)]
    assert sorted(e.data["n"] for e in found) == [0, 1]
    assert {e.partition for e in found} == {
        partition_for(key.encode(), 3),
        zlib.crc32(key.encode()) % 3,
    }
    assert [e.data["n"] for e in keyed] == [0]  # what --keyed-only gives up


async def test_poison_records_do_not_stop_a_consumer_or_a_tail(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    topic = f"{topic_prefix}.frame.processed"
    await TopicManager(kafka_bootstrap, client_id=topic_prefix).ensure([topic])
    poison = [b"\x00not json", b'{"half": "an envelope"}']
    unsent = await asyncio.to_thread(confluent_produce, kafka_bootstrap, topic, b"poison", poison)
    assert unsent == 0
    async with bus_for(kafka_bootstrap, topic_prefix, tmp_path) as bus:
        await bus.publish("frame.processed", {"ok": True}, CorrelationContext.new("fine"))
        with caplog.at_level(logging.WARNING):
            tailed = [e async for e in bus.tail(event_types="frame.processed", follow=False)]
        assert [e.malformed for e in tailed] == [True, True, False]
        assert tailed[0].raw == b"\x00not json"
        got: asyncio.Queue[Event] = asyncio.Queue()
        sub = await bus.subscribe("frame.*", got.put, group_id=f"{topic_prefix}-g")
        good = await asyncio.wait_for(got.get(), 30)
    assert good.data == {"ok": True}
    assert sub.stats.malformed == 2
    assert "malformed" in caplog.text


async def test_events_published_while_the_broker_is_down_are_replayed_in_order(
    own_broker: EmbeddedBroker, topic_prefix: str, tmp_path: Path
) -> None:
    ctx = CorrelationContext.new("outage")
    bus = bus_for(own_broker.bootstrap, topic_prefix, tmp_path, publish_timeout=1.0)
    async with bus:
        await bus.publish("alert.sent", {"n": 0}, ctx)
        await asyncio.to_thread(own_broker.stop)
        for n in range(1, 6):
            await bus.publish("alert.sent", {"n": n}, ctx)
        assert bus.spooling and bus.spool.size > 0
        with pytest.raises(BrokerUnavailableError, match=own_broker.bootstrap):
            [e async for e in bus.tail("outage", follow=False)]
        await asyncio.to_thread(own_broker.start)  # same port, empty (in-memory) storage
        for _ in range(200):
            if not bus.spooling:
                break
            await asyncio.sleep(0.05)
        assert not bus.spooling and bus.spool.size == 0
        await bus.publish("alert.sent", {"n": 6}, ctx)
        events = [e async for e in bus.tail("outage", follow=False)]
    # Event 0 lived in the first broker's memory only; everything spooled arrived, in order.
    assert [e.data["n"] for e in events] == [1, 2, 3, 4, 5, 6]


async def test_a_spool_left_by_a_previous_process_is_replayed(
    own_broker: EmbeddedBroker, topic_prefix: str, tmp_path: Path
) -> None:
    own_broker.stop()
    async with bus_for(own_broker.bootstrap, topic_prefix, tmp_path, publish_timeout=1.0) as bus:
        await bus.publish("alert.sent", {"n": 1}, CorrelationContext.new("restart"))
        assert bus.spooling
    own_broker.start()
    async with bus_for(own_broker.bootstrap, topic_prefix, tmp_path) as bus:
        for _ in range(200):
            if not bus.spooling:
                break
            await asyncio.sleep(0.05)
        events = [e async for e in bus.tail("restart", follow=False)]
    assert [e.data for e in events] == [{"n": 1}]


async def test_full_spool_raises_spool_full(
    own_broker: EmbeddedBroker, topic_prefix: str, tmp_path: Path
) -> None:
    own_broker.stop()
    bus = bus_for(own_broker.bootstrap, topic_prefix, tmp_path, spool_max_bytes=1500)
    async with bus:
        with pytest.raises(SpoolFullError, match="full"):
            for n in range(100):
                await bus.publish("alert.sent", {"n": n})
        assert 0 < bus.spool.size <= 1500


async def test_fire_and_forget_delivers_everything(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    ctx = CorrelationContext.new("ff")
    bus = bus_for(kafka_bootstrap, topic_prefix, tmp_path, fire_and_forget=True, buffer_size=8)
    async with bus:
        for n in range(50):
            await bus.publish("frame.processed", {"n": n}, ctx)
        await bus.flush()
        events = [e async for e in bus.tail("ff", follow=False)]
    assert [e.data["n"] for e in events] == list(range(50))


async def test_a_round_larger_than_one_batch_keeps_its_order(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    ctx = CorrelationContext.new("big")  # one key: one partition, several 256 KiB batches
    bus = bus_for(kafka_bootstrap, topic_prefix, tmp_path, fire_and_forget=True)
    async with bus:
        for n in range(2000):
            await bus.publish("frame.processed", {"n": n, "pad": "x" * 300}, ctx)
        await bus.flush()
        events = [e async for e in bus.tail("big", follow=False)]
    assert [e.data["n"] for e in events] == list(range(2000))
    assert bus.counts.published[f"{topic_prefix}.frame.processed"] == 2000


async def test_tailing_an_unreachable_broker_names_it(topic_prefix: str, tmp_path: Path) -> None:
    with EmbeddedBroker() as broker:
        address = broker.bootstrap
    bus = bus_for(address, topic_prefix, tmp_path)
    with pytest.raises(BrokerUnavailableError, match=f"Kafka broker at {address}"):
        [e async for e in bus.tail("x")]
    with pytest.raises(BrokerUnavailableError, match=address):
        await bus.subscribe(None, lambda e: asyncio.sleep(0), group_id="g")


async def test_an_awaited_publish_on_a_bus_not_started_says_so(tmp_path: Path) -> None:
    bus = bus_for("127.0.0.1:9", "unstarted", tmp_path)
    with pytest.raises(RuntimeError, match="not started"):
        await bus.publish("alert.sent", {"n": 1})
