"""The registry at scale: simulated instances heartbeating while clients discover, on a real Redis.

For each size N (default 1,000 / 2,500 / 5,000 / 10,000 instances spread over
100 services), N ``KeepAlive``s (the code every service runs: jittered
beats, re-registration when a record vanishes) beat every ``--interval``
seconds for ``--seconds``, while a second registry client discovers random
services in a loop and a ``RegistryWatcher`` (what every mesh client holds)
keeps every service's view. Measured per size:

- Redis CPU (``INFO cpu``, user+sys seconds per second of wall time) and
  commands per second (``INFO stats``), over the measuring window;
- heartbeat latency p50/p99 (one ``heartbeat`` script call, timed in the
  simulating process, a process of its own, event-loop lag included; that
  process's lag p99 is printed beside it, so a slow beat can be told from a
  busy simulator);
- discovery p50/p99 of one service of N/100 instances;
- the watcher's memory per 1,000 endpoints (tracemalloc, views of all services);
- one ``meshctl top`` fetch (``MeshReader.fetch``: every instance and report).

Baseline in the same run: the same Redis answering ``PING`` at the heartbeat
rate (the floor any registry pays per beat), so Redis CPU per beat is read
beside the cheapest command there is. The registry's cost must grow linearly
in N; the summary prints each figure per 1,000 instances to show it.

Run: ``.venv/bin/python benchmarks/bench_scale.py [--redis URL] [--plot scale.svg]``.
Without ``--redis`` it starts a ``redis-server`` of its own on a free port, so
the server-wide counters see nothing but the benchmark; the run takes a few minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import random
import statistics
import time
import tracemalloc
import uuid
from dataclasses import asdict, dataclass
from multiprocessing.connection import Connection
from pathlib import Path

import redis.asyncio as aioredis

from meshctl.config import MeshSettings
from meshctl.core.endpoint import ServiceEndpoint
from meshctl.embedded.redis import EmbeddedRedis
from meshctl.registry import ServiceRegistry, open_registry
from meshctl.registry.keepalive import KeepAlive
from meshctl.registry.watch import RegistryWatcher
from meshctl.tui.data import MeshReader

SERVICES = 100


class TimedRegistrar:
    """A registry whose heartbeats are timed: what KeepAlive is given in place of the registry."""

    def __init__(self, registry: ServiceRegistry) -> None:
        self.registry = registry
        self.beats: list[float] = []  # milliseconds
        self.timing = False

    async def register_service(self, name: str, endpoint: ServiceEndpoint, ttl: float = 60) -> str:
        return await self.registry.register_service(name, endpoint, ttl)

    async def heartbeat(self, name: str, instance_id: str, ttl: float = 60) -> bool:
        start = time.perf_counter()
        renewed = await self.registry.heartbeat(name, instance_id, ttl)
        if self.timing:
            self.beats.append((time.perf_counter() - start) * 1000)
        return renewed

    async def deregister_service(self, name: str, instance_id: str) -> bool:
        return await self.registry.deregister_service(name, instance_id)


@dataclass
class Row:
    instances: int
    redis_cpu: float  # cores (CPU seconds per second)
    ops_per_s: float
    beats_per_s: float
    beat_p50_ms: float
    beat_p99_ms: float
    lag_p99_ms: float  # the simulating process's event-loop lag
    discover_p50_ms: float
    discover_p99_ms: float
    watcher_kib_per_1000: float
    top_fetch_ms: float
    ping_cpu: float  # baseline: Redis CPU answering PING at the same rate


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] if ordered else float("nan")


async def redis_counters(client: aioredis.Redis) -> tuple[float, int]:
    """(CPU seconds used by the server, commands processed) so far."""
    cpu = await client.info("cpu")
    stats = await client.info("stats")
    return cpu["used_cpu_user"] + cpu["used_cpu_sys"], stats["total_commands_processed"]


def endpoint(index: int) -> ServiceEndpoint:
    service = f"svc{index % SERVICES:03d}"
    return ServiceEndpoint(service, "10.0.0.1", 10_000 + index, zone="a", instance_id=f"i{index}")


async def discover_loop(
    registry: ServiceRegistry, samples: list[float], stop: asyncio.Event
) -> None:
    rng = random.Random(1)
    while not stop.is_set():
        name = f"svc{rng.randrange(SERVICES):03d}"
        start = time.perf_counter()
        await registry.discover_services(name)
        samples.append((time.perf_counter() - start) * 1000)
        await asyncio.sleep(0.02)


async def ping_baseline(client: aioredis.Redis, rate: float, seconds: float) -> float:
    """Redis CPU (cores) answering PING ``rate`` times a second, spread like the beats."""
    cpu0, _ = await redis_counters(client)
    start = time.monotonic()
    sent = 0
    while (elapsed := time.monotonic() - start) < seconds:
        due = int(elapsed * rate)
        if due > sent:
            async with client.pipeline(transaction=False) as pipe:
                for _ in range(due - sent):
                    pipe.ping()
                await pipe.execute()
            sent = due
        await asyncio.sleep(0.005)
    cpu1, _ = await redis_counters(client)
    return (cpu1 - cpu0) / (time.monotonic() - start)


async def lag_probe(samples: list[float], stop: asyncio.Event, tick: float = 0.01) -> None:
    """How late the event loop wakes a 10 ms sleep: the simulating process's own delay."""
    while not stop.is_set():
        start = time.perf_counter()
        await asyncio.sleep(tick)
        samples.append((time.perf_counter() - start - tick) * 1000)


async def simulate(url: str, prefix: str, size: int, interval: float, conn: Connection) -> None:
    """The instances, in a process of their own: register, beat, and on "stop" report the
    timed beats and the loop's lag, then deregister everyone."""
    loop = asyncio.get_running_loop()
    registry = open_registry(MeshSettings(redis_url=url, prefix=prefix))
    timed = TimedRegistrar(registry)
    keepalives = [
        KeepAlive(timed, endpoint(i), ttl=interval * 3, interval=interval) for i in range(size)
    ]
    limit = asyncio.Semaphore(64)

    async def start(keepalive: KeepAlive) -> None:
        async with limit:
            await keepalive.start()

    try:
        await asyncio.gather(*(start(k) for k in keepalives))
        conn.send("ready")
        await loop.run_in_executor(None, conn.recv)  # "time"
        lag: list[float] = []
        stop = asyncio.Event()
        probe = asyncio.create_task(lag_probe(lag, stop))
        timed.timing = True
        await loop.run_in_executor(None, conn.recv)  # "stop"
        timed.timing = False
        stop.set()
        await probe
        conn.send((timed.beats, lag))
    finally:
        await asyncio.gather(*(k.stop() for k in keepalives), return_exceptions=True)
        await registry.aclose()


def simulate_process(url: str, prefix: str, size: int, interval: float, conn: Connection) -> None:
    asyncio.run(simulate(url, prefix, size, interval, conn))


async def measure(url: str, size: int, interval: float, seconds: float) -> Row:
    prefix = f"bench-scale-{uuid.uuid4().hex[:8]}"
    client_registry = open_registry(MeshSettings(redis_url=url, prefix=prefix))
    admin = aioredis.Redis.from_url(url)
    watcher = RegistryWatcher(client_registry)
    ours, theirs = multiprocessing.Pipe()
    simulator = multiprocessing.get_context("spawn").Process(
        target=simulate_process, args=(url, prefix, size, interval, theirs)
    )
    simulator.start()
    loop = asyncio.get_running_loop()
    try:
        if await loop.run_in_executor(None, ours.recv) != "ready":
            raise RuntimeError("the simulator did not start")
        # The beats that follow are spread over one interval by the jitter: let them settle.
        await asyncio.sleep(interval)

        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        await watcher.start()
        views = [await watcher.get(f"svc{s:03d}") for s in range(SERVICES)]
        watcher_bytes = tracemalloc.get_traced_memory()[0] - before
        tracemalloc.stop()
        assert sum(len(v) for v in views) == size, "the watcher must see every instance"

        reader = MeshReader(client_registry)
        fetches = []
        for _ in range(5):
            t0 = time.perf_counter()
            state = await reader.fetch()
            fetches.append((time.perf_counter() - t0) * 1000)
        assert sum(len(eps) for eps in state.services.values()) == size

        discover: list[float] = []
        stop = asyncio.Event()
        cpu0, ops0 = await redis_counters(admin)
        ours.send("time")
        started = time.monotonic()
        discovering = asyncio.create_task(discover_loop(client_registry, discover, stop))
        await asyncio.sleep(seconds)
        stop.set()
        await discovering
        elapsed = time.monotonic() - started
        cpu1, ops1 = await redis_counters(admin)
        await watcher.stop()  # the teardown's deregistrations are not part of the measure
        ours.send("stop")
        beats, lag = await loop.run_in_executor(None, ours.recv)
        beats_per_s = len(beats) / elapsed
        return Row(
            instances=size,
            redis_cpu=(cpu1 - cpu0) / elapsed,
            ops_per_s=(ops1 - ops0) / elapsed,
            beats_per_s=beats_per_s,
            beat_p50_ms=percentile(beats, 0.5),
            beat_p99_ms=percentile(beats, 0.99),
            lag_p99_ms=percentile(lag, 0.99),
            discover_p50_ms=percentile(discover, 0.5),
            discover_p99_ms=percentile(discover, 0.99),
            watcher_kib_per_1000=watcher_bytes / 1024 / (size / 1000),
            top_fetch_ms=statistics.median(fetches),
            ping_cpu=await ping_baseline(admin, beats_per_s, min(seconds, 10.0)),
        )
    finally:
        await watcher.stop()
        simulator.join(timeout=60)
        if simulator.is_alive():
            simulator.kill()
        keys = [key async for key in admin.scan_iter(match=f"{prefix}*", count=1000)]
        for chunk in range(0, len(keys), 1000):
            await admin.delete(*keys[chunk : chunk + 1000])
        await admin.aclose()
        await client_registry.aclose()


def render(rows: list[Row]) -> str:
    head = (
        f"{'instances':>9} {'redis CPU':>9} {'ops/s':>7} {'beats/s':>7} {'beat p50/p99 ms':>16} "
        f"{'lag p99':>8} "
        f"{'discover p50/p99 ms':>20} {'KiB/1k eps':>10} {'top fetch':>9} {'PING CPU':>8}"
    )
    lines = [head]
    for r in rows:
        beat = f"{r.beat_p50_ms:.2f}/{r.beat_p99_ms:.2f}"
        discover = f"{r.discover_p50_ms:.2f}/{r.discover_p99_ms:.2f}"
        lines.append(
            f"{r.instances:>9,} {r.redis_cpu * 100:>8.1f}% {r.ops_per_s:>7.0f} "
            f"{r.beats_per_s:>7.0f} {beat:>16} {r.lag_p99_ms:>6.1f}ms {discover:>20} "
            f"{r.watcher_kib_per_1000:>10.0f} {r.top_fetch_ms:>7.1f}ms {r.ping_cpu * 100:>7.1f}%"
        )
    lines.append("per 1,000 instances (flat = linear growth):")
    for r in rows:
        k = r.instances / 1000
        lines.append(
            f"{r.instances:>9,}  redis CPU {r.redis_cpu * 100 / k:5.2f}%"
            f"  ops/s {r.ops_per_s / k:6.0f}  top fetch {r.top_fetch_ms / k:6.2f} ms"
        )
    return "\n".join(lines)


def plot(rows: list[Row], path: Path) -> None:
    """A small SVG: each measured cost against N, normalised to its value at the largest N."""
    series = {
        "Redis CPU": [r.redis_cpu for r in rows],
        "Redis ops/s": [r.ops_per_s for r in rows],
        "top fetch": [r.top_fetch_ms for r in rows],
        "discovery p50": [r.discover_p50_ms for r in rows],
        "heartbeat p99": [r.beat_p99_ms for r in rows],
    }
    colours = ["#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e"]
    width, height, left, bottom, top, right = 640, 400, 60, 50, 30, 170
    xmax = max(r.instances for r in rows)

    def x(n: float) -> float:
        return left + (width - left - right) * n / xmax

    def y(v: float) -> float:
        return height - bottom - (height - bottom - top) * v

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        'font-family="sans-serif" font-size="12">',
        '<rect width="100%" height="100%" fill="white"/>',
        f'<text x="{left}" y="18">Registry cost against instances (each series / its value at '
        f"{xmax:,})</text>",
        f'<line x1="{x(0)}" y1="{y(0)}" x2="{x(xmax)}" y2="{y(0)}" stroke="black"/>',
        f'<line x1="{x(0)}" y1="{y(0)}" x2="{x(0)}" y2="{y(1)}" stroke="black"/>',
        f'<line x1="{x(0)}" y1="{y(0)}" x2="{x(xmax)}" y2="{y(1)}" stroke="#999" '
        'stroke-dasharray="4 4"/>',
        f'<text x="{x(xmax) - 60}" y="{y(1) - 6}" fill="#999">linear</text>',
    ]
    for r in rows:
        parts.append(f'<text x="{x(r.instances) - 15}" y="{y(0) + 16}">{r.instances:,}</text>')
    for tick in (0.0, 0.5, 1.0):
        parts.append(f'<text x="{left - 30}" y="{y(tick) + 4}">{tick:.1f}</text>')
    for index, (label, values) in enumerate(series.items()):
        peak = values[-1] or 1.0
        points = " ".join(
            f"{x(r.instances):.1f},{y(v / peak):.1f}" for r, v in zip(rows, values, strict=True)
        )
        colour = colours[index]
        parts.append(
            f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2"/>'
        )
        parts.append(
            f'<text x="{width - right + 10}" y="{top + 20 * index + 10}" '
            f'fill="{colour}">{label}</text>'
        )
    parts.append("</svg>")
    path.write_text("\n".join(parts) + "\n")


async def run(args: argparse.Namespace, url: str) -> list[Row]:
    rows = []
    for size in args.sizes:
        print(f"measuring {size:,} instances...", flush=True)
        rows.append(await measure(url, size, args.interval, args.seconds))
        print(render(rows[-1:]).splitlines()[1], flush=True)
    return rows


def main(args: argparse.Namespace) -> None:
    if args.redis:
        rows = asyncio.run(run(args, args.redis))
    else:
        with EmbeddedRedis(use_redis_server=True) as server:
            rows = asyncio.run(run(args, server.url))
    print(render(rows))
    if args.plot:
        plot(rows, Path(args.plot))
        print(f"plot written to {args.plot}")
    if args.json:
        Path(args.json).write_text(json.dumps([asdict(r) for r in rows], indent=2) + "\n")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis", help="a Redis URL (default: a redis-server of its own)")
    parser.add_argument("--sizes", type=lambda s: [int(n) for n in s.split(",")],
                        default=[1000, 2500, 5000, 10000])  # fmt: skip
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between beats")
    parser.add_argument("--seconds", type=float, default=30.0, help="measuring window per size")
    parser.add_argument("--plot", help="write an SVG of the curves to this file")
    parser.add_argument("--json", help="write the figures as JSON to this file")
    main(parser.parse_args())
