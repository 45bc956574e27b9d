"""Shared pieces of the mesh benchmarks: a minimal gRPC server process and timing helpers.

The server answers analytics' GetTrafficMetrics with a fixed reply and does
no work, so what the benchmarks measure is the calling side: the bare
grpc.aio stub, the mesh client, the load generator.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import statistics
import time
from collections.abc import Awaitable, Callable
from contextlib import contextmanager
from typing import Any

import grpc

from meshctl.proto.its.v1 import common_pb2

SERVICE = "its.v1.AnalyticsService"
METHOD = "GetTrafficMetrics"
PATH = f"/{SERVICE}/{METHOD}"
REQUEST = {"camera_id": "cam001"}


def _reply() -> common_pb2.GetTrafficMetricsResponse:
    reply = common_pb2.GetTrafficMetricsResponse()
    row = reply.metrics.add()
    row.camera_id = "cam001"
    row.vehicle_count = 42
    return reply


async def _serve(ports: Any, threads: int) -> None:
    reply = _reply()

    async def handle(request: Any, context: Any) -> common_pb2.GetTrafficMetricsResponse:
        return reply

    server = grpc.aio.server()
    handler = grpc.method_handlers_generic_handler(
        SERVICE,
        {
            METHOD: grpc.unary_unary_rpc_method_handler(
                handle,
                request_deserializer=common_pb2.GetTrafficMetricsRequest.FromString,
                response_serializer=common_pb2.GetTrafficMetricsResponse.SerializeToString,
            )
        },
    )
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    ports.put(port)
    await server.wait_for_termination()


def _server_main(ports: Any, threads: int) -> None:
    asyncio.run(_serve(ports, threads))


@contextmanager
def echo_servers(count: int = 1):  # type: ignore[no-untyped-def]
    """``count`` server processes; yields their ports and the processes (to kill one)."""
    ctx = multiprocessing.get_context("spawn")
    ports = ctx.Queue()
    procs = [ctx.Process(target=_server_main, args=(ports, 1), daemon=True) for _ in range(count)]
    for proc in procs:
        proc.start()
    try:
        yield [ports.get(timeout=30) for _ in procs], procs
    finally:
        for proc in procs:
            proc.kill()
            proc.join()


def spawn_server(ports: Any) -> Any:
    """One more server process (e.g. to restart a killed instance); its port goes to ``ports``."""
    proc = multiprocessing.get_context("spawn").Process(
        target=_server_main, args=(ports, 1), daemon=True
    )
    proc.start()
    return proc


async def closed_loop(
    call: Callable[[], Awaitable[Any]], concurrency: int, total: int
) -> tuple[float, list[float]]:
    """Calls/s and per-call latencies of ``total`` calls with ``concurrency`` in flight."""
    latencies: list[float] = []
    remaining = [total]

    async def worker() -> None:
        while remaining[0] > 0:
            remaining[0] -= 1
            t0 = time.perf_counter()
            await call()
            latencies.append(time.perf_counter() - t0)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return total / (time.perf_counter() - start), latencies


def pct(values: list[float], p: float) -> float:
    """Percentile ``p`` (0-100) of ``values``, in ms."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))] * 1000


def median(values: list[float]) -> float:
    return statistics.median(values)


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _analytics_main(redis_url: str, prefix: str, db_url: str, port: int, ports: Any) -> None:
    from meshctl.registry import open_registry
    from meshctl.services.analytics import build
    from meshctl.services.base import ServiceSettings
    from meshctl.services.host import serve

    async def main() -> None:
        settings = ServiceSettings(redis_url=redis_url, prefix=prefix, database_url=db_url)
        registry = open_registry(settings)
        await serve(build(settings), port=port, registry=registry, ready=ports.put, grace=0.5)

    asyncio.run(main())


class AnalyticsFleet:
    """Reference analytics instances, each its own process with its own SQLite file."""

    def __init__(self, redis_url: str, prefix: str, directory: str) -> None:
        self.redis_url, self.prefix, self.directory = redis_url, prefix, directory
        self.ctx = multiprocessing.get_context("spawn")
        self.ports = self.ctx.Queue()
        self.procs: dict[int, Any] = {}

    def start(self, port: int = 0) -> int:
        db = f"sqlite+aiosqlite:///{self.directory}/analytics-{len(self.procs)}-{port}.db"
        proc = self.ctx.Process(
            target=_analytics_main,
            args=(self.redis_url, self.prefix, db, port, self.ports),
            daemon=True,
        )
        proc.start()
        bound = int(self.ports.get(timeout=60))
        self.procs[bound] = proc
        return bound

    def kill(self, port: int) -> None:
        """SIGKILL: no deregistration, the record stays until its TTL lapses."""
        proc = self.procs.pop(port)
        proc.kill()
        proc.join()

    def stop_all(self) -> None:
        for port in list(self.procs):
            self.kill(port)


@contextmanager
def timed() -> Any:
    """``with timed() as t: ...`` then ``t()`` is the seconds the block took."""
    start = time.perf_counter()
    end: list[float] = []
    yield lambda: (end[0] if end else time.perf_counter()) - start
    end.append(time.perf_counter())
