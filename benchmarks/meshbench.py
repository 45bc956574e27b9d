"""Shared pieces of the mesh benchmarks: a minimal gRPC server process and timing helpers.

The server answers analytics' GetTrafficMetrics with a fixed reply and does
no work, so what the benchmarks measure is the calling side: the bare
grpc.aio stub, the mesh client, the load generator.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from contextlib import contextmanager
from pathlib import Path
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


async def _serve(ports: Any, threads: int, tls: tuple[str, str, str] | None = None) -> None:
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
    if tls is not None:  # and an mTLS port beside it, put on the queue after the plain one
        from meshctl.transport.tls import TlsFiles, server_credentials

        secure = server.add_secure_port("127.0.0.1:0", server_credentials(TlsFiles(*tls)))
    await server.start()
    ports.put(port)
    if tls is not None:
        ports.put(secure)
    await server.wait_for_termination()


def _server_main(ports: Any, threads: int, tls: tuple[str, str, str] | None = None) -> None:
    asyncio.run(_serve(ports, threads, tls))


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


@contextmanager
def echo_server_tls(ca: str, cert: str, key: str):  # type: ignore[no-untyped-def]
    """One server process with a plain-text and an mTLS port; yields ``(plain, tls)``."""
    ctx = multiprocessing.get_context("spawn")
    ports = ctx.Queue()
    proc = ctx.Process(target=_server_main, args=(ports, 1, (ca, cert, key)), daemon=True)
    proc.start()
    try:
        yield ports.get(timeout=30), ports.get(timeout=30)
    finally:
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


async def closed_loop_for(
    call: Callable[[], Awaitable[Any]], concurrency: int, seconds: float
) -> tuple[float, list[float], int]:
    """Calls/s, latencies of the calls answered, and failures, ``concurrency`` in flight."""
    latencies: list[float] = []
    failures = [0]
    start = time.perf_counter()
    deadline = start + seconds

    async def worker() -> None:
        while (t0 := time.perf_counter()) < deadline:
            try:
                await call()
            except Exception:
                failures[0] += 1
                continue
            latencies.append(time.perf_counter() - t0)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return len(latencies) / (time.perf_counter() - start), latencies, failures[0]


def pct(values: list[float], p: float) -> float:
    """Percentile ``p`` (0-100) of ``values``, in ms."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))] * 1000


def median(values: list[float]) -> float:
    return statistics.median(values)


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds process ``pid`` has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def loadtest(redis_url: str, prefix: str, *args: str) -> dict[str, Any]:
    """``meshctl loadtest ... -o json`` in its own process; its JSON and exit code.

    The process runs the meshctl this one imported (``PYTHONPATH`` picks an older checkout).
    """
    import meshctl

    done = subprocess.run(
        [sys.executable, "-m", "meshctl", "--redis-url", redis_url, "--prefix", prefix,
         "loadtest", *args, "-o", "json"],
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(meshctl.__file__).parents[1],
    )  # fmt: skip
    if not done.stdout:
        raise SystemExit(f"loadtest failed: {done.stderr}")
    data: dict[str, Any] = json.loads(done.stdout)
    data["exit_code"] = done.returncode
    data["stderr"] = done.stderr.strip()
    return data


def show(label: str, data: dict[str, Any]) -> None:
    """One line of a ``loadtest`` result: rate, outcomes, latencies, exit code."""
    s = data["summary"]
    lat = s["latency_ms"]
    print(
        f"{label}: {s['rps']:.0f} rps over {s['elapsed_s']:.1f} s, {s['ok']} ok, "
        f"{s['failed']} failed, {s['not_started']} not started, {s['late']} late; "
        f"p50 {lat['p50']:.2f} ms, p99 {lat['p99']:.2f} ms, p99.9 {lat['p99.9']:.2f} ms, "
        f"max {lat['max']:.2f} ms; exit {data['exit_code']} {data['stderr']}",
        flush=True,
    )


def _analytics_main(
    redis_url: str, prefix: str, db_url: str, port: int, ports: Any, profile: str | None
) -> None:
    from meshctl.registry import open_registry
    from meshctl.services.analytics import build
    from meshctl.services.base import ServiceSettings
    from meshctl.services.host import serve

    async def main() -> None:
        settings = ServiceSettings(redis_url=redis_url, prefix=prefix, database_url=db_url)
        registry = open_registry(settings)
        await serve(build(settings), port=port, registry=registry, ready=ports.put, grace=0.5)

    if profile is None:
        asyncio.run(main())
        return
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.0005, async_mode="disabled")
    profiler.start()
    try:
        asyncio.run(main())  # until SIGTERM (AnalyticsFleet.stop)
    finally:
        profiler.stop()
        with open(profile, "w") as out:
            out.write(profiler.output_text(unicode=False, color=False, show_all=False))
        if profiler.last_session is not None:  # for pyinstrument --load
            profiler.last_session.save(f"{profile}.pyisession")


class AnalyticsFleet:
    """Reference analytics instances, each its own process with its own SQLite file.

    With ``database_url`` they share that database instead; with ``profile``
    (a file path) each is run under pyinstrument and writes its profile there
    when stopped with :meth:`stop` (not :meth:`kill`).
    """

    def __init__(
        self,
        redis_url: str,
        prefix: str,
        directory: str,
        *,
        database_url: str | None = None,
        profile: str | None = None,
    ) -> None:
        self.redis_url, self.prefix, self.directory = redis_url, prefix, directory
        self.database_url, self.profile = database_url, profile
        self.ctx = multiprocessing.get_context("spawn")
        self.ports = self.ctx.Queue()
        self.procs: dict[int, Any] = {}

    def start(self, port: int = 0) -> int:
        db = (
            self.database_url
            or f"sqlite+aiosqlite:///{self.directory}/analytics-{len(self.procs)}-{port}.db"
        )
        proc = self.ctx.Process(
            target=_analytics_main,
            args=(self.redis_url, self.prefix, db, port, self.ports, self.profile),
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

    def stop(self, port: int) -> None:
        """SIGTERM: a graceful stop (and the profile written)."""
        proc = self.procs.pop(port)
        proc.terminate()
        proc.join(30)

    def stop_all(self) -> None:
        for port in list(self.procs):
            self.kill(port)


def fleet_options(parser: argparse.ArgumentParser, replicas: int) -> None:
    """The options of a benchmark that runs an :class:`AnalyticsFleet` on one database."""
    parser.add_argument("--postgres", action="store_true", help="the local PostgreSQL")
    parser.add_argument("--replicas", type=int, default=replicas, help="analytics processes")
    parser.add_argument("--seconds", type=int, default=10, help="per run")
    parser.add_argument("--profile", help="profile one replica into this file instead")


@contextmanager
def timed() -> Any:
    """``with timed() as t: ...`` then ``t()`` is the seconds the block took."""
    start = time.perf_counter()
    end: list[float] = []
    yield lambda: (end[0] if end else time.perf_counter()) - start
    end.append(time.perf_counter())
