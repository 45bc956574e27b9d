"""A broker outage logs a start, summaries and a recovery, not a line per attempt."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from meshctl.core.context import CorrelationContext
from meshctl.embedded import EmbeddedBroker
from meshctl.events.kafka import KafkaEventBus
from meshctl.events.outage import ConnectionNoise, OutageLog
from meshctl.testing import FakeClock, closed_port

START = "unreachable, spooling events until it is back"
SUMMARY = "still unreachable after"
RECOVERY = "reachable again after"


def lines(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if text in r.getMessage()]


def aiokafka_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name.startswith("aiokafka")]


def test_an_outage_logs_its_start_a_summary_per_interval_and_its_end(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock()
    outage = OutageLog("b:9092", summary_interval=10, clock=clock)
    with caplog.at_level(logging.INFO):
        outage.recovered()  # no outage on: nothing to say
        for _ in range(200):  # an attempt every 0.125 s for 25 s
            outage.failed(ConnectionRefusedError("refused"), spooled=123)
            clock.advance(0.125)
        assert outage.down
        outage.recovered()
    assert lines(caplog, START) == [
        "Kafka broker at b:9092 unreachable, spooling events until it is back: refused"
    ]
    summaries = lines(caplog, SUMMARY)
    assert len(summaries) == 2 and "after 10 s: 81 attempts, 123 bytes spooled" in summaries[0]
    assert lines(caplog, RECOVERY) == [
        "Kafka broker at b:9092 reachable again after 25.0 s (200 failed attempts)"
    ]
    assert len(caplog.records) == 4 and not outage.down


def test_connection_noise_passes_one_line_per_kind_and_interval(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock()
    noise = ConnectionNoise(interval=30, clock=clock)
    logger = logging.getLogger("tests.events.noise")
    logger.addFilter(noise)
    try:
        with caplog.at_level(logging.WARNING):
            for _ in range(100):  # one a second, as aiokafka retries
                logger.error('Unable connect to "%s:%s": %s', "h", 1, "refused")
                logger.warning("something else entirely")
                clock.advance(1)
            noise.quiet += 1  # an outage is on: the bus reports it
            logger.error('Unable connect to "%s:%s": %s', "h", 1, "refused")
            noise.quiet -= 1
    finally:
        logger.removeFilter(noise)
    unable = [m for m in caplog.messages if m.startswith("Unable")]
    assert unable == [
        'Unable connect to "h:1": refused',
        'Unable connect to "h:1": refused (29 more like it held back)',
        'Unable connect to "h:1": refused (29 more like it held back)',
        'Unable connect to "h:1": refused (29 more like it held back)',
    ]
    assert caplog.messages.count("something else entirely") == 100
    assert noise.suppressed == 97


@pytest.mark.kafka
async def test_a_closed_port_logs_one_start_line_then_summaries(
    topic_prefix: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bus = KafkaEventBus(
        f"127.0.0.1:{closed_port()}", topic_prefix=topic_prefix, spool_root=tmp_path,
        probe_interval=0.02, summary_interval=0.3,
    )  # fmt: skip
    with caplog.at_level(logging.WARNING):
        async with bus:
            for n in range(3):
                await bus.publish("alert.sent", {"n": n}, CorrelationContext.new("c"))
            for _ in range(500):
                if len(lines(caplog, SUMMARY)) >= 2:
                    break
                await asyncio.sleep(0.01)
    assert len(lines(caplog, START)) == 1
    assert len(lines(caplog, SUMMARY)) >= 2  # every 0.3 s, while dozens of attempts failed
    assert aiokafka_lines(caplog) == []
    assert "bytes of events are left in spool" in caplog.text


@pytest.mark.kafka
async def test_a_broker_stopped_and_started_logs_the_outage_and_the_recovery_once(
    own_broker: EmbeddedBroker, topic_prefix: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bus = KafkaEventBus(
        own_broker.bootstrap, topic_prefix=topic_prefix, spool_root=tmp_path,
        publish_timeout=1.0, probe_interval=0.05,
    )  # fmt: skip
    with caplog.at_level(logging.WARNING):
        async with bus:
            await bus.publish("alert.sent", {"n": 0}, CorrelationContext.new("o"))
            await asyncio.to_thread(own_broker.stop)
            await bus.publish("alert.sent", {"n": 1}, CorrelationContext.new("o"))
            assert bus.spooling
            await asyncio.sleep(1.0)  # about 20 probes fail while the broker is away
            await asyncio.to_thread(own_broker.start)
            for _ in range(400):
                if not bus.spooling:
                    break
                await asyncio.sleep(0.05)
            assert not bus.spooling
    assert len(lines(caplog, START)) == 1
    assert len(lines(caplog, RECOVERY)) == 1
    # Before the bus noticed (the first send's 1 s timeout) aiokafka may say so, once a kind.
    assert len(aiokafka_lines(caplog)) <= 4, aiokafka_lines(caplog)
