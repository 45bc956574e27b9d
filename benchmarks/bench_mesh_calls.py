"""Mesh call overhead: ``call_service`` against a bare grpc.aio stub, same server, same run.

A minimal gRPC server runs in its own process (it answers with a fixed
reply, so the figures are the calling side's). In this process, rounds
alternate between a bare ``channel.unary_unary`` multicallable fed protobuf
messages and ``ServiceMeshClient.call_service`` fed dicts (as services call
it: discovery from the cached registry view, health-aware pick, endpoint
and service breakers, correlation headers, statistics, dict↔protobuf), and
"mesh-pb": the same fed a protobuf message with ``as_message=True``, which
leaves out the dict conversions and so shows the mesh's own cost.
Throughput is measured with CONCURRENCY calls in flight (the client's CPU
is the limit); latency with one call in flight, so that it is each call's
own cost and not the queue behind the other 15. Reported: the median over
ROUNDS of calls/s, p50 and p99, and the verdict against the targets (mesh
≥ 80 % of bare throughput, < 0.5 ms added at p50).
Run: .venv/bin/python benchmarks/bench_mesh_calls.py [--profile]
"""

from __future__ import annotations

import asyncio
import sys
import uuid

import grpc
from meshbench import PATH, REQUEST, closed_loop, echo_servers, load_average, median, pct

from meshctl.config import MeshSettings
from meshctl.core.endpoint import ServiceEndpoint
from meshctl.mesh import open_mesh
from meshctl.proto.its.v1 import common_pb2
from meshctl.registry import open_registry

CALLS = 4000
CONCURRENCY = 16
LATENCY_CALLS = 1000
ROUNDS = 5


async def bench(port: int) -> None:
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    registry = open_registry(MeshSettings(prefix=prefix))
    endpoint = ServiceEndpoint(
        "analytics", "127.0.0.1", port, metadata={"grpc_services": "its.v1.AnalyticsService"}
    )
    await registry.register_service("analytics", endpoint, ttl=120)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    stub = channel.unary_unary(
        PATH,
        request_serializer=common_pb2.GetTrafficMetricsRequest.SerializeToString,
        response_deserializer=common_pb2.GetTrafficMetricsResponse.FromString,
    )
    message = common_pb2.GetTrafficMetricsRequest(camera_id="cam001")
    rows: dict[str, list[tuple[float, float, float]]] = {"bare": [], "mesh": [], "mesh-pb": []}
    async with open_mesh(name="bench", registry=registry, events=False) as mesh:

        async def bare_call() -> object:
            return await stub(message, timeout=10)

        async def mesh_call() -> object:
            return await mesh.call_service("analytics", "GetTrafficMetrics", REQUEST, timeout=10)

        async def mesh_message_call() -> object:
            return await mesh.call_service(
                "analytics", "GetTrafficMetrics", message, timeout=10, as_message=True
            )

        contenders = (("bare", bare_call), ("mesh", mesh_call), ("mesh-pb", mesh_message_call))
        for _, call in contenders:  # warm channels, caches, method lookup
            await closed_loop(call, CONCURRENCY, 500)
        if "--profile" in sys.argv:
            await profile(mesh_call)
            return
        for _ in range(ROUNDS):
            for name, call in contenders:
                rate, _ = await closed_loop(call, CONCURRENCY, CALLS)
                _, lat = await closed_loop(call, 1, LATENCY_CALLS)
                rows[name].append((rate, pct(lat, 50), pct(lat, 99)))
    await channel.close()
    await registry.deregister_service("analytics", endpoint.instance_id)
    await registry.aclose()
    report(rows)


async def profile(call) -> None:  # type: ignore[no-untyped-def]
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.0005, async_mode="enabled")
    profiler.start()
    await closed_loop(call, CONCURRENCY, CALLS)
    profiler.stop()
    print(profiler.output_text(unicode=False, color=False, show_all=False))


def report(rows: dict[str, list[tuple[float, float, float]]]) -> None:
    figures = {
        name: tuple(median([r[i] for r in runs]) for i in range(3)) for name, runs in rows.items()
    }
    print(f"{ROUNDS} rounds; load average {load_average()}")
    print(f"{'path':<6} {'calls/s':>9} {'p50 ms':>8} {'p99 ms':>8}   (median of rounds)")
    print(f"{'':<6} {f'{CONCURRENCY} in flight':>9} {'1 in flight':>17}")
    for name, (rate, p50, p99) in figures.items():
        print(f"{name:<7} {rate:>9.0f} {p50:>8.3f} {p99:>8.3f}")
    for name in ("mesh", "mesh-pb"):
        share = figures[name][0] / figures["bare"][0]
        added = figures[name][1] - figures["bare"][1]
        print(f"{name}: throughput {share:.1%} of bare (target >= 80%): "
              f"{'met' if share >= 0.8 else 'MISSED'}; added at p50 {added:.3f} ms "
              f"(target < 0.5 ms): {'met' if added < 0.5 else 'MISSED'}")  # fmt: skip


def main() -> None:
    with echo_servers(1) as (ports, _):
        asyncio.run(bench(ports[0]))


if __name__ == "__main__":
    main()
