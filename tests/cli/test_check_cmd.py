"""``meshctl check`` against real services, the real broker and a live mesh client."""

from __future__ import annotations

import asyncio
import json

import pytest

from meshctl.cli.checks import (
    breaker_result,
    check_lines,
    parse_expectations,
    report,
    result,
    service_result,
    waiting_line,
)
from meshctl.core.endpoint import HealthStatus, ServiceEndpoint
from meshctl.errors import InvalidRequestError
from meshctl.testing import closed_port, free_port

pytestmark = pytest.mark.redis


async def invoke(meshctl, *args: str):
    return await asyncio.to_thread(meshctl, *args)


@pytest.mark.kafka
async def test_healthy_mesh_passes(platform, meshctl, kafka_bootstrap, key_prefix):
    await platform.start("analytics")
    await platform.start("auth")
    passed = await invoke(meshctl, "--kafka", kafka_bootstrap, "check")
    assert passed.exit_code == 0, passed.output
    assert passed.stdout.splitlines() == [
        f"√ registry reachable at redis://127.0.0.1:6379/0 (prefix {key_prefix}): 2 services",
        f"√ broker reachable at {kafka_bootstrap}",
        "√ service analytics: 1/1 instances answer their health check",
        "√ service auth: 1/1 instances answer their health check",
        "√ no breaker open (0 mesh clients reporting)",
    ]
    as_json = json.loads(
        (await invoke(meshctl, "--kafka", kafka_bootstrap, "check", "-o", "json")).stdout
    )
    assert {k: as_json[k] for k in ("version", "passed", "exit_code", "failed", "attempts")} == {
        "version": 1, "passed": True, "exit_code": 0, "failed": 0, "attempts": 1,
    }  # fmt: skip
    assert [r["check"] for r in as_json["checks"]] == [
        "registry", "broker", "service:analytics", "service:auth", "breakers",
    ]  # fmt: skip
    assert {r["status"] for r in as_json["checks"]} == {"pass"}
    analytics = as_json["checks"][2]
    assert (analytics["healthy"], analytics["instances"], analytics["expected"]) == (1, 1, None)
    # the instance reports what it served; health probes are not counted
    assert analytics["served"] == {"requests": 0, "failures": 0, "errors": {}, "instances": 1}


async def test_named_services_must_have_their_minimum_healthy(platform, meshctl):
    await platform.start("analytics")
    ok = await invoke(meshctl, "check", "analytics")
    assert ok.exit_code == 0, ok.output
    assert "√ service analytics: 1/1 instances answer their health check (1 expected)" in (
        ok.stdout.splitlines()
    )
    short = await invoke(meshctl, "check", "analytics=2", "alert")
    assert short.exit_code == 1
    lines = short.stdout.splitlines()
    assert lines[3:7] == [
        "× service alert: no instance registered (1 expected)",
        "    hint: start it: `meshctl up` starts every service, `meshctl serve alert` one",
        "× service analytics: 1/1 instances answer their health check (2 expected)",
        "    hint: see `meshctl services discover analytics`",
    ]
    assert short.stderr == "error: 2 of 5 checks failed\n"


async def test_failures_exit_1_with_hints(platform, mesh, meshctl):
    await platform.start("analytics")
    dead = ServiceEndpoint(
        "alert", "127.0.0.1", closed_port(), metadata={"grpc_services": "its.v1.AlertService"}
    )
    await platform.registry.register_service("alert", dead, ttl=60)
    await mesh.watcher.refresh("alert")
    for _ in range(2):
        with pytest.raises(Exception):  # noqa: B017 - connection failures open the breaker
            await mesh.call_service("alert", "GetAlertStatistics", {}, timeout=2)
    await mesh.control.publish()
    failed = await invoke(meshctl, "check")
    assert failed.exit_code == 1, failed.output
    lines = failed.stdout.splitlines()
    assert lines[1] == "‼ no broker configured: event checks skipped"
    assert lines[2] == "    hint: set --kafka or MESH_KAFKA_BOOTSTRAP to check one"
    assert "× service alert: 0/1 instances answer their health check" in lines
    assert "√ service analytics: 1/1 instances answer their health check" in lines
    hint = lines[lines.index("× service alert: 0/1 instances answer their health check") + 1]
    assert hint.startswith(
        "    hint: see `meshctl services discover alert`; the checks said: UNAVAILABLE"
    )
    assert (
        f"× 2 breaker(s) open: alert (test-client, open), alert@{dead.address} (test-client, open)"
        in lines
    )
    assert failed.stderr == "error: 2 of 5 checks failed\n"
    # Every failing line is followed by its hint.
    for at, line in enumerate(lines):
        if line.startswith("×"):
            assert lines[at + 1].startswith("    hint: ")


def test_no_service_registered_fails(meshctl, key_prefix):
    result = meshctl("check", "-o", "json")
    assert result.exit_code == 1
    rows = {r["check"]: r for r in json.loads(result.stdout)["checks"]}
    assert rows["services"] == {
        "check": "services",
        "status": "fail",
        "detail": f"no service is registered under prefix {key_prefix}",
        "hint": "start the mesh with `meshctl up`, or check --prefix and --redis-url",
    }


def test_nothing_configured_and_no_mesh_exits_3(meshctl, key_prefix):
    # No --redis-url, no MESH_*, no config file, no `meshctl up` context: only the default.
    result = meshctl("--prefix", key_prefix, "check", isolated=False)
    assert result.exit_code == 3, result.output
    first, hint = result.stdout.splitlines()
    assert first.startswith(
        "× no mesh to check: no `meshctl up` mesh is running and no Redis is configured, and "
    )
    assert hint.startswith("    hint: start one with `meshctl up`")
    assert result.stderr == "error: 1 of 1 checks failed\n"


async def test_wait_polls_until_the_expected_service_answers(platform, meshctl):
    # A listener that drops every connection stands in for an instance that is not up yet:
    # its first connection says the check has run once and failed.
    probed = asyncio.Event()

    async def drop(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        probed.set()
        writer.close()

    port = free_port()
    server = await asyncio.start_server(drop, "127.0.0.1", port)
    starting = ServiceEndpoint(
        "analytics", "127.0.0.1", port, metadata={"grpc_services": "its.v1.AnalyticsService"}
    )
    await platform.registry.register_service("analytics", starting, ttl=60)
    checking = asyncio.create_task(
        invoke(meshctl, "check", "analytics", "--wait", "60s", "-o", "json")
    )
    async with server:
        await asyncio.wait_for(probed.wait(), 30)
        await platform.start("analytics")
        done = await asyncio.wait_for(checking, 60)
    assert done.exit_code == 0, done.output
    verdict = json.loads(done.stdout)
    assert verdict["passed"] and verdict["attempts"] >= 2


def test_wait_gives_up_with_the_last_results(meshctl):
    done = meshctl("check", "ghost", "--wait", "3s", "-o", "json")
    assert done.exit_code == 1
    verdict = json.loads(done.stdout)
    assert not verdict["passed"] and verdict["attempts"] >= 2
    assert verdict["elapsed_seconds"] >= 1.0
    assert done.stderr.startswith("error: 1 of 4 checks failed after waiting ")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("alert=0",), "error: invalid service 'alert=0': expected SERVICE or SERVICE=MIN_HEALTHY"),
        (("alert=x",), "error: invalid service 'alert=x'"),
        (("=2",), "error: invalid service '=2'"),
        (("alert", "alert=2"), "error: service alert is named twice"),
        (("--wait", "soon"), "error: invalid --wait 'soon': invalid duration"),
        (("--wait", "2d"), "error: invalid --wait '2d'"),
        (("--wait", "90000s"), "error: invalid --wait 90000: at most 86400 seconds"),
    ],
)
def test_bad_arguments_exit_2(meshctl_without_redis, args, message):
    result = meshctl_without_redis("check", *args)
    assert result.exit_code == 2, result.output
    assert result.stderr.splitlines() == [result.stderr.strip()]
    assert result.stderr.startswith(message)


def test_unreachable_registry_exits_3_and_still_prints_the_line(meshctl_without_redis):
    result = meshctl_without_redis("check")
    assert result.exit_code == 3
    first, hint = result.stdout.splitlines()
    assert first.startswith("× Cannot reach the registry at redis://127.0.0.1:")
    assert hint.startswith("    hint: start one with `meshctl up`")
    assert result.stderr == "error: 1 of 1 checks failed\n"


def test_unreachable_broker_fails_the_broker_check(meshctl):
    result = meshctl("--kafka", f"127.0.0.1:{closed_port()}", "check", "-o", "json")
    assert result.exit_code == 1
    rows = {r["check"]: r for r in json.loads(result.stdout)["checks"]}
    assert rows["broker"]["status"] == "fail"
    assert rows["broker"]["detail"].startswith("Kafka broker at 127.0.0.1:")
    assert rows["services"]["status"] == "fail"


def test_pure_results():
    healthy, sick = (HealthStatus.HEALTHY, "SERVING"), (HealthStatus.UNHEALTHY, "UNAVAILABLE")
    assert service_result("a", [sick, healthy])["status"] == "pass"
    assert service_result("a", [sick, healthy], expected=2)["status"] == "fail"
    failed = service_result("a", [sick, sick])
    assert failed["hint"] == "see `meshctl services discover a`; the checks said: UNAVAILABLE"
    assert service_result("a", [], expected=3)["detail"] == (
        "service a: no instance registered (3 expected)"
    )
    row = {"service": "x", "scope": "service", "state": "forced_open", "client": "streaming"}
    assert breaker_result([row], 1)["detail"] == "1 breaker(s) open: x (streaming, forced_open)"
    assert breaker_result([{**row, "state": "closed"}], 1)["status"] == "pass"
    assert check_lines([result("r", "warn", "careful"), result("b", "fail", "bad", "fix")]) == (
        "‼ careful\n× bad\n    hint: fix\n"
    )
    assert parse_expectations(["alert", "analytics=3"]) == {"alert": 1, "analytics": 3}
    with pytest.raises(InvalidRequestError):
        parse_expectations(["a=-1"])
    verdict = report([result("b", "fail", "bad", "fix")], 1, 2.0004, 3)
    assert verdict == {
        "version": 1, "passed": False, "exit_code": 1, "failed": 1, "elapsed_seconds": 2.0,
        "attempts": 3, "checks": [result("b", "fail", "bad", "fix")],
    }  # fmt: skip
    assert waiting_line([result("r", "pass", "ok"), result("b", "fail", "bad")], 41.6) == (
        "waiting (42s left): 1 failing, first: bad"
    )
