"""The engine against real services on loopback: closed and open loop, workers, stalls."""

from __future__ import annotations

import asyncio
import time

import pytest

from meshctl.core.balancer import LoadBalancingStrategy
from meshctl.errors import InvalidRequestError, UnknownMethodError
from meshctl.loadtest.callers import open_caller
from meshctl.loadtest.plan import LoadPlan
from meshctl.loadtest.schedule import Schedule
from meshctl.loadtest.workers import run_local, run_processes
from meshctl.testing import Platform

from .conftest import StallingServer


async def test_closed_loop_through_the_mesh(platform: Platform, mesh_settings):
    await platform.start("analytics")
    plan = LoadPlan("analytics", "GetTrafficMetrics", concurrency=4, requests=60)
    result = await run_local(plan, mesh_settings)
    summary = result.summary()
    assert summary["ok"] == 60 and summary["failed"] == 0
    assert summary["rps"] > 0 and 0 < summary["latency_ms"]["p50"] < 1000
    assert len(summary["endpoints"]) == 1


async def test_open_loop_spreads_over_instances_at_the_scheduled_rate(
    platform: Platform, mesh_settings
):
    for _ in range(2):
        await platform.start("analytics")
    plan = LoadPlan(
        "analytics", "GetActiveViolations", schedule=Schedule.constant(200), duration=0.5
    )
    started = time.monotonic()
    result = await run_local(plan, mesh_settings)
    summary = result.summary()
    assert summary["ok"] == 100 and summary["not_started"] == 0
    assert time.monotonic() - started >= 0.49
    # Health-aware balancing favours the faster instance; both must still be used.
    assert len(summary["endpoints"]) == 2 and sum(summary["endpoints"].values()) == 100


async def test_templated_data_reaches_the_service(platform: Platform, mesh_settings):
    await platform.start("analytics")
    template = '{"camera_id": "cam{{randint 1 3}}", "limit": {{randint 1 5}}}'
    plan = LoadPlan("analytics", "GetActiveViolations", requests=20, template=template)
    assert (await run_local(plan, mesh_settings)).ok == 20


async def test_warmup_is_not_counted(platform: Platform, mesh_settings):
    await platform.start("analytics")
    plan = LoadPlan("analytics", "GetTrafficMetrics", requests=10, warmup=0.2, concurrency=2)
    result = await run_local(plan, mesh_settings)
    assert result.requests == 10


async def test_direct_calls_one_endpoint(platform: Platform, mesh_settings):
    for _ in range(2):
        await platform.start("analytics")
    plan = LoadPlan("analytics", "GetTrafficMetrics", requests=30, direct=True, concurrency=3)
    summary = (await run_local(plan, mesh_settings)).summary()
    assert summary["ok"] == 30 and len(summary["endpoints"]) == 1


async def test_round_robin_alternates_between_two_instances(platform: Platform, mesh_settings):
    for _ in range(2):
        await platform.start("analytics")
    plan = LoadPlan(
        "analytics", "GetTrafficMetrics", requests=8, strategy=LoadBalancingStrategy.ROUND_ROBIN
    )
    async with open_caller(plan, mesh_settings) as caller:
        answered = [await caller({}) for _ in range(8)]
    first, second = answered[:2]
    assert first != second and answered == [first, second] * 4


async def test_workers_balance_with_the_plans_strategy(platform: Platform, mesh_settings):
    for _ in range(2):
        await platform.start("analytics")
    plan = LoadPlan(
        "analytics",
        "GetTrafficMetrics",
        concurrency=2,
        requests=40,
        workers=2,
        strategy=LoadBalancingStrategy.ROUND_ROBIN,
    )
    result = await asyncio.to_thread(run_processes, plan, mesh_settings)
    # Each worker's one caller alternates over its 20 requests: 10 each, whatever the pace.
    assert sorted(result.summary()["endpoints"].values()) == [20, 20]


def test_a_strategy_needs_the_mesh():
    with pytest.raises(InvalidRequestError, match="--direct bypasses it"):
        LoadPlan(
            "analytics",
            "GetTrafficMetrics",
            requests=1,
            direct=True,
            strategy=LoadBalancingStrategy.ROUND_ROBIN,
        )


async def test_remote_errors_are_counted_by_status(platform: Platform, mesh_settings):
    await platform.start("analytics")
    plan = LoadPlan("analytics", "ProcessDetections", requests=5, lines=({"frame": {}},))
    summary = (await run_local(plan, mesh_settings)).summary()
    assert summary["status"] == {"OK": 0, "INVALID_ARGUMENT": 5}


async def test_a_wrong_method_stops_the_run_as_bad_input(platform: Platform, mesh_settings):
    await platform.start("analytics")
    plan = LoadPlan("analytics", "NoSuchMethod", requests=1000, concurrency=4)
    with pytest.raises(UnknownMethodError):
        await run_local(plan, mesh_settings)


async def test_workers_merge_their_histograms(platform: Platform, mesh_settings):
    await platform.start("analytics")
    plan = LoadPlan("analytics", "GetTrafficMetrics", concurrency=2, requests=40, workers=2)
    seen = []
    result = await asyncio.to_thread(
        run_processes, plan, mesh_settings, lambda r, m: seen.append(r.ok)
    )
    summary = result.summary()
    assert summary["ok"] == 40 and result.latency.count == 40
    assert result.meta["workers"] == 2 and seen


async def test_open_loop_latency_includes_the_stall_a_closed_loop_hides(
    stalling: StallingServer, mesh_settings
):
    """Requests arriving in a 0.1 s window take 0.25 s each; p99 must show it."""
    stall = 0.25
    open_plan = LoadPlan(
        "stally",
        "GetTrafficMetrics",
        schedule=Schedule.constant(200),
        duration=1.0,
        max_in_flight=4,
    )
    closed_plan = LoadPlan("stally", "GetTrafficMetrics", concurrency=1, duration=1.0)
    results = {}
    for name, plan in (("open", open_plan), ("closed", closed_plan)):
        now = time.monotonic()
        stalling.stall_between(now + 0.3, now + 0.4, stall)
        results[name] = (await run_local(plan, mesh_settings)).summary()
    assert results["open"]["latency_ms"]["p99"] >= stall * 1000
    assert results["open"]["late"] > 0  # the in-flight bound held requests back
    assert results["closed"]["latency_ms"]["max"] >= stall * 1000  # it saw the stall...
    assert results["closed"]["latency_ms"]["p99"] < stall * 1000  # ...and hid it
