"""meshctl top headless against the real registry, real services and a real mesh client."""

from __future__ import annotations

from typing import Any

from textual.widgets import DataTable, Static

from meshctl.core.balancer import LoadBalancingStrategy
from meshctl.registry import ServiceRegistry
from meshctl.registry.control import send_command
from meshctl.testing import Platform, closed_port
from meshctl.tui.app import MeshTopApp
from meshctl.tui.data import MeshReader
from meshctl.tui.screens import ConfirmScreen
from tests.support.top import until


def rows(app: MeshTopApp, table: str) -> list[str]:
    widget = app.query_one(table, DataTable)
    return [str(widget.get_row_at(i)[0]) for i in range(widget.row_count)]


def top_app(platform: Platform) -> MeshTopApp:
    redis, prefix = platform.registry.redis, platform.registry.prefix

    async def command(action: str, service: str, instance: str | None) -> list[dict[str, Any]]:
        return await send_command(redis, prefix, action, service=service, instance_id=instance)

    return MeshTopApp(MeshReader(platform.registry).fetch, command=command, interval=0)


async def test_registered_services_and_call_edges_show(platform: Platform, mesh):
    await platform.start("analytics")
    await platform.start("alert")
    await mesh.call_service("analytics", "GetTrafficMetrics", {})
    await mesh.control.publish()
    app = top_app(platform)
    async with app.run_test(size=(150, 40)) as pilot:
        await until(pilot, lambda: "analytics" in rows(app, "#service-table"))
        names = rows(app, "#service-table")
        assert names.index("analytics") < names.index("alert")
        assert sum(1 for n in names if n.startswith("  └")) == 2
        topology = str(app.query_one("#topology", Static).render())
        assert "client test-client → analytics" in topology
        await pilot.press("slash", *"alert", "enter")
        assert rows(app, "#service-table")[0] == "alert" and "analytics" not in rows(
            app, "#service-table"
        )
        await pilot.press("escape")
        assert "analytics" in rows(app, "#service-table")


async def test_a_tripped_breaker_shows_open_and_reset_closes_it(platform: Platform, mesh):
    live = await platform.start("analytics")
    dead_ep = await platform.ghost("analytics")  # its record stays, as a crashed process leaves it
    await mesh.watcher.refresh("analytics")
    for _ in range(10):  # round robin tries the dead one again: it is not shunned by health
        await mesh.call(
            "analytics", "GetTrafficMetrics", {}, strategy=LoadBalancingStrategy.ROUND_ROBIN
        )
    await mesh.control.publish()
    app = top_app(platform)
    target = f"analytics/{dead_ep.instance_id}"
    async with app.run_test(size=(150, 40)) as pilot:
        await pilot.press("2")
        await until(pilot, lambda: target in rows_of_targets(app))
        table = app.query_one("#breaker-table", DataTable)
        index = rows_of_targets(app).index(target)
        assert str(table.get_row_at(index)[4]) == "open"
        table.move_cursor(row=index)
        await pilot.press("r")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await until(pilot, lambda: state_of(app, target) == "closed")
    breaker = mesh.breakers.peek_endpoint(dead_ep)
    assert breaker is not None and breaker.state.value == "closed"
    assert live != dead_ep.port


def rows_of_targets(app: MeshTopApp) -> list[str]:
    table = app.query_one("#breaker-table", DataTable)
    return [str(table.get_row_at(i)[1]) for i in range(table.row_count)]


def state_of(app: MeshTopApp, target: str) -> str | None:
    table = app.query_one("#breaker-table", DataTable)
    for i in range(table.row_count):
        if str(table.get_row_at(i)[1]) == target:
            return str(table.get_row_at(i)[4])
    return None


async def test_unreachable_redis_shows_the_banner():
    reader = MeshReader(ServiceRegistry(f"redis://127.0.0.1:{closed_port()}/0", "nowhere"))
    app = MeshTopApp(reader.fetch, interval=0)
    async with app.run_test() as pilot:
        banner = app.query_one("#banner", Static)
        await until(pilot, lambda: banner.display and "Redis unreachable" in str(banner.render()))
        assert "nothing fetched yet" in str(banner.render())
    await reader.aclose()
