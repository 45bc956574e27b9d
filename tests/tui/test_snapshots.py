"""SVG snapshots pin the layout of meshctl top on deterministic synthetic data (no Redis)."""

from __future__ import annotations

import dataclasses

import pytest

from meshctl.core.endpoint import HealthStatus
from meshctl.core.routing import parse_table
from meshctl.core.slo import LOOKBACKS, SliCounts, Slo, evaluate
from meshctl.errors import RegistryUnavailableError
from meshctl.tui.app import MeshTopApp
from meshctl.tui.model import MeshState
from meshctl.tui.routing import Routing
from tests.support.top import T0, ScriptedFetch, endpoint, state

SIZE = (150, 42)


def make_app(*states: MeshState) -> MeshTopApp:
    return MeshTopApp(ScriptedFetch(*states), interval=0, clock=lambda: T0)


async def refreshed(pilot) -> None:
    """Let the first fetch land, then take a second so rates are known."""
    await pilot.pause()
    await pilot.press("ctrl+r")
    await pilot.pause()
    pilot.app.query_one("#service-table").cursor_blink = False


def test_services_view(snap_compare):
    assert snap_compare(make_app(state(1), state(2)), terminal_size=SIZE, run_before=refreshed)


@pytest.mark.parametrize("size", [(80, 24), (120, 40), (160, 50)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_services_view_fits_the_terminal(snap_compare, size):
    assert snap_compare(make_app(state(1), state(2)), terminal_size=size, run_before=refreshed)


def test_services_view_as_callers_see_it(snap_compare):
    app = make_app(state(1), state(2))
    assert snap_compare(app, press=["v"], terminal_size=SIZE, run_before=refreshed)


def test_instance_details(snap_compare):
    async def select_instance(pilot) -> None:
        await refreshed(pilot)
        await pilot.press("j", "j", "j", "j")  # analytics-b

    assert snap_compare(
        make_app(state(1), state(2)), terminal_size=SIZE, run_before=select_instance
    )


def test_breakers_view(snap_compare):
    app = make_app(state(1), state(2))
    assert snap_compare(app, press=["2"], terminal_size=SIZE, run_before=refreshed)


def test_help_screen(snap_compare):
    app = make_app(state(1), state(2))
    assert snap_compare(app, press=["question_mark"], terminal_size=SIZE, run_before=refreshed)


def test_empty_mesh_hint(snap_compare):
    assert snap_compare(make_app(MeshState(T0, {}, [])), terminal_size=SIZE)


def test_unreachable_registry_banner_keeps_last_state(snap_compare):
    class Flaky(ScriptedFetch):
        async def __call__(self) -> MeshState:
            if self.calls >= 2:
                raise RegistryUnavailableError("Cannot reach the registry at redis://x:1/0")
            return await super().__call__()

    app = MeshTopApp(Flaky(state(1), state(2)), interval=0, clock=lambda: T0)

    async def fail_third(pilot) -> None:
        await refreshed(pilot)
        await pilot.press("ctrl+r")
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=fail_third)


async def on_topology(pilot) -> None:
    await refreshed(pilot)
    await pilot.press("4")
    await pilot.pause()


@pytest.mark.parametrize("size", [(80, 24), (120, 40), (200, 60)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_topology_view(snap_compare, size):
    """streaming → analytics → alert with the gateway client in front; analytics is red
    (an open endpoint breaker, an unhealthy instance); narrower terminals wrap into bands."""
    assert snap_compare(make_app(state(1), state(2)), terminal_size=size, run_before=on_topology)


def test_topology_drill_into_a_node(snap_compare):
    async def drill(pilot) -> None:
        await on_topology(pilot)
        await pilot.press("j", "j", "j", "j", "j", "enter")  # analytics
        await pilot.pause()

    assert snap_compare(make_app(state(1), state(2)), terminal_size=SIZE, run_before=drill)


def routed(scale: int) -> MeshState:
    """``state(scale)`` with analytics in two versions and zones, a canary route table,
    and SLOs: analytics' budget burning fast, alert's calm."""
    base = state(scale)
    canary = endpoint("analytics", 50072, "analytics-c", zone="eu-east")
    canary.version = "2.0.0"
    services = {**base.services, "analytics": [*base.services["analytics"], canary]}
    for ep in services["analytics"][:2]:
        ep.zone = "eu-west"
    services["analytics"][1].health_status = HealthStatus.UNHEALTHY
    table = parse_table(
        {
            "service": "analytics",
            "subsets": {"stable": {"version": "1.4.2"}, "canary": {"version": "2.0.0"}},
            "rules": [
                {"match": {"headers": {"x-canary": "1"}}, "route": "canary", "timeout": "2s"},
                {"route": [{"subset": "stable", "weight": 90}, {"subset": "canary", "weight": 10}]},
            ],
        },
        revision=4,
    )
    burning, calm = SliCounts(2000, 40), SliCounts(500, 0)
    slos = [
        evaluate(Slo("analytics", 99.9, 30 * 86400), burning, dict.fromkeys(LOOKBACKS, burning)),
        evaluate(Slo("alert", 99.0, 7 * 86400), calm, dict.fromkeys(LOOKBACKS, calm)),
    ]
    return dataclasses.replace(
        base, services=services, routing=Routing(T0, {"analytics": table}, slos)
    )


@pytest.mark.parametrize("size", [(80, 30), (150, 42)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_routing_view(snap_compare, size):
    """Tab 6: analytics' route table, subsets, versions and zones (eu-west half down, the
    canary's zone holding), a fast burn in red; alert's calm SLO; the others plain."""

    async def on_routing(pilot) -> None:
        await refreshed(pilot)
        await pilot.press("6")
        await pilot.pause()

    app = make_app(routed(1), routed(2))
    assert snap_compare(app, terminal_size=size, run_before=on_routing)


def test_services_view_marks_routes_and_burns(snap_compare):
    """``⇄`` after analytics (a route table) and ``!!`` (fast burn); ZONE per instance;
    analytics selected: its details end with its route table's and SLO's line."""

    async def select_analytics(pilot) -> None:
        await refreshed(pilot)
        await pilot.press("j", "j")

    app = make_app(routed(1), routed(2))
    assert snap_compare(app, terminal_size=(200, 42), run_before=select_analytics)
