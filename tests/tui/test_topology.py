"""The topology tab driven by keys: cursor over nodes and edges, Enter drills in, Esc backs out;
and against a real registry and a real mesh client."""

from __future__ import annotations

from typing import Any

from textual.widgets import DataTable, Static

from meshctl.testing import Platform
from meshctl.tui.app import MeshTopApp
from meshctl.tui.data import MeshReader
from meshctl.tui.screens import ConfirmScreen
from meshctl.tui.topology import DrillScreen, TopologyPane
from tests.support.top import T0, ScriptedFetch, state, until


def shown(app: MeshTopApp, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())


def breaker_targets(app: MeshTopApp) -> list[str]:
    table = app.screen.query_one("#drill-breakers", DataTable)
    return [str(table.get_row_at(i)[1]) for i in range(table.row_count)]


async def test_keys_move_over_nodes_and_edges_and_enter_drills_in():
    app = MeshTopApp(ScriptedFetch(state(1), state(2)), interval=0, clock=lambda: T0)
    async with app.run_test(size=(200, 50)) as pilot:
        await pilot.pause()
        await pilot.press("ctrl+r", "4")
        await pilot.pause()
        pane = app.query_one(TopologyPane)
        assert app.tab == "topology-view" and app.focused is pane
        assert pane.selected == "gateway" and "a mesh client" in shown(app, "#graph-details")
        await pilot.press("j", "down", "j", "j")
        assert pane.selected == "streaming→analytics"
        assert "breakers streaming holds on analytics: analytics closed, " in shown(
            app, "#graph-details"
        )
        await pilot.press("enter")
        assert isinstance(app.screen, DrillScreen)
        assert breaker_targets(app) == ["analytics", "analytics/analytics-b"]
        await pilot.press("escape")
        assert not isinstance(app.screen, DrillScreen) and app.tab == "topology-view"
        await pilot.press("j")
        assert pane.selected == "analytics"
        details = shown(app, "#graph-details")
        assert "served: rps ▁█ 105.0/s" in details and "errors" in details and "p99" in details
        await pilot.press("enter")
        drill = shown(app, "#drill")
        assert "analytics/analytics-a" in drill and "analytics/analytics-b" in drill
        await pilot.press("escape", "k", "k", "k", "k", "k", "k", "k")
        assert pane.selected == "gateway"  # the cursor stops at the first item


async def test_the_topology_filter_keeps_a_service_and_its_neighbours():
    app = MeshTopApp(ScriptedFetch(state(1), state(2)), interval=0, clock=lambda: T0)
    async with app.run_test(size=(200, 50)) as pilot:
        await pilot.pause()
        await pilot.press("ctrl+r", "4", "slash", *"alert", "enter")
        graph = shown(app, "#graph")
        assert "alert" in graph and "analytics" in graph and "gateway" not in graph
        await pilot.press("escape")
        assert "gateway" in shown(app, "#graph")


async def test_a_real_clients_calls_show_as_an_edge(platform: Platform, mesh):
    await platform.start("analytics")
    for _ in range(3):
        await mesh.call_service("analytics", "GetTrafficMetrics", {})
    await mesh.control.publish()
    app = MeshTopApp(MeshReader(platform.registry).fetch, interval=0)
    async with app.run_test(size=(200, 40)) as pilot:
        await pilot.press("4")
        await until(pilot, lambda: "test-client" in shown(app, "#graph"))
        await mesh.call_service("analytics", "GetTrafficMetrics", {})
        await mesh.control.publish()
        await until(pilot, lambda: app.view is not None and app.view.edges[0].rps > 0)
        graph = shown(app, "#graph")
        assert "● test-client" in graph and "client" in graph
        assert "/s 100.0% " in graph  # the edge's rate, success and p99
        assert "▲ analytics" in graph and "0/1 up" in graph  # not health-checked yet: unknown


async def test_breaker_keys_act_on_the_selected_service_or_an_edges_callee():
    sent: list[tuple[str, str, str | None]] = []

    async def command(action: str, service: str, instance: str | None) -> list[dict[str, Any]]:
        sent.append((action, service, instance))
        return [{"changes": [service]}]

    app = MeshTopApp(
        ScriptedFetch(state(1), state(2)), command=command, interval=0, clock=lambda: T0
    )
    async with app.run_test(size=(200, 50)) as pilot:
        await pilot.pause()
        await pilot.press("ctrl+r", "4", "r")  # gateway: a client, no breaker of its own
        assert not isinstance(app.screen, ConfirmScreen)
        await pilot.press("j", "o")  # gateway → streaming
        assert isinstance(app.screen, ConfirmScreen)
        assert app.screen.question == "Force open the breaker of streaming?"
        await pilot.press("y")
        await pilot.pause()
        assert sent == [("force_open", "streaming", None)]
