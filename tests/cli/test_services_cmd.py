"""``meshctl services`` against the real Redis registry, each under its own prefix."""

from __future__ import annotations

import asyncio
import json

import pytest
import yaml

from meshctl.cli.services import endpoint_row, health_row, parse_address, parse_meta
from meshctl.core.endpoint import HealthStatus, ServiceEndpoint
from meshctl.core.units import format_age
from meshctl.errors import InvalidRequestError
from meshctl.registry import ServiceRegistry
from meshctl.registry.snapshot import SnapshotReader

pytestmark = pytest.mark.redis


def register(meshctl, *args: str) -> str:
    result = meshctl("services", "register", *args, "-o", "json")
    assert result.exit_code == 0, result.output
    return str(json.loads(result.stdout)[0]["instance_id"])


def test_register_then_discover_in_every_format(meshctl):
    iid = register(
        meshctl, "analytics", "10.0.0.7:50052", "--protocol", "grpc", "--weight", "2",
        "--meta", "gpu=t4", "--meta", "region=eu", "--zone", "b", "--version", "1.4.0",
    )  # fmt: skip
    rows = json.loads(meshctl("services", "discover", "analytics", "-o", "json").stdout)
    assert len(rows) == 1
    row = rows[0]
    assert {k: row[k] for k in ("service", "instance_id", "address", "protocol", "health")} == {
        "service": "analytics",
        "instance_id": iid,
        "address": "10.0.0.7:50052",
        "protocol": "grpc",
        "health": "unknown",
    }
    assert row["metadata"] == {"gpu": "t4", "region": "eu"}
    assert (row["weight"], row["zone"], row["version"], row["breaker"]) == (2.0, "b", "1.4.0", "-")
    assert 0 <= row["age_seconds"] < 60
    assert yaml.safe_load(meshctl("services", "discover", "analytics", "-o", "yaml").stdout) == [
        {**row, "age_seconds": pytest.approx(row["age_seconds"], abs=5)}
    ]
    table = meshctl("services", "discover", "analytics")
    assert table.exit_code == 0
    header, line = table.stdout.splitlines()
    assert header.split() == [
        "INSTANCE", "ADDRESS", "PROTOCOL", "HEALTH", "BREAKER", "WEIGHT", "ZONE", "VERSION", "AGE",
    ]  # fmt: skip
    assert line.split()[:8] == [iid, "10.0.0.7:50052", "grpc", "unknown", "-", "2", "b", "1.4.0"]


def test_register_table_prints_the_instance_id(meshctl):
    result = meshctl("services", "register", "auth", "[::1]:8000", "--protocol", "http")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[1].split()[:3][2] == "[::1]:8000"


def seed(redis_url: str, prefix: str, *instances: tuple[str, HealthStatus]) -> None:
    """Register instances with a given health, as a health monitor would leave them."""

    async def go() -> None:
        registry = ServiceRegistry(redis_url, prefix)
        try:
            for service, status in instances:
                endpoint = ServiceEndpoint(service, "127.0.0.1", 5000, health_status=status)
                await registry.register_service(service, endpoint)
        finally:
            await registry.aclose()

    asyncio.run(go())


def test_list_and_health_count_healthy_instances(meshctl, redis_url, key_prefix):
    healthy, unhealthy = HealthStatus.HEALTHY, HealthStatus.UNHEALTHY
    seed(redis_url, key_prefix, ("alert", healthy), ("alert", unhealthy), ("streaming", healthy))
    listed = meshctl("services", "list", "-o", "json")
    assert listed.exit_code == 0
    assert json.loads(listed.stdout) == [
        {"service": "alert", "instances": 2, "healthy": 1, "served": None},  # nothing reports
        {"service": "streaming", "instances": 1, "healthy": 1, "served": None},
    ]
    health = meshctl("services", "health", "-o", "json")
    assert health.exit_code == 0, health.output
    assert json.loads(health.stdout) == [
        {"service": "alert", "healthy": 1, "total": 2, "status": "degraded"},
        {"service": "streaming", "healthy": 1, "total": 1, "status": "ok"},
    ]
    one = meshctl("services", "health", "streaming")
    assert one.stdout.split() == [
        "SERVICE",
        "HEALTHY",
        "TOTAL",
        "STATUS",
        "streaming",
        "1",
        "1",
        "ok",
    ]
    assert meshctl("services", "list").stdout.splitlines()[0].split() == [
        "SERVICE", "INSTANCES", "HEALTHY", "SERVED", "(SINCE", "START)",
    ]  # fmt: skip


def test_health_fails_when_a_service_has_no_healthy_instance(meshctl):
    register(meshctl, "alert", "127.0.0.1:50053")
    result = meshctl("services", "health", "-o", "json")
    assert result.exit_code == 1
    assert json.loads(result.stdout) == [
        {"service": "alert", "healthy": 0, "total": 1, "status": "down"}
    ]
    assert result.stderr == "error: no healthy instance of alert\n"


def test_deregister_removes_and_reports_unknown(meshctl):
    iid = register(meshctl, "streaming", "127.0.0.1:50051")
    done = meshctl("services", "deregister", "streaming", iid)
    assert done.exit_code == 0 and iid in done.stdout
    again = meshctl("services", "deregister", "streaming", iid)
    assert again.exit_code == 1
    assert again.stderr == f"error: no instance '{iid}' of service 'streaming' is registered\n"


@pytest.mark.parametrize("command", [("discover", "ghost"), ("health", "ghost")])
def test_unknown_service_exits_1(meshctl, command):
    result = meshctl("services", *command)
    assert result.exit_code == 1
    assert result.stderr == "error: No endpoints found for service ghost\n"


def test_empty_registry_lists_nothing(meshctl):
    assert meshctl("services", "list").stdout == "No resources found.\n"
    assert meshctl("services", "list", "-o", "json").stdout == "[]\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("127.0.0.1",), "invalid address '127.0.0.1': expected HOST:PORT"),
        (("host:0",), "invalid address 'host:0'"),
        (("host:http",), "invalid address 'host:http'"),
        (("h:1", "--meta", "novalue"), "invalid --meta 'novalue': expected KEY=VALUE"),
        (("h:1", "--weight", "-1"), "invalid endpoint: weight must be >= 0"),
        (("h:1", "--ttl", "0"), "invalid --ttl 0"),
    ],
)
def test_register_refuses_bad_input_with_exit_2(meshctl, args, message):
    result = meshctl("services", "register", "svc", *args)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {message}")
    assert len(result.stderr.splitlines()) == 1


@pytest.mark.parametrize("args", [("--protocol", "smtp"), ("--weight", "heavy")])
def test_register_option_types_are_usage_errors(meshctl, args):
    result = meshctl("services", "register", "svc", "h:1", *args)
    assert result.exit_code == 2
    assert "Invalid value" in result.stderr


@pytest.mark.parametrize(
    "command",
    [("list",), ("discover", "x"), ("health",), ("register", "x", "h:1"), ("deregister", "x", "y")],
)
def test_unreachable_redis_exits_3_with_one_line_and_a_hint(command, meshctl_without_redis):
    result = meshctl_without_redis("services", *command)
    assert result.exit_code == 3
    error, hint = result.stderr.splitlines()
    assert error.startswith("error: Cannot reach the registry at redis://127.0.0.1:")
    assert hint.startswith("hint: start one with `meshctl up`")
    assert "Traceback" not in result.output


def test_unexpected_error_is_one_line_and_traceback_only_under_debug(meshctl, monkeypatch):
    async def broken(self):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(SnapshotReader, "read", broken)
    plain = meshctl("services", "list")
    assert plain.exit_code == 1
    assert plain.stderr.splitlines() == [
        "error: unexpected RuntimeError: disk on fire",
        "hint: run again with --debug to see the traceback",
    ]
    debug = meshctl("--debug", "services", "list")
    assert debug.exit_code == 1
    assert "Traceback (most recent call last)" in debug.stderr
    assert debug.stderr.splitlines()[-1] == "error: unexpected RuntimeError: disk on fire"


def test_invalid_redis_url_is_bad_input(meshctl):
    result = meshctl("--redis-url", "nonsense", "services", "list")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: Invalid registry URL 'nonsense'")


def test_pure_helpers():
    assert parse_address("[::1]:80") == ("::1", 80)
    assert parse_address("a.b:65535") == ("a.b", 65535)
    with pytest.raises(InvalidRequestError):
        parse_address("a:65536")
    assert parse_meta(["a=b=c", " k =v"]) == {"a": "b=c", "k": "v"}
    assert [format_age(s) for s in (None, 0.4, 59, 61, 7200, 200000)] == [
        "-", "0s", "59s", "1m", "2h", "2d",
    ]  # fmt: skip
    endpoint = ServiceEndpoint("s", "h", 1, registered_at=100.0)
    assert endpoint_row(endpoint, None, 150.0)["age_seconds"] == 50.0
    assert endpoint_row(endpoint, "open", 150.0)["breaker"] == "open"
    assert health_row("s", []) == {"service": "s", "healthy": 0, "total": 0, "status": "down"}


def test_served_totals_sum_instances_and_skip_what_is_not_a_server_report():
    from meshctl.cli.served import served_line, served_totals

    def server(name: str, **served: object) -> dict[str, object]:
        return {"role": "server", "name": name, "served": served}

    ok = {"requests": 5, "failures": 1, "errors": {"INTERNAL": 1, "NOT_FOUND": 2}}
    totals = served_totals(
        [
            server("analytics", ProcessDetections=ok, GetTrafficMetrics={"requests": 3}),
            server("analytics", ProcessDetections={**ok, "requests": True}),  # bool: not a count
            server("analytics", Junk="not stats"),
            {"name": "analytics", "services": {"alert": ok}},  # a client's report
            {"role": "server", "name": "alert", "served": ["not", "a", "map"]},
        ]
    )
    assert totals == {
        "analytics": {
            "requests": 8,
            "failures": 2,
            "errors": {"INTERNAL": 2, "NOT_FOUND": 4},
            "instances": 3,
        }
    }
    assert served_line(totals["analytics"]) == "8 requests, 2 failed"
    assert served_line(None) == "-"
