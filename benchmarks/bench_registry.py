"""Registry discovery and registration speed on the real Redis, against naive layouts.

Run: .venv/bin/python benchmarks/bench_registry.py [--redis URL]

Discovery of 10, 100 and 1,000 instances through ServiceRegistry (one Lua
round trip; "warm" reuses unchanged parsed endpoints as repeated discovery
does, "cold" parses every record) is compared in the same run with a naive
layout of one key per instance: SMEMBERS then one GET per instance, and the
same with the GETs pipelined. Registration throughput is measured one at a
time and 50 at once, against a naive SET EX + SADD transaction.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from functools import partial

import redis.asyncio as aioredis

from meshctl.config import MeshSettings
from meshctl.core.endpoint import ServiceEndpoint
from meshctl.registry import ServiceRegistry, open_registry, registry_key

SIZES = (10, 100, 1000)


async def bounded(calls: list[Awaitable[object]], at_once: int) -> None:
    """Await ``calls`` with at most ``at_once`` in flight (the client's pool is finite)."""
    limit = asyncio.Semaphore(at_once)

    async def one(call: Awaitable[object]) -> None:
        async with limit:
            await call

    await asyncio.gather(*(one(call) for call in calls))


def endpoints(name: str, count: int) -> list[ServiceEndpoint]:
    return [
        ServiceEndpoint(name, "10.0.0.1", 1 + i, metadata={"health_path": "/health"}, zone="a")
        for i in range(count)
    ]


async def timed(fn: Callable[[], Awaitable[object]], rounds: int) -> list[float]:
    """Milliseconds per call, after two warm-up calls."""
    for _ in range(2):
        await fn()
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        await fn()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def summary(samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"median {statistics.median(ordered):7.2f} ms  p99 {p99:7.2f} ms"


async def naive_register(client: aioredis.Redis, prefix: str, ep: ServiceEndpoint) -> None:
    async with client.pipeline(transaction=True) as pipe:
        pipe.set(
            registry_key(prefix, "naive", ep.service_name, ep.instance_id), ep.to_json(), ex=60
        )
        pipe.sadd(registry_key(prefix, "naive", ep.service_name), ep.instance_id)
        await pipe.execute()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


async def naive_discover(client: aioredis.Redis, prefix: str, name: str, pipelined: bool) -> int:
    ids = await client.smembers(registry_key(prefix, "naive", name))
    keys = [registry_key(prefix, "naive", name, _text(i)) for i in ids]
    if pipelined:
        async with client.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.get(key)
            raws = await pipe.execute()
    else:
        raws = [await client.get(key) for key in keys]
    return len([ServiceEndpoint.from_json(raw) for raw in raws if raw is not None])


async def bench_discovery(client: aioredis.Redis, registry: ServiceRegistry, prefix: str) -> None:
    print("Discovery (one service of N instances)")
    for size in SIZES:
        name = f"svc{size}"
        group = endpoints(name, size)
        await bounded([registry.register_service(name, ep) for ep in group], 50)
        await bounded([naive_register(client, prefix, ep) for ep in group], 50)
        assert len(await registry.discover_services(name)) == size
        rounds = 300 if size < 1000 else 100

        async def cold(name: str = name) -> None:
            registry.forget_parsed()
            await registry.discover_services(name)

        rows = {
            "registry, warm": await timed(partial(registry.discover_services, name), rounds),
            "registry, cold": await timed(cold, rounds),
            "naive, pipelined GETs": await timed(
                partial(naive_discover, client, prefix, name, True), rounds
            ),
            "naive, GET per instance": await timed(
                partial(naive_discover, client, prefix, name, False), max(10, rounds // 10)
            ),
        }
        for label, samples in rows.items():
            print(f"  N={size:5d}  {label:24s} {summary(samples)}")


async def bench_registration(
    client: aioredis.Redis, registry: ServiceRegistry, prefix: str
) -> None:
    print("Registration throughput (1,000 instances)")
    count = 1000

    async def naive(_name: str, ep: ServiceEndpoint) -> None:
        await naive_register(client, prefix, ep)

    registers: dict[str, Callable[[str, ServiceEndpoint], Awaitable[object]]] = {
        "registry": registry.register_service,
        "naive SET+SADD": naive,
    }
    for at_once in (1, 50):
        for label, register in registers.items():
            group = endpoints(f"reg-{label.split()[0]}-{at_once}", count)
            start = time.perf_counter()
            await bounded([register(ep.service_name, ep) for ep in group], at_once)
            elapsed = time.perf_counter() - start
            print(f"  {label + f', {at_once} at once':28s} {count / elapsed:8.0f} registrations/s")


async def main(url: str) -> None:
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    client = aioredis.Redis.from_url(url)
    registry = open_registry(MeshSettings(prefix=prefix), redis=client)
    try:
        await bench_discovery(client, registry, prefix)
        await bench_registration(client, registry, prefix)
    finally:
        keys = [key async for key in client.scan_iter(match=f"{prefix}:*", count=1000)]
        if keys:
            await client.delete(*keys)
        await client.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    asyncio.run(main(parser.parse_args().redis))
