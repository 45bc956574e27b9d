"""Server-side faults injected through Redis into real services, called by a real mesh client."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from typing import Any

import grpc
import httpx
import pytest

from meshctl.core.balancer import LoadBalancingStrategy
from meshctl.core.breaker import CircuitBreakerConfig
from meshctl.core.faults import Fault, fault_from_options
from meshctl.core.retry import RetryBudget, RetryPolicy
from meshctl.mesh import ServiceMeshClient, open_mesh
from meshctl.proto.its.v1 import analytics_pb2_grpc, common_pb2
from meshctl.registry.control import read_reports
from meshctl.registry.faults import clear_faults, inject_fault, read_faults
from meshctl.registry.keys import faults_key
from meshctl.testing import Platform

pytestmark = pytest.mark.redis

METHOD = "GetTrafficMetrics"


async def inject(platform: Platform, service: str = "analytics", **options: Any) -> Fault:
    fault = fault_from_options(service, now=time.time(), **options)
    return await inject_fault(platform.registry.redis, platform.registry.prefix, fault)


def patient_client(platform: Platform) -> ServiceMeshClient:
    """A client whose retries are not rationed and whose breakers stay closed, so every
    instance keeps its share of the calls the test counts."""
    return open_mesh(
        platform.settings, name="patient", registry=platform.registry, events=False,
        retry=RetryPolicy(base_delay=0.001, max_delay=0.002), budget=RetryBudget(ratio=20),
        strategy=LoadBalancingStrategy.ROUND_ROBIN,
        breaker_config=CircuitBreakerConfig(failure_threshold=10**6,
                                            error_threshold_percentage=100.0),
    )  # fmt: skip


async def served(
    platform: Platform, until: Callable[[dict[str, dict[str, Any]]], bool]
) -> dict[str, dict[str, Any]]:
    """Instance id -> what it served of METHOD, once ``until`` holds (reported every second)."""
    async with asyncio.timeout(15):
        while True:
            reports = await read_reports(platform.registry.redis, platform.registry.prefix)
            found = {r["instance_id"]: r["served"].get(METHOD, {}) for r in reports.servers}
            if until(found):
                return found
            await asyncio.sleep(0.1)


def requests(found: dict[str, dict[str, Any]]) -> int:
    return sum(int(s.get("requests", 0)) for s in found.values())


async def test_half_an_instances_attempts_fail_and_calls_succeed_on_its_sibling(
    platform: Platform,
) -> None:
    # Scoped to one of two instances: a call tries each instance once at most, so with the
    # fault on both a quarter of the calls would fail on both attempts.
    await inject(platform, abort="UNAVAILABLE", percent=50, zone="z-faulty")
    await platform.start("analytics", zone="z-faulty")
    await platform.start("analytics", zone="z-sound")
    async with patient_client(platform) as mesh:
        results = [await mesh.call("analytics", METHOD, {}) for _ in range(300)]
    attempts = sum(r.attempts for r in results)
    zones = {e.instance_id: e.zone for e in await platform.registry.discover_services("analytics")}
    assert {r.endpoint.zone for r in results} == {"z-faulty", "z-sound"}
    found = await served(platform, lambda f: len(f) == 2 and requests(f) == attempts)
    by_zone = {zones[instance]: stats for instance, stats in found.items()}
    faulty, sound = by_zone["z-faulty"], by_zone["z-sound"]
    assert 0.4 < faulty["failures"] / faulty["requests"] < 0.6, faulty
    assert faulty["errors"] == {"UNAVAILABLE (injected)": faulty["failures"]}
    assert sound["failures"] == 0 and sound["errors"] == {}
    assert attempts == 300 + faulty["failures"]  # each failure retried once, on the sibling


async def test_a_version_scoped_fault_hits_only_that_version(platform: Platform) -> None:
    await inject(platform, abort="UNAVAILABLE", version="0.2.0")
    await platform.start("analytics", instance_version="0.1.0")
    await platform.start("analytics", instance_version="0.2.0")
    async with patient_client(platform) as mesh:
        results = [await mesh.call("analytics", METHOD, {}) for _ in range(40)]
    versions = {e.instance_id: e.version for e in await platform.registry.discover_services(
        "analytics")}  # fmt: skip
    assert {r.endpoint.version for r in results} == {"0.1.0"}  # every call answered by 0.1.0
    attempts = sum(r.attempts for r in results)
    found = await served(platform, lambda f: requests(f) == attempts)
    for instance, stats in found.items():
        if versions[instance] == "0.2.0":
            assert stats["failures"] == stats["requests"] > 0
            assert stats["errors"] == {"UNAVAILABLE (injected)": stats["requests"]}
        else:
            assert stats["failures"] == 0 and stats["requests"] == 40


async def test_a_delay_fault_delays_only_its_method(platform: Platform) -> None:
    await inject(platform, delay="300ms", method=METHOD)
    await platform.start("analytics")
    async with patient_client(platform) as mesh:
        slow = await mesh.call("analytics", METHOD, {})
        other = await mesh.call("analytics", "GetActiveViolations", {})
    assert slow.latency >= 0.3 and slow.attempts == 1
    assert other.latency < 0.3


async def test_an_http_service_answers_the_injected_code_without_its_app(
    platform: Platform,
) -> None:
    await inject(platform, "auth", abort="503", method="verify")
    port = await platform.start("auth")
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
        verify = await http.get("/api/v1/auth/verify", headers={"authorization": "Bearer x"})
        health = await http.get("/api/v1/auth/health")  # the probe is never faulted
        login = await http.post("/api/v1/auth/login", json={"username": "a", "password": "b"})
    assert (verify.status_code, verify.json()) == (503, {"detail": "fault injected"})
    assert health.status_code == 200 and login.status_code == 401

    async with asyncio.timeout(15):
        while True:
            [report] = (
                await read_reports(platform.registry.redis, platform.registry.prefix)
            ).servers
            if "verify" in report["served"] and "login" in report["served"]:
                break
            await asyncio.sleep(0.1)
    assert report["served"]["verify"]["errors"] == {"HTTP 503 (injected)": 1}
    assert report["served"]["verify"]["failures"] == 1
    assert report["served"]["login"]["errors"] == {"HTTP 401": 1}  # the app's own answer


async def test_a_fault_reaches_running_servers_and_expires_by_itself(platform: Platform) -> None:
    port = await platform.start("analytics")
    async with patient_client(platform) as mesh:
        assert (await mesh.call("analytics", METHOD, {})).attempts == 1
    fault = await inject(platform, abort="UNAVAILABLE", ttl="2s")
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = analytics_pb2_grpc.AnalyticsServiceStub(channel)

        async def code() -> grpc.StatusCode:
            await asyncio.sleep(0.05)
            try:
                await stub.GetTrafficMetrics(common_pb2.GetTrafficMetricsRequest())
            except grpc.aio.AioRpcError as exc:
                return exc.code()
            return grpc.StatusCode.OK

        async with asyncio.timeout(15):
            while await code() is grpc.StatusCode.OK:  # picked up within a second or so
                pass
            assert time.time() < fault.expires_at
            while (last := await code()) is not grpc.StatusCode.OK:
                assert last is grpc.StatusCode.UNAVAILABLE
    assert time.time() >= fault.expires_at  # over by itself, once its time was up
    # the record may still be there: nothing needs to remove it for the fault to end
    assert await read_faults(platform.registry.redis, platform.registry.prefix) == ([], [])


async def test_garbage_records_are_skipped_and_the_valid_fault_applies(
    platform: Platform, caplog: pytest.LogCaptureFixture
) -> None:
    redis, prefix = platform.registry.redis, platform.registry.prefix
    await redis.hset(
        faults_key(prefix),
        mapping={"junk": "{not json", "list": "[1, 2]", "wrong": json.dumps({"id": "wrong"})},
    )
    fault = await inject(platform, abort="UNAVAILABLE")
    with caplog.at_level(logging.WARNING, logger="meshctl.registry.faults"):
        port = await platform.start("analytics")
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        with pytest.raises(grpc.aio.AioRpcError) as failed:
            stub = analytics_pb2_grpc.AnalyticsServiceStub(channel)
            await stub.GetTrafficMetrics(common_pb2.GetTrafficMetricsRequest())
    assert failed.value.code() is grpc.StatusCode.UNAVAILABLE
    skipped = " ".join(r.getMessage() for r in caplog.records)
    assert "'junk'" in skipped and "'list'" in skipped and "'wrong'" in skipped
    faults, problems = await read_faults(redis, prefix)
    assert [f.id for f in faults] == [fault.id] and len(problems) == 3
    assert await clear_faults(redis, prefix, everything=True) == [fault.id]
    assert await redis.hlen(faults_key(prefix)) == 0  # --all takes the garbage too
