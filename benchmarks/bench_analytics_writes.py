"""Analytics' write path flat out: ProcessDetections frames/s, latency and server CPU per frame.

analytics runs as its own process (``AnalyticsFleet``: a fresh SQLite file,
or a fresh database on the local PostgreSQL with ``--postgres``), registered
in Redis; ``--replicas N`` runs N of them on that one database (the mesh
rows spread over them, the direct rows reach the first). This process calls
ProcessDetections with fresh frames (the sample frame of ``meshctl call``:
two detections, one speeding, so each frame writes a frame row and a
violation row) in closed loops of 16 and 64 callers:
"direct" over one gRPC channel, and "mesh" through ``ServiceMeshClient.call``
(discovery, balancer, breakers, correlation), as ``meshctl loadtest`` does.
The bare baseline is the direct loop against a server that answers at once
(meshbench's echo server, GetTrafficMetrics): what the client and gRPC cost
on this machine, which the service can not beat; its server CPU per call is
gRPC's own floor. Client and server share the 2 cores, so the client's CPU
per call is printed too.
With ``--rps R`` it then runs ``meshctl loadtest analytics ProcessDetections
--rps R`` (open loop, through the mesh, its own process) with the SLO
``p99<100ms,errors<0.1%``.
Run: .venv/bin/python benchmarks/bench_analytics_writes.py [--postgres] [--replicas N]
     [--seconds S] [--rps R]
     [--profile FILE]  (the server under pyinstrument, 64 callers direct, profile to FILE)
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import json_format
from meshbench import (
    PATH,
    AnalyticsFleet,
    closed_loop_for,
    cpu_seconds,
    echo_servers,
    load_average,
    loadtest,
    pct,
    show,
)

from meshctl.config import MeshSettings
from meshctl.mesh import open_mesh
from meshctl.proto.its.v1 import analytics_pb2 as apb
from meshctl.proto.its.v1 import common_pb2 as pb
from meshctl.registry import open_registry
from meshctl.samples import sample_frame
from meshctl.testing import temporary_database

REDIS_URL = MeshSettings().redis_url
METHOD = "/its.v1.AnalyticsService/ProcessDetections"
CALLERS = (16, 64)

Call = Callable[[], Awaitable[Any]]


def frames() -> Callable[[], pb.ProcessDetectionsRequest]:
    """Fresh requests: the sample frame with a new frame id each time."""
    template = json_format.ParseDict({"frame": sample_frame()}, pb.ProcessDetectionsRequest())
    run = uuid.uuid4().hex[:8]
    count = [0]

    def make() -> pb.ProcessDetectionsRequest:
        count[0] += 1
        request = pb.ProcessDetectionsRequest()
        request.CopyFrom(template)
        request.frame.frame_id = f"{run}-{count[0]}"
        return request

    return make


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def measure(label: str, call: Call, callers: int, seconds: float, pids: list[int]) -> None:
    await closed_loop_for(call, callers, 1.0)  # warm up
    server, client = sum(map(cpu_seconds, pids)), own_cpu()
    rate, latencies, failed = await closed_loop_for(call, callers, seconds)
    client = own_cpu() - client
    n = max(len(latencies), 1)
    per_frame = (sum(map(cpu_seconds, pids)) - server) / n * 1000
    print(
        f"{label:<18} {callers:>3} {rate:>8.0f} {pct(latencies, 50):>8.2f} "
        f"{pct(latencies, 99):>8.2f} {failed:>6} {per_frame:>11.2f} {client / n * 1000:>11.2f}",
        flush=True,
    )


@asynccontextmanager
async def database(postgres: bool, directory: str) -> AsyncIterator[str]:
    """A fresh database for the replicas to share: a SQLite file, or one on PostgreSQL."""
    if not postgres:
        yield f"sqlite+aiosqlite:///{directory}/analytics.db"
        return
    async with temporary_database("postgres", Path(directory)) as url:
        yield url


async def bench(args: argparse.Namespace) -> None:
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    async with AsyncExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory())
        url = await stack.enter_async_context(database(args.postgres, tmp))
        fleet = AnalyticsFleet(REDIS_URL, prefix, tmp, database_url=url, profile=args.profile)
        stack.callback(fleet.stop_all)
        port = fleet.start()
        for _ in range(args.replicas - 1):
            fleet.start()
        pids = [proc.pid for proc in fleet.procs.values()]
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
        stack.push_async_callback(channel.close)
        stub = channel.unary_unary(
            METHOD,
            request_serializer=pb.ProcessDetectionsRequest.SerializeToString,
            response_deserializer=apb.AnalysisResult.FromString,
        )
        make = frames()

        async def direct() -> object:
            return await stub(make(), timeout=30)

        if args.profile:
            await closed_loop_for(direct, 64, args.seconds)
            fleet.stop(port)
            print(f"server profile of {args.seconds:.0f} s at 64 callers in {args.profile}")
            return

        registry = open_registry(MeshSettings(redis_url=REDIS_URL, prefix=prefix))
        stack.push_async_callback(registry.aclose)
        mesh = await stack.enter_async_context(
            open_mesh(name="bench-writes", registry=registry, events=False)
        )

        async def through_mesh() -> object:
            return await mesh.call("analytics", "ProcessDetections", make(), timeout=30)

        with echo_servers(1) as (ports, echo_procs):
            async with grpc.aio.insecure_channel(f"127.0.0.1:{ports[0]}") as echo:
                bare_stub = echo.unary_unary(
                    PATH, request_serializer=pb.GetTrafficMetricsRequest.SerializeToString
                )
                query = pb.GetTrafficMetricsRequest(camera_id="cam001")

                async def bare() -> object:
                    return await bare_stub(query, timeout=30)

                kind = "PostgreSQL" if args.postgres else "SQLite"
                print(f"analytics ProcessDetections, {args.replicas} replica(s) on {kind}, "
                      f"{args.seconds:.0f} s per row; load average {load_average()}")  # fmt: skip
                print(f"{'path':<18} {'callers':>3} {'calls/s':>8} {'p50 ms':>8} {'p99 ms':>8} "
                      f"{'failed':>6} {'server CPU':>11} {'client CPU':>11}")  # fmt: skip
                print(f"{'':<54}{'ms/call':>11} {'ms/call':>11}")
                for callers in CALLERS:
                    await measure("bare (echo)", bare, callers, args.seconds, [echo_procs[0].pid])
                    await measure("analytics direct", direct, callers, args.seconds, pids)
                    await measure("analytics via mesh", through_mesh, callers, args.seconds, pids)
        if args.rps:
            slo = "p99<100ms,errors<0.1%"
            data = await asyncio.to_thread(
                loadtest, REDIS_URL, prefix, "analytics", "ProcessDetections",
                "--rps", str(args.rps), "--duration", f"{args.seconds:g}s", "--warmup", "1s",
                "--slo", slo,
            )  # fmt: skip
            show(f"open loop: meshctl loadtest at {args.rps} rps, slo {slo}", data)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--postgres", action="store_true", help="the local PostgreSQL")
    parser.add_argument("--seconds", type=float, default=10.0, help="per row")
    parser.add_argument("--replicas", type=int, default=1, help="analytics processes, one database")
    parser.add_argument("--rps", type=int, help="then `meshctl loadtest` open loop at this rate")
    parser.add_argument("--profile", help="profile the server into this file instead")
    asyncio.run(bench(parser.parse_args()))


if __name__ == "__main__":
    main()
