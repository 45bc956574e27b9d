"""``meshctl breakers`` against mesh clients running in the test's own event loop.

The command runs in a thread (it has its own loop) while the client keeps
publishing reports and answering commands in ours.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from meshctl.cli.breaker_target import check_service, resolve_instance
from meshctl.cli.breakers import breaker_rows, change_lines
from meshctl.cli.services import endpoint_breaker_states, worst_state
from meshctl.core.endpoint import ServiceEndpoint
from meshctl.errors import InvalidRequestError
from meshctl.testing import closed_port

pytestmark = pytest.mark.redis


async def invoke(meshctl, *args: str):
    return await asyncio.to_thread(meshctl, *args)


async def trip_analytics(platform, mesh) -> ServiceEndpoint:
    """Register an analytics instance nobody listens on and fail calls until breakers open."""
    dead = ServiceEndpoint(
        "analytics",
        "127.0.0.1",
        closed_port(),
        metadata={"grpc_services": "its.v1.AnalyticsService"},
    )
    await platform.registry.register_service("analytics", dead, ttl=60)
    await mesh.watcher.refresh("analytics")
    for _ in range(2):
        with pytest.raises(Exception):  # noqa: B017 - connection failures
            await mesh.call_service("analytics", "GetTrafficMetrics", {}, timeout=2)
    states = {s["scope"]: s["state"] for s in mesh.breakers.snapshots()}
    # Its only instance is dead, so the service fails too: both breakers open.
    assert states == {"service": "open", "endpoint": "open"}
    await mesh.control.publish()
    return dead


async def test_status_shows_open_breakers_and_reset_closes_them(platform, mesh, meshctl):
    dead = await trip_analytics(platform, mesh)
    client_id = mesh.control.client_id
    status = await invoke(meshctl, "breakers", "status", "-o", "json")
    assert status.exit_code == 0, status.output
    rows = json.loads(status.stdout)
    assert [(r["service"], r["endpoint"], r["state"], r["client"]) for r in rows] == [
        ("analytics", "(service)", "open", "test-client"),
        ("analytics", dead.address, "open", "test-client"),
    ]
    assert all(r["client_id"] == client_id for r in rows)
    assert [r["trips"] for r in rows] == [1, 1]
    assert rows[1]["failures"] >= 1 and 0 < rows[1]["half_open_in"] <= 30
    assert 0 <= rows[1]["open_for"] < 10
    table = (await invoke(meshctl, "breakers")).stdout.splitlines()
    assert table[0].split() == [
        "CLIENT", "SERVICE", "INSTANCE", "ENDPOINT", "STATE", "FAILURES", "ERROR", "%", "TRIPS",
        "OPENED", "HALF-OPEN", "IN",
    ]  # fmt: skip
    assert table[1].split()[:5] == ["test-client", "analytics", "-", "(service)", "open"]
    assert table[2].split()[:5] == [
        "test-client", "analytics", dead.instance_id, dead.address, "open",
    ]  # fmt: skip
    # The group alone takes -o like `breakers status` does.
    grouped = json.loads((await invoke(meshctl, "breakers", "-o", "json")).stdout)
    assert [(r["instance_id"], r["endpoint"], r["state"]) for r in grouped] == [
        (None, "(service)", "open"),
        (dead.instance_id, dead.address, "open"),
    ]
    assert (
        json.loads((await invoke(meshctl, "breakers", "status", "alert", "-o", "json")).stdout)
        == []
    )
    discovered = await invoke(meshctl, "services", "discover", "analytics", "-o", "json")
    assert json.loads(discovered.stdout)[0]["breaker"] == "open"

    reset = await invoke(meshctl, "breakers", "reset", "analytics")
    assert reset.exit_code == 0, reset.output
    assert reset.stdout == (
        f"{client_id}: analytics open → closed\n"
        f"{client_id}: analytics@{dead.address} open → closed\n"
    )
    assert {s["state"] for s in mesh.breakers.snapshots()} == {"closed"}
    again = await invoke(meshctl, "breakers", "reset", "--all", "-o", "json")
    assert json.loads(again.stdout) == [
        {"client_id": client_id, "name": "test-client", "changes": []}
    ]


async def test_open_rejects_calls_until_close(platform, mesh, meshctl):
    await platform.start("analytics")
    opened = await invoke(meshctl, "breakers", "open", "analytics")
    assert opened.exit_code == 0, opened.output
    assert opened.stdout == f"{mesh.control.client_id}: analytics closed → forced_open\n"
    # meshctl call honours an operator's forced open, as every client does.
    rejected = await invoke(meshctl, "call", "analytics", "GetTrafficMetrics")
    assert (rejected.exit_code, rejected.stderr) == (
        1,
        "error: Circuit breaker open for analytics\n",
    )
    closed = await invoke(meshctl, "breakers", "close", "analytics", "-o", "yaml")
    assert "to: closed" in closed.stdout and "from: forced_open" in closed.stdout
    assert (await invoke(meshctl, "call", "analytics", "GetTrafficMetrics")).exit_code == 0


async def test_watch_redraws_until_its_count(platform, mesh, meshctl):
    await trip_analytics(platform, mesh)
    watched = await invoke(
        meshctl, "breakers", "status", "--watch", "--count", "2", "--interval", "0.05"
    )
    assert watched.exit_code == 0, watched.output
    assert "breakers at " in watched.stdout and "analytics" in watched.stdout


@pytest.mark.parametrize("target", [["--all"], ["analytics"]])
def test_reset_with_no_client_running_has_nothing_to_do_and_exits_0(meshctl, target):
    result = meshctl("breakers", "reset", *target, "--wait", "0.2")
    assert result.exit_code == 0, result.output
    assert result.stderr.startswith("nothing to reset: no mesh client is running under prefix")
    assert result.stderr.endswith("so every breaker is closed\n")
    as_json = meshctl("breakers", "reset", *target, "--wait", "0.2", "-o", "json")
    assert json.loads(as_json.stdout) == []
    assert meshctl("breakers", "status").stdout == "No resources found.\n"


def test_force_open_of_an_instance_with_no_client_exits_1(meshctl):
    registered = meshctl("services", "register", "analytics", "127.0.0.1:50999", "-o", "json")
    assert registered.exit_code == 0, registered.output
    instance_id = json.loads(registered.stdout)[0]["instance_id"]
    prefix = instance_id[:4]
    result = meshctl("breakers", "open", "analytics", "--instance", prefix, "--wait", "0.2")
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("error: no mesh client answered the force_open command")
    # An instance command leaves no mesh-wide mark: a call is not refused by a breaker.
    called = meshctl("call", "analytics", "GetTrafficMetrics", "--timeout", "1")
    assert "Circuit breaker open" not in called.stderr


async def test_instance_prefix_steers_only_that_endpoints_breaker(platform, mesh, meshctl):
    dead = await trip_analytics(platform, mesh)
    reset = await invoke(
        meshctl, "breakers", "reset", "analytics", "--instance", dead.instance_id[:4]
    )
    assert reset.exit_code == 0, reset.output
    assert reset.stdout == (f"{mesh.control.client_id}: analytics@{dead.address} open → closed\n")
    states = {s["scope"]: s["state"] for s in mesh.breakers.snapshots()}
    assert states == {"service": "open", "endpoint": "closed"}


def test_names_are_checked_before_a_command_goes_out():
    check_service("analytics", {"analytics"})
    with pytest.raises(InvalidRequestError, match=r"did you mean 'alert' or 'alerts'\?"):
        check_service("alertt", {"alert", "alerts", "auth"})
    ids = ["7f3c01aa0000", "7f3c02bb0000", "a1b2c3d4e5f6"]
    assert resolve_instance("s", "a1", ids) == "a1b2c3d4e5f6"
    assert resolve_instance("s", "7f3c01aa0000", ids) == "7f3c01aa0000"
    with pytest.raises(InvalidRequestError, match="7f3c is ambiguous: 7f3c01aa0000, 7f3c02bb0000"):
        resolve_instance("s", "7f3c", ids)
    with pytest.raises(InvalidRequestError, match="no instance of s has an id starting 'zz'"):
        resolve_instance("s", "zz", ids)
    with pytest.raises(InvalidRequestError, match="empty"):
        resolve_instance("s", " ", ids)


def test_force_open_with_no_client_running_is_remembered_for_clients_to_come(meshctl):
    opened = meshctl("breakers", "open", "analytics", "--wait", "0.2")
    assert opened.exit_code == 0, opened.output
    assert "analytics stays forced open for every client that starts" in opened.stderr
    called = meshctl("call", "analytics", "GetTrafficMetrics", "-d", "{}")
    assert called.exit_code == 1
    assert called.stderr.startswith("error: Circuit breaker open for analytics")
    assert meshctl("breakers", "reset", "analytics", "--wait", "0.2").exit_code == 0  # no client
    called = meshctl("call", "analytics", "GetTrafficMetrics", "-d", "{}")
    assert "Circuit breaker open" not in called.stderr  # no instance: not the breaker any more


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("reset",), "error: name a SERVICE or give --all (not both)"),
        (("reset", "analytics", "--all"), "error: name a SERVICE or give --all (not both)"),
        (("reset", "--all", "--instance", "i1"), "error: --instance needs a SERVICE"),
        (("open", "analytics", "--wait", "0"), "error: invalid --wait 0"),
        (("status", "--watch", "--interval", "0"), "error: invalid --interval 0"),
        (("status", "--watch", "--count", "-1"), "error: invalid --count -1"),
        (("open", "analytics", "--wait", "inf"), "error: invalid --wait inf"),
        (
            ("open", "analytcs"),
            "error: unknown service 'analytcs'; did you mean 'analytics'? "
            "(known: alert, analytics, auth, streaming)",
        ),
        (("reset", "nosuchsvc"), "error: unknown service 'nosuchsvc' (known: alert,"),
        (("close", "nosuchsvc"), "error: unknown service 'nosuchsvc' (known: alert,"),
        (("status", "nosuchsvc"), "error: unknown service 'nosuchsvc' (known: alert,"),
        (("open", "analytics", "--instance", "7f3c"), "error: no instance of analytics has an id"),
        (("-o", "json", "status"), "error: -o goes after the command"),
    ],
)
def test_bad_usage_exits_2(meshctl, args, message):
    result = meshctl("breakers", *args)
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [message] or result.stderr.startswith(message)


def test_unreachable_registry_exits_3(meshctl_without_redis):
    result = meshctl_without_redis("breakers", "status")
    assert result.exit_code == 3
    assert result.stderr.startswith("error: Cannot reach the registry at redis://127.0.0.1:")


def test_rows_rebuild_wall_clock_times_from_the_report():
    snap = {
        "service": "analytics", "scope": "endpoint", "instance_id": "i1", "address": "h:1",
        "state": "open", "failure_count": 5, "error_percentage": 50.0, "trip_count": 2,
        "retry_after": 45.0, "config": {"timeout_duration": 60.0},
    }  # fmt: skip
    report = {"name": "streaming", "client_id": "streaming-h-1", "published_at": 1000.0}
    (row,) = breaker_rows([{**report, "breakers": [snap]}], now=1010.0)
    assert row["opened_at"] == 985.0  # opened 15 s before the report
    assert row["open_for"] == 25.0 and row["half_open_in"] == 35.0
    late = breaker_rows([{**report, "breakers": [snap]}], now=1100.0)[0]
    assert late["half_open_in"] == 0.0
    closed = breaker_rows([{**report, "breakers": [{**snap, "state": "closed"}]}], now=1010.0)
    assert closed[0]["opened_at"] is None and closed[0]["half_open_in"] is None
    assert breaker_rows([{**report, "breakers": [snap]}], 1010.0, service="alert") == []
    assert change_lines([{"client_id": "c", "changes": []}]) == ["c: no change"]
    other = {**report, "breakers": [{**snap, "state": "half_open"}]}
    states = endpoint_breaker_states([{**report, "breakers": [snap]}, other], "analytics")
    assert states == {"i1": "open"}
    assert worst_state(["closed", "forced_open", "open"]) == "forced_open"
    assert worst_state([]) == "-"
