"""The platform's performance targets, measured with meshctl's own load test.

Sections (all by default, or name some):
  throughput  reference analytics (2 instances, own processes, SQLite) through the
              full mesh path with ``meshctl loadtest`` (open loop, 30 s): target
              >= 1,000 rps, p99 < 100 ms, no errors; ProcessDetections apart.
  failover    3 analytics instances, one SIGKILLed mid-run and restarted on its
              port: success >= 99.9 %, its breaker open within 1 s, traffic back
              within one half-open probe after timeout_duration (2 s here).
  generator   the load test (--direct) against a minimal bare grpc.aio loop,
              same server, same concurrency: target >= 90 %.
  scale       1,000 synthetic instances: discovery < 5 ms, pick < 10 us, mesh
              client memory growth < 50 MB.
  heartbeat   10,000 instances of 100 services heartbeating every 10 s against
              the real Redis without falling behind.
The load generator and the servers share the 2-core machine.
Run: .venv/bin/python benchmarks/bench_platform.py [SECTION ...]
"""

from __future__ import annotations

import asyncio
import itertools
import os
import resource
import sys
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import Callable
from typing import Any

import grpc
import redis.asyncio as aioredis
from meshbench import (
    PATH,
    AnalyticsFleet,
    closed_loop,
    cpu_seconds,
    echo_servers,
    load_average,
    loadtest,
    median,
    show,
    timed,
)

from meshctl.config import MeshSettings
from meshctl.core.balancer import LoadBalancer, LoadBalancingStrategy
from meshctl.core.breaker import CircuitBreakerConfig, CircuitState
from meshctl.core.endpoint import ServiceEndpoint
from meshctl.loadtest.callers import mesh_caller, open_caller
from meshctl.loadtest.engine import LoadRun
from meshctl.loadtest.plan import LoadPlan
from meshctl.loadtest.schedule import Schedule
from meshctl.mesh import open_mesh
from meshctl.proto.its.v1 import common_pb2
from meshctl.registry import ServiceRegistry, open_registry

REDIS_URL = MeshSettings().redis_url


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


async def cleanup(prefix: str) -> None:
    client = aioredis.Redis.from_url(REDIS_URL)
    keys = [k async for k in client.scan_iter(match=f"{prefix}:*", count=5000)]
    for i in range(0, len(keys), 5000):
        await client.delete(*keys[i : i + 5000])
    await client.aclose()


# -- throughput ------------------------------------------------------------------


def throughput() -> None:
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory() as tmp:
        fleet = AnalyticsFleet(REDIS_URL, prefix, tmp)
        try:
            for _ in range(2):
                fleet.start()
            runs = (("GetTrafficMetrics", 1010, 1000), ("GetActiveViolations", 1010, 1000),
                    ("GetTrafficMetrics", 500, 495))  # fmt: skip
            for method, rate, floor in runs:
                slo = f"p99<100ms,errors<=0,rps>={floor}"
                data = loadtest(
                    REDIS_URL, prefix, "analytics", method, "--rps", str(rate), "--duration", "30s",
                    "--warmup", "3s", "--slo", slo,
                )  # fmt: skip
                show(f"{method} at {rate} rps, slo {slo}", data)
                print(f"  per instance: {data['summary']['endpoints']}")
            capacity(fleet, prefix)
            data = loadtest(
                REDIS_URL, prefix, "analytics", "ProcessDetections", "-c", "8", "--duration", "10s",
                "--warmup", "1s",
            )  # fmt: skip
            show("ProcessDetections, closed loop, 8 in flight", data)
        finally:
            fleet.stop_all()
            asyncio.run(cleanup(prefix))


def capacity(fleet: AnalyticsFleet, prefix: str) -> None:
    """Closed loop flat out: the most the machine does, and where each request's CPU goes."""
    servers = [proc.pid for proc in fleet.procs.values()]
    before = sum(cpu_seconds(pid) for pid in servers)
    client_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    data = loadtest(
        REDIS_URL, prefix, "analytics", "GetTrafficMetrics", "-c", "64", "--duration", "10s"
    )
    client_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    server_cpu = sum(cpu_seconds(pid) for pid in servers) - before
    client_cpu = (client_after.ru_utime + client_after.ru_stime) - (
        client_before.ru_utime + client_before.ru_stime
    )
    show("GetTrafficMetrics flat out, closed loop, 64 in flight", data)
    n = data["summary"]["requests"]
    print(
        f"  CPU per request: servers {server_cpu / n * 1000:.2f} ms, load generator (mesh "
        f"path, incl. start-up) {client_cpu / n * 1000:.2f} ms; 1,000 rps needs "
        f"{(server_cpu + client_cpu) / n * 1000:.1f} cores"
    )


# -- failover --------------------------------------------------------------------


async def failover() -> None:
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    rate, length, kill_at, restart_at = 300.0, 14.0, 3.0, 6.0
    config = CircuitBreakerConfig(failure_threshold=5, timeout_duration=2.0)
    with tempfile.TemporaryDirectory() as tmp:
        fleet = AnalyticsFleet(REDIS_URL, prefix, tmp)
        ports = [fleet.start() for _ in range(3)]
        victim_port = ports[0]
        registry = open_registry(MeshSettings(redis_url=REDIS_URL, prefix=prefix))
        victim = next(e for e in await registry.discover_services("analytics")
                      if e.port == victim_port)  # fmt: skip
        changes: list[tuple[float, CircuitState]] = []
        served: list[float] = []
        t0 = time.monotonic()
        plan = LoadPlan("analytics", "GetTrafficMetrics", schedule=Schedule.constant(rate),
                        duration=length, max_in_flight=500)  # fmt: skip
        async with open_mesh(
            name="bench-failover", registry=registry, events=False, breaker_config=config
        ) as mesh:

            def on_change(service, instance_id, old, new, breaker) -> None:  # type: ignore[no-untyped-def]
                if instance_id == victim.instance_id:
                    changes.append((time.monotonic() - t0, new))

            mesh.breakers.add_listener(on_change)
            inner = mesh_caller(mesh, plan)

            async def caller(request: Any) -> str | None:
                instance = await inner(request)
                if instance == victim.instance_id:
                    served.append(time.monotonic() - t0)
                return instance

            run = LoadRun(plan, caller)
            task = asyncio.ensure_future(run.run())
            await asyncio.sleep(kill_at)
            fleet.kill(victim_port)
            killed = time.monotonic() - t0
            await asyncio.sleep(restart_at - kill_at)
            await asyncio.to_thread(fleet.start, victim_port)
            restarted = time.monotonic() - t0
            result = await task
        fleet.stop_all()
        await registry.aclose()
        await cleanup(prefix)
    s = result.summary()
    success = s["ok"] / max(s["requests"] + s["not_started"], 1)
    opened = next((t for t, state in changes if state is CircuitState.OPEN), None)
    back = next((t for t in served if t > restarted), None)
    print(
        f"{rate:.0f} rps for {length:.0f} s over 3 instances; victim killed at {killed:.2f} s, "
        f"restarted at {restarted:.2f} s; breaker timeout_duration {config.timeout_duration} s"
    )
    print(
        f"  requests {s['requests']}, ok {s['ok']}, status {s['status']}, "
        f"p99 {s['latency_ms']['p99']:.1f} ms, max {s['latency_ms']['max']:.1f} ms"
    )
    print(f"  success {success:.4%} (target >= 99.9%): {verdict(success >= 0.999)}")
    if opened is not None:
        print(
            f"  breaker open {opened - killed:.3f} s after the kill (target < 1 s): "
            f"{verdict(opened - killed < 1)}"
        )
    print("  victim breaker: " + ", ".join(f"{t:.2f}s {st.value}" for t, st in changes))
    if back is not None:
        print(f"  victim served again {back - restarted:.2f} s after the restart")


# -- generator -------------------------------------------------------------------


async def generator() -> None:
    concurrency, calls, rounds = 32, 15_000, 3
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    with echo_servers(1) as (ports, _):
        settings = MeshSettings(redis_url=REDIS_URL, prefix=prefix)
        registry = open_registry(settings)
        meta = {"grpc_services": "its.v1.AnalyticsService"}
        endpoint = ServiceEndpoint("analytics", "127.0.0.1", ports[0], metadata=meta)
        await registry.register_service("analytics", endpoint, ttl=300)
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{ports[0]}")
        stub = channel.unary_unary(
            PATH,
            request_serializer=common_pb2.GetTrafficMetricsRequest.SerializeToString,
            response_deserializer=common_pb2.GetTrafficMetricsResponse.FromString,
        )
        message = common_pb2.GetTrafficMetricsRequest(camera_id="cam001")

        async def bare() -> object:
            return await stub(message, timeout=10)

        rows: dict[str, list[float]] = {"bare loop": [], "loadtest --direct": [],
                                        "loadtest (mesh)": []}  # fmt: skip
        for _ in range(rounds):
            rows["bare loop"].append((await closed_loop(bare, concurrency, calls))[0])
            for name, direct in (("loadtest --direct", True), ("loadtest (mesh)", False)):
                plan = LoadPlan("analytics", "GetTrafficMetrics", concurrency=concurrency,
                                requests=calls, direct=direct)  # fmt: skip
                async with open_caller(plan, settings) as caller:
                    result = await LoadRun(plan, caller).run()
                rows[name].append(result.ok / result.elapsed)
        await channel.close()
        await registry.aclose()
        await cleanup(prefix)
    figures = {name: median(values) for name, values in rows.items()}
    print(
        f"{calls} calls, {concurrency} in flight, median of {rounds} rounds; load {load_average()}"
    )
    for name, rate in figures.items():
        print(f"  {name:<18} {rate:8.0f} calls/s  {rate / figures['bare loop']:.0%}")
    share = figures["loadtest --direct"] / figures["bare loop"]
    print(f"  loadtest --direct / bare loop {share:.1%} (target >= 90%): {verdict(share >= 0.9)}")


# -- scale -----------------------------------------------------------------------


async def scale() -> None:
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    settings = MeshSettings(redis_url=REDIS_URL, prefix=prefix)
    registry = open_registry(settings)
    endpoints = [ServiceEndpoint("analytics", "10.0.0.1", 20000 + i, zone=f"z{i % 3}")
                 for i in range(1000)]  # fmt: skip
    for i in range(0, len(endpoints), 100):  # batches: the client's pool is bounded
        await asyncio.gather(*(registry.register_service("analytics", e, ttl=300)
                               for e in endpoints[i : i + 100]))  # fmt: skip
    discover = []
    for _ in range(50):
        with timed() as took:
            found = await registry.discover_services("analytics")
        discover.append(took())
    assert len(found) == 1000
    cold = open_registry(settings)  # no parse cache: first discovery
    with timed() as first:
        await cold.discover_services("analytics")
    await cold.aclose()

    # Picks first, on a client of their own: tracemalloc slows every allocation.
    picker = open_mesh(name="bench-pick", registry=registry, events=False, control=False)
    async with picker:
        pick: Callable[[], Any] = lambda: picker.pick("analytics")  # noqa: E731
        await pick()
        picks = 20_000
        start = time.process_time()
        for _ in range(picks):
            await pick()
        per_pick = (time.process_time() - start) / picks

    rss_before = _rss_mb()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    mesh = open_mesh(name="bench-scale", registry=registry, events=False, control=False)
    await mesh.start()
    balancer = LoadBalancer(LoadBalancingStrategy.HEALTH_AWARE)
    await mesh.pick("analytics")
    # Every instance called: each gets its breaker, statistics and balancer record.
    for ep in found:
        breaker = mesh.breakers.endpoint(ep)
        stats = mesh.stats_of(ep)
        for _ in range(3):
            breaker.allow()
            stats.start()
            balancer.on_start(ep)
            stats.finish(0.002)
            breaker.record_success(0.002)
            balancer.on_finish(ep, 0.002, True)
    mesh.report_stats()
    growth = (tracemalloc.get_traced_memory()[0] - base) / 2**20
    tracemalloc.stop()
    rss_growth = _rss_mb() - rss_before
    await mesh.aclose()
    await registry.aclose()
    await cleanup(prefix)
    d = sorted(discover)
    print(f"1,000 instances of one service; load {load_average()}")
    print(
        f"  discovery: median {median(d) * 1000:.2f} ms, p90 {d[44] * 1000:.2f} ms "
        f"(first, unparsed: {first() * 1000:.2f} ms) (target < 5 ms): "
        f"{verdict(median(d) < 0.005)}"
    )
    print(
        f"  pick through the mesh client (cached view, breaker filter, health-aware): "
        f"{per_pick * 1e6:.2f} us CPU (target < 10 us): {verdict(per_pick < 10e-6)}"
    )
    print(
        f"  mesh client memory growth with all 1,000 called: {growth:.1f} MB traced, "
        f"max RSS +{rss_growth:.1f} MB (target < 50 MB): {verdict(growth < 50)}"
    )


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# -- heartbeat -------------------------------------------------------------------


class TimedRegistry(ServiceRegistry):
    """Records when each instance's heartbeat completed."""

    beats: dict[str, list[float]]

    async def heartbeat(self, name: str, instance_id: str, ttl: float = 60) -> bool:
        renewed = await super().heartbeat(name, instance_id, ttl)
        self.beats.setdefault(instance_id, []).append(time.monotonic())
        return renewed


async def heartbeat() -> None:
    services, per_service, interval, ttl, watch = 100, 100, 10.0, 30.0, 32.0
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    registry = TimedRegistry(REDIS_URL, prefix=prefix)
    registry.beats = {}
    endpoints = [ServiceEndpoint(f"svc{s:03d}", "10.1.0.1", 1000 + i)
                 for s in range(services) for i in range(per_service)]  # fmt: skip
    keepalives = [registry.keep_alive(e, ttl=ttl, interval=interval) for e in endpoints]
    with timed() as registering:
        for i in range(0, len(keepalives), 100):
            await asyncio.gather(*(k.__aenter__() for k in keepalives[i : i + 100]))
    counts = []
    t0 = time.monotonic()
    while time.monotonic() - t0 < watch:
        await asyncio.sleep(2.0)
        snap = await registry.snapshot()
        counts.append(sum(len(v) for v in snap.values()))
    await asyncio.gather(*(k.__aexit__(None, None, None) for k in keepalives))
    await registry.aclose()
    await cleanup(prefix)
    gaps = sorted(b - a for beats in registry.beats.values() for a, b in itertools.pairwise(beats))
    beaten = sum(1 for beats in registry.beats.values() if beats)
    print(
        f"{len(endpoints)} instances, {services} services, heartbeat every {interval:.0f} s, "
        f"ttl {ttl:.0f} s, watched {watch:.0f} s; load {load_average()}"
    )
    print(f"  registering all took {registering():.1f} s")
    print(
        f"  instances that heartbeat: {beaten}; live instances seen every 2 s: "
        f"min {min(counts)}, max {max(counts)}"
    )
    if gaps:
        print(
            f"  gap between an instance's heartbeats: median {median(gaps):.2f} s, "
            f"max {gaps[-1]:.2f} s"
        )
    ok = min(counts) == len(endpoints) and beaten == len(endpoints) and gaps[-1] < interval * 1.5
    print(f"  kept up (all live throughout, every gap < 1.5 x interval): {verdict(ok)}")


SECTIONS: dict[str, Callable[[], Any]] = {
    "throughput": throughput,
    "failover": lambda: asyncio.run(failover()),
    "generator": lambda: asyncio.run(generator()),
    "scale": lambda: asyncio.run(scale()),
    "heartbeat": lambda: asyncio.run(heartbeat()),
}


def main() -> None:
    chosen = sys.argv[1:] or list(SECTIONS)
    unknown = [name for name in chosen if name not in SECTIONS]
    if unknown:
        raise SystemExit(f"unknown section {unknown}; choose from {', '.join(SECTIONS)}")
    print(f"{os.cpu_count()} cores, Python {sys.version.split()[0]}")
    for name in chosen:
        print(f"\n== {name}")
        SECTIONS[name]()


if __name__ == "__main__":
    main()
