"""``meshctl alerts`` through the mesh against the real alert service, Redis and broker."""

from __future__ import annotations

import json

import pytest

from meshctl.testing import Platform

from .conftest import Meshctl, invoke

pytestmark = pytest.mark.kafka


async def raise_alert(platform: Platform, cli: Meshctl, camera: str) -> None:
    ran = await invoke(cli, "workflow", "run", "camera-frame", f"--camera={camera}")
    assert ran.exit_code == 0, ran.output


async def test_an_alert_raised_by_a_workflow_is_listed_shown_and_acknowledged(
    platform: Platform, cli: Meshctl
):
    for name in ("analytics", "streaming", "alert"):
        await platform.start(name)
    await raise_alert(platform, cli, "cam-a")
    await raise_alert(platform, cli, "cam-b")

    listed = json.loads((await invoke(cli, "alerts", "list", "-o", "json")).stdout)
    alerts = listed["alerts"]
    assert [a["camera_id"] for a in alerts] == ["cam-b", "cam-a"]  # newest first
    assert all(a["status"] == "ALERT_STATUS_OPEN" for a in alerts)
    table = await invoke(cli, "alerts", "list", "--camera", "cam-a")
    assert table.exit_code == 0, table.output
    [header, row] = table.stdout.splitlines()
    assert header.split()[:5] == ["ALERT", "AGE", "SEVERITY", "STATUS", "CAMERA"]
    assert alerts[1]["alert_id"] in row and "open" in row and ":sent" in row

    target = alerts[1]["alert_id"]
    shown = await invoke(cli, "alerts", "show", target)
    assert shown.exit_code == 0, shown.output
    assert f"alert {target}:" in shown.stdout and "camera cam-a" in shown.stdout

    acked = await invoke(cli, "alerts", "ack", target, "--by", "ops", "--note", "on it")
    assert (acked.exit_code, acked.stdout) == (0, f"alert {target} acknowledged\n")
    again = await invoke(cli, "alerts", "ack", target, "--by", "someone-else")
    assert "(already, by ops)" in again.stdout
    only = json.loads(
        (await invoke(cli, "alerts", "list", "--status", "acknowledged", "-o", "json")).stdout
    )
    assert [(a["alert_id"], a["acknowledged_by"]) for a in only["alerts"]] == [(target, "ops")]

    stats = json.loads((await invoke(cli, "alerts", "stats", "-o", "json")).stdout)
    assert (stats["total_alerts"], stats["acknowledged"], stats["unacknowledged"]) == (2, 1, 1)
    table = (await invoke(cli, "alerts", "stats")).stdout
    assert table.splitlines()[1].split()[:4] == ["(all)", "2", "1", "1"]
    retried = await invoke(cli, "alerts", "retry", "--all")
    assert retried.stdout == "retried 0 alerts: 0 delivered, 0 still failing\n"


async def test_mistakes_are_clear(platform: Platform, cli: Meshctl):
    await platform.start("alert")
    missing = await invoke(cli, "alerts", "show", "nosuch")
    assert missing.exit_code == 1 and "no alert 'nosuch'" in missing.output
    for args, message in [
        (("retry",), "give an ALERT_ID or --all"),
        (("retry", "x", "--all"), "give an ALERT_ID or --all"),
        (("list", "--since", "yesterday"), "invalid --since 'yesterday'"),
        (("show", " "), "ALERT_ID must not be empty"),
    ]:
        result = await invoke(cli, "alerts", *args)
        assert result.exit_code == 2 and message in result.output, (args, result.output)
    bad = await invoke(cli, "alerts", "list", "--severity", "urgent")
    assert bad.exit_code == 2 and "urgent" in bad.output


def test_no_alert_service_is_exit_1_with_the_reason(meshctl: Meshctl):
    result = meshctl("alerts", "list")
    assert result.exit_code == 1 and "No endpoints found for service alert" in result.output
