"""SVG snapshots pin the layout of meshctl top on deterministic synthetic data (no Redis)."""

from __future__ import annotations

import pytest

from meshctl.errors import RegistryUnavailableError
from meshctl.tui.app import MeshTopApp
from meshctl.tui.model import MeshState
from tests.support.top import T0, ScriptedFetch, state

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
