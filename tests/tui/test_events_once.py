"""The events pane on the real broker, and ``meshctl top --once`` from the command line."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from textual.widgets import DataTable, Static
from typer.testing import CliRunner

from meshctl.cli.app import app as cli
from meshctl.core.context import CorrelationContext
from meshctl.events import KafkaEventBus
from meshctl.registry import ServiceRegistry
from meshctl.testing import Platform
from meshctl.tui.app import MeshTopApp
from meshctl.tui.data import MeshReader
from meshctl.tui.screens import CorrelationScreen
from tests.support.top import until


def invoke(args: list[str]) -> Any:
    return CliRunner().invoke(cli, args)


@pytest.mark.kafka
async def test_events_pane_filters_and_shows_a_request_path(
    kafka_bootstrap: str, topic_prefix: str, redis_client: Any, key_prefix: str
):
    bus = KafkaEventBus(kafka_bootstrap, topic_prefix=topic_prefix, client_id=topic_prefix)
    ctx = CorrelationContext.new()
    async with bus:
        for kind in ("frame.processed", "violation.detected", "alert.sent"):
            await bus.publish(kind, {"camera_id": "cam001"}, ctx)
        await bus.publish("frame.processed", {"camera_id": "cam002"}, CorrelationContext.new())
        reader = MeshReader(ServiceRegistry(redis_client, key_prefix))
        app = MeshTopApp(reader.fetch, events=bus, interval=0)
        async with app.run_test(size=(150, 40)) as pilot:
            await pilot.press("3")
            table = app.query_one("#event-table", DataTable)
            await until(pilot, lambda: table.row_count == 4, attempts=300)
            await pilot.press("slash", *ctx.correlation_id[:12], "enter")
            assert table.row_count == 3
            table.move_cursor(row=0)
            await pilot.press("enter")
            screen = app.screen
            assert isinstance(screen, CorrelationScreen)
            path = screen.query_one("#path", DataTable)
            await until(
                pilot,
                lambda: "3 events" in str(screen.query_one("#path-status", Static).render()),
                attempts=300,  # the path is read back from the broker: slow on a busy machine
            )
            kinds = [str(path.get_row_at(i)[1]) for i in range(path.row_count)]
            assert kinds == ["frame.processed", "violation.detected", "alert.sent"]


async def test_no_broker_says_so(redis_client: Any, key_prefix: str):
    app = MeshTopApp(MeshReader(ServiceRegistry(redis_client, key_prefix)).fetch, interval=0)
    async with app.run_test() as pilot:
        await pilot.pause()
        assert "No event broker" in str(app.query_one("#events-status", Static).render())
        assert "meshctl up" in str(app.query_one("#banner", Static).render())


async def test_once_prints_the_snapshot_as_json(platform: Platform, mesh, redis_url: str):
    await platform.start("analytics")
    await mesh.call_service("analytics", "GetTrafficMetrics", {})
    await mesh.control.publish()
    args = ["--redis-url", redis_url, "--prefix", platform.registry.prefix, "top", "--once"]
    # the command runs its own event loop: invoke it from a thread
    result = await asyncio.to_thread(invoke, [*args, "--interval", "0.05", "-o", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    analytics = next(s for s in data["services"] if s["service"] == "analytics")
    assert analytics["total"] == 1 and analytics["requests"] >= 1
    assert {"caller": "test-client", "callee": "analytics"}.items() <= data["edges"][0].items()
    assert set(data["edges"][0]) == {"caller", "callee", "rps", "success_rate", "p99_ms"}
    table = await asyncio.to_thread(invoke, [*args, "--interval", "0.05"])
    assert table.exit_code == 0 and "analytics" in table.output


async def test_once_shows_what_a_service_served_to_a_one_shot_caller(
    platform: Platform, redis_url: str
):
    await platform.start("analytics")
    args = ["--redis-url", redis_url, "--prefix", platform.registry.prefix]
    called = await asyncio.to_thread(invoke, [*args, "call", "analytics", "GetTrafficMetrics"])
    assert called.exit_code == 0, called.output
    async with asyncio.timeout(10):  # the instance publishes what it served once a second
        while True:
            once = [*args, "top", "--once", "--interval", "0.05", "-o", "json"]
            result = await asyncio.to_thread(invoke, once)
            assert result.exit_code == 0, result.output
            [analytics] = json.loads(result.output)["services"]
            if analytics["served"]["requests"]:
                break
            await asyncio.sleep(0.2)
    assert analytics["requests"] == 0  # no long-lived client called it
    assert analytics["served"]["methods"]["GetTrafficMetrics"]["requests"] == 1


def test_once_rejects_a_bad_interval_and_an_unreachable_registry():
    result = CliRunner().invoke(cli, ["top", "--once", "--interval", "0"])
    assert result.exit_code == 2 and "invalid --interval" in result.output
    result = CliRunner().invoke(cli, ["--redis-url", "redis://127.0.0.1:1/0", "top", "--once"])
    assert result.exit_code == 3 and "Cannot reach the registry" in result.output
