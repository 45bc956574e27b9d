"""Topic layout: settings reach topic creation; a layout the cluster cannot hold loses nothing."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from typer.testing import CliRunner

from meshctl.cli.app import app
from meshctl.config import MeshSettings
from meshctl.core.context import CorrelationContext
from meshctl.events import open_bus
from meshctl.events.client import TopicManager, kafka_admin
from meshctl.events.kafka import KafkaEventBus
from meshctl.events.layout import TopicLayout, TopicLayoutError

from .conftest import eventually


def test_the_defaults_suit_one_broker_and_the_settings_carry_the_layout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert TopicLayout.of(MeshSettings()) == TopicLayout(3, 1, 1)
    monkeypatch.setenv("MESH_KAFKA_PARTITIONS", "12")
    monkeypatch.setenv("MESH_KAFKA_REPLICATION_FACTOR", "3")
    monkeypatch.setenv("MESH_KAFKA_MIN_INSYNC_REPLICAS", "2")
    layout = TopicLayout.of(MeshSettings())
    assert layout == TopicLayout(12, 3, 2)
    assert layout.configs == {"min.insync.replicas": "2"}


def test_a_layout_that_contradicts_itself_is_refused_naming_the_settings() -> None:
    with pytest.raises(TopicLayoutError, match=r"MIN_INSYNC_REPLICAS=3 exceeds .*FACTOR=2"):
        TopicLayout(3, 2, 3)
    with pytest.raises(TopicLayoutError, match="at least 1"):
        TopicLayout(0, 1, 1)


def test_too_few_brokers_names_the_setting_and_the_broker_count() -> None:
    layout = TopicLayout(3, 3, 2)
    layout.check_brokers(3, "k:9092")
    with pytest.raises(TopicLayoutError) as refused:
        layout.check_brokers(1, "k:9092")
    assert str(refused.value) == (
        "MESH_KAFKA_REPLICATION_FACTOR=3 but the Kafka cluster at k:9092 has 1 broker: "
        "its topics cannot be created"
    )
    assert refused.value.exit_code == 2
    assert "has 2 brokers" in str(layout.too_few_brokers(2, "k:9092"))


@pytest.mark.kafka
async def test_topics_are_created_with_the_layouts_partitions_and_min_insync(
    kafka_bootstrap: str, topic_prefix: str
) -> None:
    topic = f"{topic_prefix}.alert.sent"
    topics = TopicManager(kafka_bootstrap, client_id=topic_prefix, layout=TopicLayout(5, 1, 1))
    await topics.ensure([topic])
    assert await topics.partitions_of([topic]) == {topic: {0, 1, 2, 3, 4}}
    admin = kafka_admin(kafka_bootstrap, topic_prefix)
    await admin.start()
    try:
        [answer] = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
    finally:
        await admin.close()
    [(_, _, _, name, entries)] = answer.resources
    assert name == topic
    assert {e[0]: e[1] for e in entries}["min.insync.replicas"] == "1"


@pytest.mark.kafka
async def test_a_replication_factor_above_the_broker_count_spools_until_it_fits(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spool = tmp_path / "spool"
    ctx = CorrelationContext.new("layout")
    with caplog.at_level(logging.ERROR, logger="meshctl.events.kafka"):
        async with KafkaEventBus(
            kafka_bootstrap, topic_prefix=topic_prefix, spool_dir=spool,
            layout=TopicLayout(3, 2, 2), probe_interval=0.05,
        ) as bus:  # fmt: skip
            published = [await bus.publish("alert.sent", {"n": n}, ctx) for n in range(3)]
            await asyncio.sleep(0.3)  # a few replays are tried and refused meanwhile
            assert all(e.offset is None for e in published) and bus.spooling
            assert isinstance(bus.topic_error, TopicLayoutError)
            assert "MESH_KAFKA_REPLICATION_FACTOR=2" in str(bus.topic_error)
            assert "has 1 broker" in str(bus.topic_error)
    refusals = [r.getMessage() for r in caplog.records]
    assert len(refusals) == 1 and refusals[0].endswith("events are kept in the spool meanwhile")
    # With a layout the cluster can hold, the same durable spool delivers everything.
    async with KafkaEventBus(kafka_bootstrap, topic_prefix=topic_prefix, spool_dir=spool) as bus:
        await eventually(lambda: not bus.spooling, "the spool is replayed")
        assert bus.topic_error is None
        events = [e async for e in bus.tail("layout", follow=False)]
    assert [e.event_id for e in events] == [e.event_id for e in published]


@pytest.mark.kafka
async def test_subscribing_with_a_layout_the_cluster_cannot_hold_raises_it(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    settings = MeshSettings(
        kafka_bootstrap=kafka_bootstrap, topic_prefix=topic_prefix, kafka_replication_factor=3
    )
    async with open_bus(settings, spool_dir=tmp_path / "spool") as bus:

        async def handler(_: object) -> None:
            pass

        with pytest.raises(TopicLayoutError, match="FACTOR=3 .* 1 broker"):
            await bus.subscribe("alert.sent", handler, group_id=topic_prefix)


@pytest.mark.kafka
def test_publish_command_exits_2_naming_the_setting_and_the_broker_count(
    kafka_bootstrap: str, topic_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MESH_TOPIC_PREFIX", topic_prefix)
    monkeypatch.setenv("MESH_KAFKA_REPLICATION_FACTOR", "3")
    result = CliRunner().invoke(
        app, ["--kafka", kafka_bootstrap, "events", "publish", "alert.sent"]
    )
    assert result.exit_code == 2, result.output
    assert result.stderr.splitlines() == [
        f"error: MESH_KAFKA_REPLICATION_FACTOR=3 but the Kafka cluster at {kafka_bootstrap} "
        "has 1 broker: its topics cannot be created"
    ]
