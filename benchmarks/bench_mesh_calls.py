"""Mesh call overhead: ``call_service`` against a bare grpc.aio stub, same server, same run.

A minimal gRPC server runs in its own process (it answers with a fixed
reply, so the figures are the calling side's). In this process, rounds
alternate between a bare ``channel.unary_unary`` multicallable fed protobuf
messages and ``ServiceMeshClient.call_service`` fed dicts (as services call
it: discovery from the cached registry view, health-aware pick, endpoint
and service breakers, correlation headers, statistics, dict↔protobuf), and
"mesh-pb": the same fed a protobuf message with ``as_message=True``, which
leaves out the dict conversions and so shows the mesh's own cost.
Tracing: "mesh" runs with tracing off (nothing receives spans, as a process
without a span store or OTLP endpoint); "mesh-traced" keeps every call's
client span in the Redis span store, as a ``meshctl up`` service does;
"mesh-otlp" also exports them over OTLP/HTTP (batched) to a receiver in its
own process. mTLS: the same server also listens with mTLS (certificates from
a throw-away mesh CA); "bare-mtls" is the bare stub over it, "mesh-mtls" the
mesh client (tracing off) dialling the endpoint the registry marks ``tls``.
Throughput is measured with CONCURRENCY calls in flight (the client's CPU
is the limit); latency with one call in flight, so that it is each call's
own cost and not the queue behind the other 15. Reported: the median over
ROUNDS of calls/s, p50 and p99, and the verdict against the targets (mesh
≥ 80 % of bare throughput, < 0.5 ms added at p50; tracing off ≥ 85 %; mesh-mtls
≥ 80 % of bare plain text).
Run: .venv/bin/python benchmarks/bench_mesh_calls.py [--profile] [--quick]
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import grpc
from meshbench import PATH, REQUEST, closed_loop, echo_server_tls, load_average, median, pct

from meshctl.config import MeshSettings
from meshctl.core.endpoint import ServiceEndpoint
from meshctl.core.identity import client_id, service_id
from meshctl.mesh import open_mesh
from meshctl.proto.its.v1 import common_pb2
from meshctl.registry import open_registry
from meshctl.registry.spanstore import SpanStore
from meshctl.transport.certs import issue, load_or_create_ca, write_pair
from meshctl.transport.tls import TlsFiles
from meshctl.transport.tls import channel as tls_channel
from meshctl.transport.tracing import traced

QUICK = "--quick" in sys.argv
CALLS = 1500 if QUICK else 4000
CONCURRENCY = 16
LATENCY_CALLS = 300 if QUICK else 1000
ROUNDS = 2 if QUICK else 5
TARGETS = {"mesh": 0.85}  # tracing off: near bare gRPC; the others: 80 %


async def bench(port: int, tls_port: int, tls: TlsFiles) -> None:
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    registry = open_registry(MeshSettings(prefix=prefix))
    endpoint = ServiceEndpoint(
        "analytics", "127.0.0.1", port, metadata={"grpc_services": "its.v1.AnalyticsService"}
    )
    await registry.register_service("analytics", endpoint, ttl=120)
    secure = ServiceEndpoint(
        "analytics-mtls",
        "127.0.0.1",
        tls_port,
        metadata={"grpc_services": "its.v1.AnalyticsService", "tls": "1"},
    )
    await registry.register_service("analytics-mtls", secure, ttl=120)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    secure_channel = tls_channel(f"127.0.0.1:{tls_port}", tls)
    stub, secure_stub = (
        ch.unary_unary(
            PATH,
            request_serializer=common_pb2.GetTrafficMetricsRequest.SerializeToString,
            response_deserializer=common_pb2.GetTrafficMetricsResponse.FromString,
        )
        for ch in (channel, secure_channel)
    )
    message = common_pb2.GetTrafficMetricsRequest(camera_id="cam001")
    rows: dict[str, list[tuple[float, float, float]]] = {}
    async with open_mesh(name="bench", registry=registry, events=False, tls=tls) as mesh:

        async def bare_call() -> object:
            return await stub(message, timeout=10)

        async def bare_mtls_call() -> object:
            return await secure_stub(message, timeout=10)

        async def mesh_mtls_call() -> object:
            return await mesh.call_service(
                "analytics-mtls", "GetTrafficMetrics", REQUEST, timeout=10
            )

        async def mesh_call() -> object:
            return await mesh.call_service("analytics", "GetTrafficMetrics", REQUEST, timeout=10)

        async def mesh_message_call() -> object:
            return await mesh.call_service(
                "analytics", "GetTrafficMetrics", message, timeout=10, as_message=True
            )

        contenders = (
            ("bare", bare_call, None),
            ("mesh", mesh_call, None),
            ("mesh-pb", mesh_message_call, None),
            ("mesh-traced", mesh_call, "store"),
            ("mesh-otlp", mesh_call, "otlp"),
            ("bare-mtls", bare_mtls_call, None),
            ("mesh-mtls", mesh_mtls_call, None),
        )
        for _, call, _ in contenders:  # warm channels, caches, method lookup
            await closed_loop(call, CONCURRENCY, 500)
        if "--profile" in sys.argv:
            await profile(mesh_call)
            return
        with otlp_receiver() as collector:
            for _ in range(ROUNDS):
                for name, call, tracing in contenders:
                    async with tracing_mode(tracing, registry, collector):
                        rate, _ = await closed_loop(call, CONCURRENCY, CALLS)
                        _, lat = await closed_loop(call, 1, LATENCY_CALLS)
                    rows.setdefault(name, []).append((rate, pct(lat, 50), pct(lat, 99)))
    await channel.close()
    await secure_channel.close()
    await registry.deregister_service("analytics", endpoint.instance_id)
    await registry.deregister_service("analytics-mtls", secure.instance_id)
    await registry.aclose()
    report(rows)


@contextlib.asynccontextmanager
async def tracing_mode(mode: str | None, registry, collector: str) -> AsyncIterator[None]:  # type: ignore[no-untyped-def]
    """Tracing off (None), spans to the span store, or to the store and over OTLP."""
    if mode is None:
        yield
        return
    if mode == "otlp":
        os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = collector
    try:
        # Every span kept: a service keeps 100 new traces a second, this is the worst case.
        store = SpanStore(registry.redis, registry.prefix, ttl=60, traces_per_second=1e9)
        async with traced("bench", store):
            yield
    finally:
        os.environ.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)


class _Accept(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 - the name http.server calls
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def _receive(port) -> None:  # type: ignore[no-untyped-def]
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Accept)
    port.value = server.server_port
    server.serve_forever()


@contextlib.contextmanager
def otlp_receiver():  # type: ignore[no-untyped-def]
    """An OTLP/HTTP endpoint accepting every export, in a process of its own."""
    port = multiprocessing.Value("i", 0)
    process = multiprocessing.Process(target=_receive, args=(port,), daemon=True)
    process.start()
    while not port.value:
        process.join(0.01)
    try:
        yield f"http://127.0.0.1:{port.value}"
    finally:
        process.terminate()
        process.join()


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
    for name in ("mesh", "mesh-pb", "mesh-traced", "mesh-otlp", "bare-mtls", "mesh-mtls"):
        share = figures[name][0] / figures["bare"][0]
        added = figures[name][1] - figures["bare"][1]
        target = TARGETS.get(name, 0.8)
        print(f"{name}: throughput {share:.1%} of bare (target >= {target:.0%}): "
              f"{'met' if share >= target else 'MISSED'}; added at p50 {added:.3f} ms "
              f"(target < 0.5 ms): {'met' if added < 0.5 else 'MISSED'}")  # fmt: skip


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        ca = load_or_create_ca(Path(tmp), "mesh.local")
        paths = {}
        for name, identity in (("server", service_id("analytics")), ("client", client_id("b"))):
            paths[name] = (Path(tmp) / f"{name}.pem", Path(tmp) / f"{name}-key.pem")
            write_pair(*paths[name], issue(ca, identity, hours=1))
        ca_path = str(Path(tmp) / "ca.pem")
        server = (ca_path, *map(str, paths["server"]))
        with echo_server_tls(*server) as (port, tls_port):
            asyncio.run(bench(port, tls_port, TlsFiles(ca_path, *paths["client"])))


if __name__ == "__main__":
    main()
