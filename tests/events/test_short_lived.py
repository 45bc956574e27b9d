"""Short-lived commands and the spools they leave: ``workflow run`` across a broker outage."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from meshctl.cli.app import app
from meshctl.embedded import EmbeddedBroker
from meshctl.events.kafka import KafkaEventBus
from meshctl.testing import Platform

pytestmark = [pytest.mark.redis, pytest.mark.kafka]


async def test_workflow_run_succeeds_once_the_broker_is_back_and_drain_sends_what_was_left(
    platform: Platform,
    own_broker: EmbeddedBroker,
    topic_prefix: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MESH_TOPIC_PREFIX", topic_prefix)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    for name in ("analytics", "streaming", "alert"):
        await platform.start(name)
    base = ["--redis-url", platform.settings.redis_url, "--prefix", platform.settings.prefix]
    base += ["--kafka", own_broker.bootstrap]

    def meshctl(*args: str) -> tuple[int, str, str]:
        result = CliRunner().invoke(app, [*base, *args])
        return result.exit_code, result.stdout, result.stderr

    async def run_camera_frame(camera: str) -> tuple[int, dict[str, Any], str]:
        # In a thread: the services answer on this test's event loop.
        code, out, err = await asyncio.to_thread(
            meshctl, "workflow", "run", "camera-frame", f"--camera={camera}", "-o", "json"
        )
        return code, json.loads(out), err

    await asyncio.to_thread(own_broker.stop)
    code, away, err = await run_camera_frame("cam-away")
    assert code == 3 and "3 events spooled" in err
    await asyncio.to_thread(own_broker.start)
    for camera in ("cam-back-1", "cam-back-2"):  # the spool left behind does not hold them up
        code, back, err = await run_camera_frame(camera)
        assert code == 0, err
        assert [e["spooled"] for e in back["events"]] == [False, False, False]

    code, out, err = await asyncio.to_thread(meshctl, "events", "drain", "-o", "json")
    assert code == 0, err
    assert [(r["status"], r["sent"]) for r in json.loads(out)] == [("drained", 3)]
    bus = KafkaEventBus(own_broker.bootstrap, topic_prefix=topic_prefix, spool_root=tmp_path)
    correlation_id = str(away["correlation_id"])
    events = [e.event_type async for e in bus.tail(correlation_id, follow=False)]
    assert events == ["frame.processed", "violation.detected", "alert.sent"]
