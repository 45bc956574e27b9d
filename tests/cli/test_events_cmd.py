"""``meshctl events`` against the real Kafka-protocol broker, each test on its own topics."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import yaml
from aiokafka import AIOKafkaProducer

from meshctl.cli.events import event_line, parse_start
from meshctl.errors import InvalidRequestError
from meshctl.events.envelope import Event
from meshctl.testing import closed_port

pytestmark = [pytest.mark.redis, pytest.mark.kafka]


@pytest.fixture
def events(meshctl, kafka_bootstrap, topic_prefix, monkeypatch):
    """``meshctl events ...`` on the session broker under this test's topic prefix."""
    monkeypatch.setenv("MESH_TOPIC_PREFIX", topic_prefix)
    return lambda *args: meshctl("--kafka", kafka_bootstrap, "events", *args)


def test_publish_then_tail_by_correlation_and_type(events):
    published = events(
        "publish",
        "alert.sent",
        "-d",
        '{"alert_id": "a-1"}',
        "--correlation-id",
        "corr-e",
        "-o",
        "json",
    )
    assert published.exit_code == 0, published.output
    envelope = json.loads(published.stdout)
    assert envelope["event_type"] == "alert.sent" and envelope["data"] == {"alert_id": "a-1"}
    assert envelope["correlation_id"] == "corr-e" and envelope["offset"] is not None
    assert events("publish", "violation.detected", "--correlation-id", "corr-e").exit_code == 0
    assert events("publish", "alert.failed", "-d", '{"n": 2}').exit_code == 0

    tailed = events("tail", "--correlation-id", "corr-e", "--no-follow", "-o", "json")
    assert tailed.exit_code == 0, tailed.output
    rows = [json.loads(line) for line in tailed.stdout.splitlines()]
    assert [r["event_type"] for r in rows] == ["alert.sent", "violation.detected"]
    assert rows[0]["event_id"] == envelope["event_id"] and rows[0]["malformed"] is False

    by_type = events("tail", "--type", "alert.*", "--no-follow", "-o", "json")
    assert sorted(json.loads(line)["event_type"] for line in by_type.stdout.splitlines()) == [
        "alert.failed", "alert.sent",
    ]  # fmt: skip
    last = events("tail", "--from", "-1", "--type", "alert.sent", "--no-follow")
    (line,) = last.stdout.splitlines()
    assert "alert.sent" in line and "corr-e" in line and '{"alert_id":"a-1"}' in line
    docs = list(yaml.safe_load_all(events("tail", "--no-follow", "-o", "yaml").stdout))
    assert len(docs) == 3
    assert events("tail", "--from", "end", "--no-follow").stdout == ""
    recent = events("tail", "--from", "-10m", "--no-follow", "-o", "json").stdout
    assert len(recent.splitlines()) == 3


async def test_garbage_on_a_topic_is_a_marked_row(events, kafka_bootstrap, topic_prefix):
    import asyncio

    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(
            f"{topic_prefix}.alert.sent", b"\xff not json", headers=[("event_type", b"alert.sent")]
        )
    finally:
        await producer.stop()
    result = await asyncio.to_thread(events, "tail", "--no-follow")
    assert result.exit_code == 0, result.output
    (line,) = result.stdout.splitlines()
    assert line.startswith(f"‼ malformed record at {topic_prefix}.alert.sent/")
    as_json = json.loads(
        (await asyncio.to_thread(events, "tail", "--no-follow", "-o", "json")).stdout
    )
    assert as_json["malformed"] is True and as_json["event_type"] == "<raw>"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("publish", "Bad Type"), "error: invalid event type 'Bad Type'"),
        (("publish", "alert.sent", "-d", "{"), "error: invalid JSON in -d at line 1 column 2"),
        (("publish", "alert.sent", "-d", "[]"), "error: -d must be a JSON object, not an array"),
        (("tail", "--from", "yesterday"), "error: invalid --from 'yesterday'"),
        (("tail", "--type", "NOT A TYPE"), "error: invalid event type 'NOT A TYPE'"),
    ],
)
def test_bad_input_exits_2(events, args, message):
    result = events(*args)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(message)
    assert len(result.stderr.splitlines()) == 1


def test_no_broker_configured_is_bad_usage(meshctl):
    result = meshctl("events", "tail", "--no-follow")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: no Kafka broker is configured")


@pytest.mark.parametrize("command", [("tail", "--no-follow"), ("publish", "alert.sent")])
def test_unreachable_broker_exits_3(meshctl, command):
    result = meshctl("--kafka", f"127.0.0.1:{closed_port()}", "events", *command)
    assert result.exit_code == 3, result.output
    assert result.stderr.startswith("error: Kafka broker at 127.0.0.1:")
    assert "Traceback" not in result.output


def test_parse_start():
    now = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    assert parse_start("beginning", now) == "beginning"
    assert parse_start(" end", now) == "end"
    assert parse_start("-25", now) == -25
    assert parse_start("-10m", now) == now - timedelta(minutes=10)
    assert parse_start("-1.5h", now) == now - timedelta(minutes=90)
    assert parse_start("2024-05-01T10:00:00Z", now) == datetime(2024, 5, 1, 10, tzinfo=UTC)
    assert parse_start("2024-05-01T10:00:00", now) == datetime(2024, 5, 1, 10, tzinfo=UTC)
    for bad in ("-0", "10", "-5x", ""):
        with pytest.raises(InvalidRequestError, match="invalid --from"):
            parse_start(bad, now)


def test_event_line():
    event = Event(
        "e1", "alert.sent", "svc", datetime(2024, 5, 1, 12, 0, 1, 250000, tzinfo=UTC), "c-1", "t",
        {"b": 1, "a": "x"}, topic="its.alert.sent", partition=0, offset=7,
    )  # fmt: skip
    assert event_line(event) == (
        '2024-05-01T12:00:01.250Z  alert.sent             svc          c-1  {"a":"x","b":1}'
    )
