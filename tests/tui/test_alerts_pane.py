"""top's alerts pane: snapshots and keys on a scripted client, then against the real service."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import DataTable, Static

from meshctl.cli.top import MeshAlerts
from meshctl.errors import NoEndpointsError
from meshctl.mesh import ServiceMeshClient
from meshctl.testing import Platform
from meshctl.tui.alerts_pane import AlertsPane
from meshctl.tui.app import MeshTopApp
from meshctl.tui.data import MeshReader
from meshctl.tui.screens import AlertScreen, ConfirmScreen
from tests.cli.conftest import Meshctl, invoke
from tests.support.alerts import FakeAlerts
from tests.support.top import T0, ScriptedFetch, state

CRITICAL = "9f3c2a1b7e6d4c5b8a9f0e1d2c3b4a59"  # the newest of the fake alerts: the first row


def make_app(client: FakeAlerts) -> MeshTopApp:
    return MeshTopApp(
        ScriptedFetch(state(1), state(2)), interval=0, clock=lambda: T0, alerts=client
    )


async def settled(pilot) -> None:
    """Let every worker (the mesh's and the alerts' fetches, commands) finish and redraw."""
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def on_alerts(pilot) -> None:
    await settled(pilot)
    await pilot.press("5")
    await settled(pilot)
    pilot.app.query_one("#alert-table", DataTable).cursor_blink = False


def rows(app: MeshTopApp) -> list[str]:
    table = app.query_one("#alert-table", DataTable)
    return [str(key.value) for key in table.rows]


def status(app: MeshTopApp) -> str:
    return str(app.query_one("#alerts-status", Static).render())


@pytest.mark.parametrize("size", [(80, 24), (120, 40), (200, 60)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_alerts_pane_fits_the_terminal(snap_compare, size):
    assert snap_compare(make_app(FakeAlerts()), terminal_size=size, run_before=on_alerts)


def test_alert_details(snap_compare):
    async def open_details(pilot) -> None:
        await on_alerts(pilot)
        await pilot.press("enter")

    assert snap_compare(make_app(FakeAlerts()), terminal_size=(120, 40), run_before=open_details)


def test_the_whole_question_shows_on_80_columns(snap_compare):
    async def ask_to_retry(pilot) -> None:
        await on_alerts(pilot)
        await pilot.press("t")

    assert snap_compare(make_app(FakeAlerts()), terminal_size=(80, 24), run_before=ask_to_retry)


def test_alert_service_gone_keeps_the_last_list(snap_compare):
    client = FakeAlerts()

    async def lose_the_service(pilot) -> None:
        await on_alerts(pilot)
        client.down = NoEndpointsError("alert")
        await pilot.press("ctrl+r")
        await settled(pilot)

    assert snap_compare(make_app(client), terminal_size=(120, 40), run_before=lose_the_service)


async def test_a_acknowledges_the_selected_alert_after_yes_only():
    client = FakeAlerts()
    app = make_app(client)
    async with app.run_test(size=(120, 40)) as pilot:
        await on_alerts(pilot)
        assert rows(app)[0] == CRITICAL
        await pilot.press("j")  # the second row
        second = rows(app)[1]
        await pilot.press("a")
        assert isinstance(app.screen, ConfirmScreen)
        assert app.screen.question == f"Acknowledge alert {second}?"
        await pilot.press("n")
        await settled(pilot)
        assert client.acked == []
        await pilot.press("a", "y")
        await settled(pilot)
        assert client.acked == [second]
        table = app.query_one("#alert-table", DataTable)
        assert str(table.get_row(second)[3]) == "acknowledged"  # refreshed after the command
        assert table.cursor_row == 1  # the selection stays on the same alert


async def test_t_retries_the_selected_alerts_deliveries_after_yes():
    client = FakeAlerts()
    app = make_app(client)
    notes: list[str] = []
    async with app.run_test(size=(120, 40)) as pilot:
        await on_alerts(pilot)
        app.notify = lambda message, **_: notes.append(message)  # type: ignore[method-assign]
        await pilot.press("t")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("escape")
        await settled(pilot)
        assert client.retried == []
        await pilot.press("t", "y")
        await settled(pilot)
        assert client.retried == [CRITICAL]
        assert notes == [f"Alert {CRITICAL}: retried 1 deliveries, 1 delivered, 0 still failing"]


async def test_enter_opens_the_details_and_the_filter_narrows_the_list():
    app = make_app(FakeAlerts())
    async with app.run_test(size=(120, 40)) as pilot:
        await on_alerts(pilot)
        await pilot.press("enter")
        assert isinstance(app.screen, AlertScreen) and app.screen.alert["alert_id"] == CRITICAL
        await pilot.press("escape")
        await pilot.press("slash", *"cam-west", "enter")
        assert [r[:4] for r in rows(app)] == ["7c6b"]
        assert status(app) == "1 of 4 recent alerts matching 'cam-west', newest first"
        await pilot.press("escape")
        assert len(rows(app)) == 4


async def test_without_a_client_or_a_selection_the_pane_says_so():
    app = MeshTopApp(ScriptedFetch(state(1)), interval=0, clock=lambda: T0)
    async with app.run_test(size=(120, 40)) as pilot:
        await on_alerts(pilot)
        assert status(app) == "No alert service client: alerts are not shown."
        await pilot.press("a")
        assert not isinstance(app.screen, ConfirmScreen)
    empty = make_app(FakeAlerts([]))
    async with empty.run_test(size=(120, 40)) as pilot:
        await on_alerts(pilot)
        await pilot.press("a")
        assert not isinstance(empty.screen, ConfirmScreen)
        assert status(empty) == "0 of 0 recent alerts, newest first"


async def test_a_periodic_refresh_waits_for_a_slow_service_instead_of_piling_up():
    class Slow(FakeAlerts):
        def __init__(self) -> None:
            super().__init__()
            self.release = asyncio.Event()
            self.calls = 0

        async def list(self) -> Mapping[str, Any]:
            self.calls += 1
            await self.release.wait()
            return await super().list()

    client = Slow()
    app = make_app(client)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("5")
        await pilot.pause()
        pane = app.query_one(AlertsPane)
        pane.tick()
        pane.tick()
        await pilot.pause()
        assert client.calls == 1 and status(app) == "Loading alerts…"
        client.release.set()
        await settled(pilot)
        assert len(rows(app)) == 4
        pane.tick()
        await settled(pilot)
        assert client.calls == 2


async def test_acknowledging_from_top_shows_in_alerts_list(
    platform: Platform, mesh: ServiceMeshClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    await platform.start("alert")
    raised = await mesh.call_service(
        "alert",
        "SendAlert",
        {"severity": "SEVERITY_HIGH", "title": "lens obscured", "message": "cam-live is dark",
         "camera_id": "cam-live"},
    )  # fmt: skip
    alert_id = raised["alert"]["alert_id"]
    app = MeshTopApp(
        MeshReader(platform.registry).fetch, interval=0, alerts=MeshAlerts(mesh, "ops-live")
    )
    async with app.run_test(size=(150, 40)) as pilot:
        await on_alerts(pilot)
        assert rows(app) == [alert_id]
        assert "1 alerts, 1 unacknowledged" in str(app.query_one("#alerts-stats").render())
        await pilot.press("a", "y")
        await settled(pilot)
        assert str(app.query_one("#alert-table", DataTable).get_row(alert_id)[3]) == "acknowledged"
        pane = app.query_one(AlertsPane)
        assert pane.alerts[0]["acknowledged_by"] == "ops-live"

    cli = Meshctl(platform.settings.redis_url, platform.settings.prefix)
    listed = await invoke(cli, "alerts", "list", "-o", "json")
    assert listed.exit_code == 0, listed.output
    [shown] = json.loads(listed.stdout)["alerts"]
    assert (shown["alert_id"], shown["status"], shown["acknowledged_by"]) == (
        alert_id, "ALERT_STATUS_ACKNOWLEDGED", "ops-live",
    )  # fmt: skip
