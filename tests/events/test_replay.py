"""Spools against the real broker: one per process, locked, replayed once, drained by command."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from pathlib import Path

import pytest
from aiokafka.errors import KafkaConnectionError
from typer.testing import CliRunner

from meshctl.cli.app import app
from meshctl.config import MeshSettings
from meshctl.core.context import CorrelationContext
from meshctl.embedded import EmbeddedBroker
from meshctl.events import open_bus
from meshctl.events.client import TopicManager
from meshctl.events.envelope import build_event, encode_headers, encode_value
from meshctl.events.kafka import KafkaEventBus
from meshctl.events.replay import Replayer
from meshctl.events.spool import Spool, SpooledRecord
from meshctl.events.spooldir import SpoolLock, spool_dirs
from meshctl.testing import closed_port

pytestmark = pytest.mark.kafka


def spooled(topic_prefix: str, cid: str, n: int) -> SpooledRecord:
    """An event as the bus would have spooled it."""
    event = build_event("alert.sent", {"n": n}, CorrelationContext.new(cid), "test")
    topic = f"{topic_prefix}.alert.sent"
    return SpooledRecord(topic, cid.encode(), encode_value(event), encode_headers(event))


async def tailed(bootstrap: str, topic_prefix: str, cid: str) -> list[int]:
    bus = KafkaEventBus(bootstrap, topic_prefix=topic_prefix, spool_root="/nonexistent")
    return [e.data["n"] async for e in bus.tail(cid, follow=False)]


async def test_each_bus_spools_privately_and_removes_its_spool_when_drained(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    # Three buses of one client id, as every process with the default client id was.
    buses = [
        KafkaEventBus(kafka_bootstrap, topic_prefix=topic_prefix, spool_root=tmp_path)
        for _ in range(3)
    ]
    for bus in buses:
        await bus.start()
    directories = {bus.spool.directory for bus in buses}
    assert len(directories) == 3 and set(spool_dirs(tmp_path)) == directories
    assert all(d.name.startswith("meshctl-") for d in directories)
    for bus in buses:
        await bus.publish("alert.sent", {"n": 1}, CorrelationContext.new("p"))
        await bus.stop()
    assert spool_dirs(tmp_path) == []


async def test_a_durable_spool_in_use_sends_the_second_bus_to_a_private_one(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    durable = tmp_path / "durable"
    options = {"topic_prefix": topic_prefix, "spool_dir": durable, "spool_root": tmp_path}
    async with KafkaEventBus(kafka_bootstrap, **options) as first:  # type: ignore[arg-type]
        with caplog.at_level(logging.WARNING):
            async with KafkaEventBus(kafka_bootstrap, **options) as second:  # type: ignore[arg-type]
                assert first.spool.directory == durable
                assert second.spool.directory.parent == tmp_path != durable
        assert "in use by another process (pid " in caplog.text
        assert "spooling to a private spool instead" in caplog.text
    assert durable.is_dir()  # a durable spool stays, drained or not


@pytest.mark.parametrize("on_broker_before_the_crash", [0, 2, 4])
async def test_a_replay_cut_short_after_sending_never_sends_a_record_twice(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path, on_broker_before_the_crash: int
) -> None:
    cid = f"crash-{on_broker_before_the_crash}"
    directory = tmp_path / "spool"
    lock = SpoolLock(directory)
    Spool(directory, 1 << 20).append([spooled(topic_prefix, cid, n) for n in range(10)])
    topics = TopicManager(kafka_bootstrap, client_id=topic_prefix)
    async with KafkaEventBus(
        kafka_bootstrap, topic_prefix=topic_prefix, spool_root=tmp_path
    ) as bus:

        async def send_then_die(records: list[SpooledRecord]) -> list[object]:
            await bus._send(records[:on_broker_before_the_crash])  # noqa: SLF001
            raise KafkaConnectionError("the process died before the acks were recorded")

        cut = Replayer(Spool(directory, 1 << 20, batch_records=4), topics, send_then_die)
        with pytest.raises(KafkaConnectionError):
            await cut.drain()
        await cut.close()
        lock.release()  # the process is gone; the next one takes the spool
        lock = SpoolLock(directory)
        reopened = Spool(directory, 1 << 20, batch_records=4)
        assert reopened.size == sum(p.stat().st_size for p in directory.glob("segment-*"))
        replay = Replayer(reopened, topics, bus._send)  # noqa: SLF001
        assert await replay.drain() == 10 - on_broker_before_the_crash
        await replay.close()
        assert not reopened and reopened.size == 0
    lock.release()
    assert await tailed(kafka_bootstrap, topic_prefix, cid) == list(range(10))


async def test_a_short_lived_process_publishes_directly_beside_spools_left_by_others(
    own_broker: EmbeddedBroker, topic_prefix: str, tmp_path: Path
) -> None:
    own_broker.stop()
    left = KafkaEventBus(
        own_broker.bootstrap, topic_prefix=topic_prefix, spool_root=tmp_path, publish_timeout=1
    )
    async with left:
        await left.publish("alert.sent", {"n": 0}, CorrelationContext.new("left"))
    [orphan] = spool_dirs(tmp_path)  # the broker was away: its events wait on disk
    own_broker.start()
    async with KafkaEventBus(
        own_broker.bootstrap, topic_prefix=topic_prefix, spool_root=tmp_path
    ) as bus:
        assert not bus.spooling
        event = await bus.publish("alert.sent", {"n": 1}, CorrelationContext.new("later"))
        assert event.offset is not None  # with the broker, not spooled behind the orphan
    assert orphan.is_dir()


def drain_command(bootstrap: str, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["--kafka", bootstrap, "events", "drain", *args])
    return result.exit_code, result.stdout, result.stderr


async def test_events_drain_adopts_orphans_and_leaves_busy_spools_alone(
    own_broker: EmbeddedBroker, topic_prefix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv("MESH_TOPIC_PREFIX", topic_prefix)
    root = tmp_path / "meshctl" / "spool"
    own_broker.stop()
    for cid in ("one", "two"):
        async with KafkaEventBus(
            own_broker.bootstrap, topic_prefix=topic_prefix, publish_timeout=1
        ) as bus:
            for n in range(3):
                await bus.publish("alert.sent", {"n": n}, CorrelationContext.new(cid))
    busy = SpoolLock(root / "busy")
    Spool(busy.directory, 1 << 20).append([spooled(topic_prefix, "busy", 0)])

    code, _, err = await asyncio.to_thread(drain_command, own_broker.bootstrap)
    assert code == 3
    assert err.startswith(f"error: Kafka broker at {own_broker.bootstrap} is unreachable")
    assert len(err.splitlines()) == 2 and err.splitlines()[1].startswith("hint: ")  # no more
    own_broker.start()
    code, out, err = await asyncio.to_thread(drain_command, own_broker.bootstrap, "-o", "json")
    assert code == 0, err
    assert sorted((r["status"], r["sent"]) for r in json.loads(out)) == [
        ("busy", 0), ("drained", 3), ("drained", 3),
    ]  # fmt: skip
    assert spool_dirs(root) == [root / "busy"]
    for cid in ("one", "two"):
        assert await tailed(own_broker.bootstrap, topic_prefix, cid) == [0, 1, 2]
    code, out, _ = await asyncio.to_thread(drain_command, own_broker.bootstrap, "-o", "json")
    assert (code, json.loads(out)) == (
        0,
        [{"spool": str(root / "busy"), "status": "busy", "sent": 0}],
    )
    busy.release()


def test_events_drain_rejects_a_spool_that_is_not_a_directory(tmp_path: Path) -> None:
    code, _, err = drain_command(f"127.0.0.1:{closed_port()}", "--spool", str(tmp_path / "none"))
    assert code == 2 and err.startswith("error: invalid --spool ") and "Traceback" not in err


async def test_mesh_spool_dir_names_the_durable_spool_of_open_bus(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MESH_SPOOL_DIR", str(tmp_path / "named"))
    bus = open_bus(MeshSettings(kafka_bootstrap=f"127.0.0.1:{closed_port()}"))
    assert isinstance(bus, KafkaEventBus)
    async with bus:
        assert bus.spool.directory == tmp_path / "named"
        await bus.publish("alert.sent", {"n": 0})
    assert spool_dirs(tmp_path) == [tmp_path / "named"]  # kept, with its event, for the next run
    assert Spool(tmp_path / "named", 1 << 20).pending_bytes > 0


PUBLISH_200 = """
import asyncio, sys
from meshctl.core.context import CorrelationContext
from meshctl.events.kafka import KafkaEventBus

async def main(bootstrap: str, prefix: str, root: str, tag: str) -> None:
    bus = KafkaEventBus(bootstrap, topic_prefix=prefix, spool_root=root, publish_timeout=0.5)
    async with bus:
        for n in range(200):
            await bus.publish("alert.sent", {"n": n, "by": tag}, CorrelationContext.new("shared"))

asyncio.run(main(*sys.argv[1:]))
"""


async def test_three_processes_of_one_client_id_deliver_600_events_once_each(
    own_broker: EmbeddedBroker, topic_prefix: str, tmp_path: Path
) -> None:
    own_broker.stop()
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            PUBLISH_200,
            own_broker.bootstrap,
            topic_prefix,
            str(tmp_path),
            tag,
        )  # fmt: skip
        for tag in ("a", "b", "c")
    ]
    assert [await p.wait() for p in processes] == [0, 0, 0]
    assert len(spool_dirs(tmp_path)) == 3  # one each, left for the drain
    own_broker.start()
    args = [own_broker.bootstrap, *(a for d in spool_dirs(tmp_path) for a in ("--spool", str(d)))]
    code, out, err = await asyncio.to_thread(drain_command, *args, "-o", "json")
    assert code == 0, err
    assert [r["sent"] for r in json.loads(out)] == [200, 200, 200]
    bus = KafkaEventBus(own_broker.bootstrap, topic_prefix=topic_prefix, spool_root=tmp_path)
    events = [(e.data["by"], e.data["n"]) async for e in bus.tail("shared", follow=False)]
    assert sorted(events) == sorted((tag, n) for tag in "abc" for n in range(200))
    assert spool_dirs(tmp_path) == []
