"""Cost of one ``meshctl top`` refresh on a mesh of 100 services x 10 instances, in real Redis.

Registers the synthetic mesh (and a few mesh-client reports) under its own
prefix, then times, per refresh: the fetch (one pipelined round trip), the
pure computation of the view, and the redraw of the headless Textual app.
Baseline in the same run: the naive fetch, one ``discover_services`` per
service plus ``read_reports``. Each figure is the median of ROUNDS rounds.
Target: fetch + compute + redraw under 50 ms.
Run: ``.venv/bin/python benchmarks/bench_top.py`` (Redis at MESH_TEST_REDIS_URL
or 127.0.0.1:6379).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
import uuid
from typing import Any

import redis.asyncio as aioredis

from meshctl.config import MeshSettings
from meshctl.core.endpoint import HealthStatus, ServiceEndpoint
from meshctl.mesh.breakers import BreakerBook
from meshctl.mesh.control import ControlPlane
from meshctl.registry import ServiceRegistry, open_registry
from meshctl.registry.control import read_reports
from meshctl.tui.app import MeshTopApp
from meshctl.tui.data import MeshReader
from meshctl.tui.model import compute

SERVICES, INSTANCES, CLIENTS, ROUNDS = 100, 10, 5, 15
TARGET_MS = 50.0
URL = os.environ.get("MESH_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def stats(n: int) -> dict[str, Any]:
    failed = n // 50
    interval = {"requests": 10, "p50": 2.0, "p95": 6.0, "p99": 9.0}
    errors = {"CallTimeoutError": failed}
    return {"requests": n, "failures": failed, "active": 1, "errors": errors, "interval": interval}


async def populate(registry: ServiceRegistry, prefix: str) -> None:
    for s in range(SERVICES):
        for i in range(INSTANCES):
            ep = ServiceEndpoint(f"svc{s:03d}", "10.0.0.1", 20000 + s * INSTANCES + i,
                                 version="1.0", health_status=HealthStatus.HEALTHY)  # fmt: skip
            await registry.register_service(ep.service_name, ep, ttl=600)
    for c in range(CLIENTS):
        callees = [f"svc{s:03d}" for s in range(c * 20, c * 20 + 20)]

        def report(callees: list[str] = callees) -> dict[str, Any]:
            return {"services": {name: stats(1000) for name in callees}, "endpoints": {}}

        plane = ControlPlane(registry.redis, prefix, f"svc{c:03d}", BreakerBook(), report)
        await plane.publish()


async def timed(coro: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    result = await coro
    return (time.perf_counter() - start) * 1000, result


async def naive(registry: ServiceRegistry) -> int:
    names = await registry.list_services()
    found = [await registry.discover_services(name) for name in names]
    await read_reports(registry.redis, registry.prefix)
    return sum(len(f) for f in found)


async def main() -> None:
    client = aioredis.Redis.from_url(URL)
    prefix = f"bench-top-{uuid.uuid4().hex[:8]}"
    registry = open_registry(MeshSettings(prefix=prefix), redis=client)
    await populate(registry, prefix)
    reader = MeshReader(registry)
    samples: dict[str, list[float]] = {"fetch": [], "compute": [], "redraw": [], "naive": []}
    app = MeshTopApp(reader.fetch, interval=0)
    try:
        async with app.run_test(size=(200, 60)) as pilot:
            await pilot.pause()
            previous = await reader.fetch()
            for _ in range(ROUNDS):
                ms, state = await timed(reader.fetch())
                samples["fetch"].append(ms)
                start = time.perf_counter()
                view = compute(previous, state)
                samples["compute"].append((time.perf_counter() - start) * 1000)
                previous = state
                app.view = view
                start = time.perf_counter()
                app.show()
                samples["redraw"].append((time.perf_counter() - start) * 1000)
                await pilot.pause()
                ms, count = await timed(naive(registry))
                samples["naive"].append(ms)
        assert count == SERVICES * INSTANCES and len(view.services) == SERVICES
    finally:
        keys = [k async for k in client.scan_iter(match=f"{prefix}:*", count=1000)]
        if keys:
            await client.delete(*keys)
        await client.aclose()
    median = {name: statistics.median(values) for name, values in samples.items()}
    print(f"{SERVICES} services x {INSTANCES} instances, {CLIENTS} client reports, "
          f"median of {ROUNDS} refreshes")  # fmt: skip
    for name, value in median.items():
        print(f"{name:8} {value:8.2f} ms   (best {min(samples[name]):.2f})")
    total = median["fetch"] + median["compute"] + median["redraw"]
    verdict = "meets" if total < TARGET_MS else "MISSES"
    speedup = median["naive"] / median["fetch"]
    print(f"\nrefresh (fetch + compute + redraw): {total:.1f} ms, {verdict} the "
          f"{TARGET_MS:.0f} ms target; fetch {speedup:.1f}x faster than the naive one")  # fmt: skip


if __name__ == "__main__":
    asyncio.run(main())
