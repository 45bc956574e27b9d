"""``meshctl check`` against real services, the real broker and a live mesh client."""

from __future__ import annotations

import asyncio
import json

import pytest

from meshctl.cli.check import breaker_result, check_lines, result, service_result
from meshctl.core.endpoint import HealthStatus, ServiceEndpoint
from meshctl.testing import closed_port

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
    assert [r["check"] for r in as_json] == [
        "registry", "broker", "service:analytics", "service:auth", "breakers",
    ]  # fmt: skip
    assert {r["status"] for r in as_json} == {"pass"}


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
    rows = {r["check"]: r for r in json.loads(result.stdout)}
    assert rows["broker"]["status"] == "fail"
    assert rows["broker"]["detail"].startswith("Kafka broker at 127.0.0.1:")
    assert rows["services"]["status"] == "warn"


def test_pure_results():
    healthy, sick = (HealthStatus.HEALTHY, "SERVING"), (HealthStatus.UNHEALTHY, "UNAVAILABLE")
    assert service_result("a", [sick, healthy])["status"] == "pass"
    failed = service_result("a", [sick, sick])
    assert failed["hint"] == "see `meshctl services discover a`; the checks said: UNAVAILABLE"
    report = {"name": "streaming", "client_id": "s-1", "published_at": 0.0}
    snap = {"service": "x", "scope": "service", "state": "forced_open"}
    assert breaker_result([{**report, "breakers": [snap]}])["detail"] == (
        "1 breaker(s) open: x (streaming, forced_open)"
    )
    assert breaker_result([])["status"] == "pass"
    assert check_lines([result("r", "warn", "careful"), result("b", "fail", "bad", "fix")]) == (
        "‼ careful\n× bad\n    hint: fix\n"
    )
