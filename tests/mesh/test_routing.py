"""Route tables and zones applied by a real mesh client to real services on loopback."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter

import pytest

from meshctl.core.balancer import LoadBalancingStrategy
from meshctl.core.breaker import CircuitBreakerConfig
from meshctl.core.endpoint import HealthStatus
from meshctl.core.faults import fault_from_options
from meshctl.core.routing import split_document
from meshctl.errors import CallTimeoutError, MeshError
from meshctl.mesh import ServiceMeshClient, open_mesh
from meshctl.registry.faults import inject_fault
from meshctl.registry.routes import set_table
from meshctl.testing import Platform


async def until_routed(mesh: ServiceMeshClient, service: str, revision: int) -> None:
    """Wait for the client's copy of the table to reach ``revision`` (pushed, not polled)."""
    assert mesh.routes is not None
    for _ in range(200):
        table = mesh.routes.get(service)
        if table is not None and table.revision >= revision:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"route revision {revision} of {service} never arrived")


async def versions_of(mesh: ServiceMeshClient, calls: int, **options: object) -> Counter[str]:
    seen: Counter[str] = Counter()
    for _ in range(calls):
        result = await mesh.call("analytics", "GetTrafficMetrics", {}, **options)  # type: ignore[arg-type]
        seen[result.endpoint.version or "?"] += 1
    return seen


async def test_a_95_5_split_holds_over_4000_calls(platform: Platform) -> None:
    await platform.start("analytics", instance_version="0.1.0")
    await platform.start("analytics", instance_version="0.2.0")
    mesh = open_mesh(platform.settings, name="router", registry=platform.registry, events=False,
                     rng=random.Random(11))  # fmt: skip
    async with mesh:
        table = await set_table(
            platform.registry.redis, platform.registry.prefix,
            split_document("analytics", {"v0.1.0": 95, "v0.2.0": 5}),
        )  # fmt: skip
        await until_routed(mesh, "analytics", table.revision)
        seen = await versions_of(mesh, 4000)
    assert sum(seen.values()) == 4000
    assert abs(seen["0.2.0"] / 4000 - 0.05) <= 0.02, seen


async def test_a_header_pins_calls_to_a_subset_and_others_stay_off_it(platform: Platform) -> None:
    await platform.start("analytics", instance_version="0.1.0")
    await platform.start("analytics", instance_version="0.2.0")
    document = {
        "service": "analytics",
        "subsets": {"stable": {"version": "0.1.0"}, "canary": {"version": "0.2.0"}},
        "rules": [{"match": {"headers": {"x-canary": "1"}}, "route": "canary"},
                  {"route": "stable"}],
    }  # fmt: skip
    async with open_mesh(
        platform.settings, name="r", registry=platform.registry, events=False
    ) as mesh:
        table = await set_table(platform.registry.redis, platform.registry.prefix, document)
        await until_routed(mesh, "analytics", table.revision)
        assert await versions_of(mesh, 50, metadata={"x-canary": "1"}) == {"0.2.0": 50}
        assert await versions_of(mesh, 10, metadata={"X-Canary": "1"}) == {"0.2.0": 10}
        assert await versions_of(mesh, 50) == {"0.1.0": 50}


async def test_an_empty_subset_falls_back_to_the_whole_service(platform: Platform) -> None:
    await platform.start("analytics", instance_version="0.1.0")
    async with open_mesh(
        platform.settings, name="r", registry=platform.registry, events=False
    ) as mesh:
        table = await set_table(
            platform.registry.redis, platform.registry.prefix,
            split_document("analytics", {"v9.9.9": 100}),
        )  # fmt: skip
        await until_routed(mesh, "analytics", table.revision)
        assert await versions_of(mesh, 10) == {"0.1.0": 10}


async def test_calls_stay_in_the_zone_until_it_has_no_healthy_instance(platform: Platform) -> None:
    for zone in ("a", "a", "b", "b"):
        await platform.start("analytics", zone=zone)
    async with open_mesh(platform.settings, name="zoned", registry=platform.registry,
                         events=False, zone="a") as mesh:  # fmt: skip
        zones: Counter[str | None] = Counter()
        for _ in range(400):
            result = await mesh.call("analytics", "GetTrafficMetrics", {})
            zones[result.endpoint.zone] += 1
        assert zones["a"] / 400 >= 0.95, zones
        for endpoint in await platform.registry.discover_services("analytics"):
            if endpoint.zone == "a":
                await platform.registry.set_health("analytics", endpoint.instance_id,
                                                   HealthStatus.UNHEALTHY)  # fmt: skip
        await mesh.watcher.refresh("analytics")  # type: ignore[union-attr]
        spilled: Counter[str | None] = Counter()
        for _ in range(40):
            spilled[(await mesh.call("analytics", "GetTrafficMetrics", {})).endpoint.zone] += 1
        assert spilled["b"] == 40, spilled


async def test_a_rules_attempts_and_timeout_override_the_clients(platform: Platform) -> None:
    faulty = fault_from_options("analytics", now=time.time(), abort="UNAVAILABLE", zone="bad")
    await inject_fault(platform.registry.redis, platform.registry.prefix, faulty)
    slow = fault_from_options("analytics", now=time.time(), delay="500ms", method="GenerateReport")
    await inject_fault(platform.registry.redis, platform.registry.prefix, slow)
    for zone in ("bad", "good"):
        await platform.start("analytics", zone=zone)
    document = {
        "service": "analytics",
        "subsets": {"all": {"version": platform.settings.instance_version or "0.1.0"}},
        "rules": [{"match": {"method": "GenerateReport"}, "route": "all", "timeout": "100ms"},
                  {"match": {"headers": {"x-once": "1"}}, "route": "all", "attempts": 1}],
    }  # fmt: skip
    never_open = CircuitBreakerConfig(failure_threshold=10**6, request_volume_threshold=10**6)
    mesh = open_mesh(
        platform.settings, name="r", registry=platform.registry, events=False,
        strategy=LoadBalancingStrategy.ROUND_ROBIN, breaker_config=never_open,
    )  # fmt: skip
    async with mesh:
        table = await set_table(platform.registry.redis, platform.registry.prefix, document)
        await until_routed(mesh, "analytics", table.revision)
        retried = [await mesh.call("analytics", "GetTrafficMetrics", {}) for _ in range(20)]
        assert {r.endpoint.zone for r in retried} == {"good"}  # the bad one's were retried
        failed = 0
        for _ in range(20):
            try:
                await mesh.call("analytics", "GetTrafficMetrics", {}, metadata={"x-once": "1"})
            except MeshError:
                failed += 1
        assert 5 <= failed <= 15  # round robin: about every other call, never retried
        # (a lost connection: the request may have been sent, so `attempts: 1` holds)
        started = time.monotonic()
        with pytest.raises(CallTimeoutError):
            await mesh.call("analytics", "GenerateReport", {"camera_ids": ["cam001"]},
                            timeout=30)  # fmt: skip
        assert time.monotonic() - started < 0.4  # the rule's 100 ms, not the call's 30 s
