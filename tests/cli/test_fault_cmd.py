"""``meshctl fault`` on the real Redis: inject, list, clear, refusals, and where faults show."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from meshctl.cli.fault import left

pytestmark = pytest.mark.redis


def register(meshctl, service: str, address: str, *args: str) -> None:
    result = meshctl("services", "register", service, address, *args)
    assert result.exit_code == 0, result.output


def inject(meshctl, *args: str) -> str:
    """Inject a fault; returns its id."""
    result = meshctl("fault", "inject", *args)
    assert result.exit_code == 0, result.output
    match = re.match(r"fault ([0-9a-f]{8}) injected into ", result.stdout)
    assert match is not None, result.stdout
    return match.group(1)


def listed(meshctl) -> list[dict[str, Any]]:
    result = meshctl("fault", "list", "-o", "json")
    assert result.exit_code == 0, result.output
    faults: list[dict[str, Any]] = json.loads(result.stdout)["faults"]
    return faults


def test_inject_list_and_clear(meshctl) -> None:
    register(meshctl, "analytics", "127.0.0.1:50052")
    register(meshctl, "auth", "127.0.0.1:8000", "--protocol", "http")
    assert meshctl("fault", "list").stdout == "no fault injected\n"
    result = meshctl(
        "fault", "inject", "analytics", "--method", "ProcessDetections", "--delay", "200ms",
        "--jitter", "50ms", "--percent", "20", "--for", "2m", "--version", "0.2.0",
        "--header", "x-canary=1",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    first, expires = result.stdout.splitlines()
    fault_id = first.split()[1]
    assert first == (
        f"fault {fault_id} injected into analytics: method=ProcessDetections version=0.2.0 "
        "x-canary=1, delay 200ms±50ms on 20%"
    )
    assert re.fullmatch(
        rf"  expires in (2m|1m5\ds) \(\d\d:\d\d:\d\d UTC\); "
        rf"`meshctl fault clear {fault_id}`",
        expires,
    )
    second = inject(meshctl, "auth", "--abort", "503", "--caller", "ops")
    third = inject(meshctl, "analytics", "--abort", "unavailable")

    rows = listed(meshctl)
    assert [r["id"] for r in rows] == [fault_id, second, third]
    assert rows[0]["headers"] == {"x-canary": "1"} and rows[0]["delay"] == 0.2
    assert 100 < rows[0]["expires_in"] <= 120
    assert (rows[2]["abort"], rows[2]["percent"], rows[2]["action"]) == (
        "UNAVAILABLE", 100.0, "abort UNAVAILABLE on 100%",
    )  # fmt: skip
    table = meshctl("fault", "list").stdout.splitlines()
    assert table[0].split() == ["ID", "SERVICE", "SCOPE", "ACTION", "EXPIRES", "IN"]
    assert table[2].split()[:5] == [second, "auth", "caller=ops", "abort", "503"]

    cleared = meshctl("fault", "clear", fault_id, "feedbeef")
    assert cleared.exit_code == 0
    assert cleared.stdout == f"cleared 1 fault(s): {fault_id}\n"
    assert "warning: no fault feedbeef in force" in cleared.output
    assert meshctl("fault", "clear", "--service", "auth").stdout == (
        f"cleared 1 fault(s): {second}\n"
    )
    assert meshctl("fault", "clear", "--all").stdout == f"cleared 1 fault(s): {third}\n"
    assert listed(meshctl) == []
    assert meshctl("fault", "clear", "--all").stdout == "no fault matched: nothing cleared\n"


def test_services_list_and_check_show_the_faults(meshctl) -> None:
    register(meshctl, "analytics", "127.0.0.1:1")
    register(meshctl, "alert", "127.0.0.1:2")
    assert "FAULTS" not in meshctl("services", "list").stdout
    inject(meshctl, "analytics", "--abort", "UNAVAILABLE")
    inject(meshctl, "analytics", "--delay", "1s", "--method", "GenerateReport")
    rows = {r["service"]: r for r in json.loads(meshctl("services", "list", "-o", "json").stdout)}
    assert rows["analytics"]["faults"] == 2 and "faults" not in rows["alert"]
    assert meshctl("services", "list").stdout.splitlines()[0].split()[-1] == "FAULTS"

    checked = meshctl("check", "-o", "json")  # the instances do not answer: check fails
    [warning] = [c for c in json.loads(checked.stdout)["checks"] if c["check"] == "faults"]
    assert warning["status"] == "warn"
    assert (
        warning["detail"].startswith("2 fault(s) injected") and "analytics (2)" in warning["detail"]
    )
    meshctl("fault", "clear", "--all")
    checked = meshctl("check", "-o", "json")
    assert not [c for c in json.loads(checked.stdout)["checks"] if c["check"] == "faults"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["nowhere", "--abort", "UNAVAILABLE"],
            "unknown service nowhere: no instance is registered",
        ),
        (["analytics"], "a fault needs a delay, an abort or both"),
        (["analytics", "--abort", "SLOW"], "unknown abort code 'SLOW'"),
        (["analytics", "--abort", "503"], "analytics serves grpc: --abort takes a gRPC status"),
        (["auth", "--abort", "UNAVAILABLE"], "auth serves http: --abort takes an HTTP code"),
        (["analytics", "--abort", "600"], "an HTTP code must be 4xx or 5xx"),
        (["analytics", "--delay", "soon"], "--delay: invalid duration 'soon'"),
        (["analytics", "--abort", "INTERNAL", "--for", "2d"], "--for: invalid duration '2d'"),
        (["analytics", "--abort", "INTERNAL", "--for", "25h"], "at most 24h"),
        (["analytics", "--abort", "INTERNAL", "--percent", "0"], "percent must be more than 0"),
        (["analytics", "--abort", "INTERNAL", "--percent", "120"], "at most 100"),
        (["analytics", "--abort", "INTERNAL", "--header", "x"], "invalid header 'x'"),
    ],
)
def test_bad_faults_are_refused_and_nothing_is_written(
    meshctl, args: list[str], message: str
) -> None:
    register(meshctl, "analytics", "127.0.0.1:50052")
    register(meshctl, "auth", "127.0.0.1:8000", "--protocol", "http")
    refused = meshctl("fault", "inject", *args)
    assert refused.exit_code == 2, refused.output
    assert message in refused.output and "Traceback" not in refused.output
    assert listed(meshctl) == []


@pytest.mark.parametrize("args", [[], ["abc", "--all"], ["--service", "a", "--all"]])
def test_clear_takes_exactly_one_way_of_choosing(meshctl, args: list[str]) -> None:
    refused = meshctl("fault", "clear", *args)
    assert refused.exit_code == 2
    assert "name fault ids, or --service SERVICE, or --all" in refused.output


@pytest.mark.parametrize(
    "args",
    [["list"], ["clear", "--all"], ["inject", "analytics", "--abort", "UNAVAILABLE"]],
)
def test_unreachable_redis_exits_3(meshctl_without_redis, args: list[str]) -> None:
    result = meshctl_without_redis("fault", *args)
    assert result.exit_code == 3, result.output
    assert "Traceback" not in result.output


def test_a_garbage_record_is_reported_by_list_not_fatal(meshctl, redis_url, key_prefix) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    client.hset(f"{key_prefix}:faults", "junk", "{not json")
    client.close()
    result = meshctl("fault", "list")
    assert result.exit_code == 0
    assert result.stdout == "no fault injected\n"
    assert "warning: fault 'junk' is not valid (not JSON" in result.output


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(120, "2m"), (119.2, "2m"), (118.5, "1m59s"), (45, "45s"), (0.2, "1s"), (-3, "0s"),
     (7200, "2h")],  # fmt: skip
)
def test_time_left_is_shown_to_the_second_below_an_hour(seconds: float, shown: str) -> None:
    assert left(seconds) == shown
