"""Run one service app: serve it, register it in the mesh, stop it gracefully.

gRPC apps get a ``grpc.aio`` server with the standard health service, server
reflection and the correlation interceptor; HTTP apps run under uvicorn with
the correlation middleware. Shutdown (stop event, SIGTERM or SIGINT) goes:
deregister, so no new calls are routed here; report NOT_SERVING; drain
in-flight calls for up to ``grace`` seconds; stop the app.

Every request served is counted per method (``MethodStats``), whoever the
caller, and published with the registration as the instance's served report
(``role: server``), so ``top`` and ``check`` see traffic from short-lived CLIs
and foreign clients as well as from long-lived mesh clients.

Faults injected for the service (``meshctl fault``) are read from Redis
once the instance is registered and applied by the interceptor or middleware
(``transport.server_context``), scoped by the instance's id, version and zone.

Each request is traced as a SERVER span when the process traces: the host
starts the process's tracing (``transport.tracing``: OTLP export when the
``OTEL_*`` variables ask for it) and, given a span store, keeps the spans in
the mesh for ``meshctl trace``.

Connections that hold a place without using it are closed: one that has not
finished its HTTP/2 handshake (gRPC) or sent its first request (HTTP) within
``idle_timeout`` seconds, an HTTP one idle between requests as long, and a
gRPC one with no call for ``GRPC_IDLE_MS``; gRPC pings a silent peer every
``GRPC_KEEPALIVE_MS`` and drops it when no answer comes.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import signal
import socket
import ssl
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from typing import Any, Protocol

import grpc
import uvicorn
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from redis.asyncio import Redis
from uvicorn.protocols.http.h11_impl import H11Protocol

from meshctl._version import __version__
from meshctl.core.endpoint import ServiceEndpoint
from meshctl.core.faults import Instance, ServerFaults
from meshctl.core.slo import served_counts
from meshctl.core.stats import MethodStats
from meshctl.registry.faults import FaultCache
from meshctl.registry.keepalive import KeepAlive
from meshctl.registry.reports import SERVER_ROLE, served_report_id
from meshctl.registry.sli import SliRecorder
from meshctl.registry.spanstore import SpanStore
from meshctl.services.base import GrpcServiceApp, HttpServiceApp
from meshctl.transport.metrics import (
    PROCESS_METRICS,
    heartbeat_source,
    metrics_server,
    served_source,
)
from meshctl.transport.server_context import CorrelationMiddleware, CorrelationServerInterceptor
from meshctl.transport.tls import CHECK_EVERY, TLS_METADATA, TlsFiles, server_credentials
from meshctl.transport.tracing import traced

_WILDCARDS = ("", "0.0.0.0", "::")


class Registrar(Protocol):
    """The part of ``meshctl.registry.ServiceRegistry`` the host needs."""

    redis: Redis
    prefix: str

    def keep_alive(self, endpoint: ServiceEndpoint, ttl: float = 60) -> KeepAlive: ...

    def reporting(
        self, client_id: str, report: Callable[[], dict[str, Any]], interval: float = 1.0
    ) -> AbstractAsyncContextManager[Any]: ...

    def sli_recorder(self, service: str, served: MethodStats) -> SliRecorder: ...


class _Runner(Protocol):
    protocol: str
    metadata: dict[str, str]

    async def start(self, host: str, port: int) -> int: ...
    async def stop(self, grace: float) -> None: ...


IDLE_TIMEOUT = 10.0
GRPC_IDLE_MS = 300_000
GRPC_KEEPALIVE_MS = 60_000


class _GrpcRunner:
    protocol = "grpc"

    def __init__(
        self,
        app: GrpcServiceApp,
        idle_timeout: float,
        served: MethodStats,
        faults: ServerFaults,
        tls: TlsFiles | None = None,
    ) -> None:
        self.app = app
        self.tls = tls
        options = [
            ("grpc.server_handshake_timeout_ms", round(idle_timeout * 1000)),
            ("grpc.max_connection_idle_ms", GRPC_IDLE_MS),
            ("grpc.keepalive_time_ms", GRPC_KEEPALIVE_MS),
            ("grpc.keepalive_timeout_ms", 20_000),
        ]
        interceptors = [CorrelationServerInterceptor(served, service=app.name, faults=faults)]
        self.server = grpc.aio.server(interceptors=interceptors, options=options)
        self.health = health.aio.HealthServicer()
        self.metadata = {"grpc_services": ",".join(app.grpc_service_names)}
        if tls is not None:
            self.metadata[TLS_METADATA] = "1"

    async def start(self, host: str, port: int) -> int:
        self.app.add_to_server(self.server)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        names = [*self.app.grpc_service_names, health.SERVICE_NAME, reflection.SERVICE_NAME]
        reflection.enable_server_reflection(names, self.server)
        address = _join(host, port)
        if self.tls is None:
            bound = self.server.add_insecure_port(address)
        else:
            bound = self.server.add_secure_port(address, server_credentials(self.tls))
        if bound == 0:
            raise OSError(f"cannot listen on {_join(host, port)}")
        await self.server.start()
        for name in ("", *self.app.grpc_service_names):
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        return bound

    async def stop(self, grace: float) -> None:
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace)


class _QuietServer(uvicorn.Server):
    """uvicorn without its own signal handling: the host owns SIGTERM/SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class _FirstRequestTimeout(H11Protocol):
    """uvicorn's h11 protocol with its keep-alive timer running from the start.

    uvicorn arms that timer only after a response, so a connection that never
    sends a request is held forever; here it is closed like an idle one.
    """

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.timeout_keep_alive_task = self.loop.call_later(
            self.timeout_keep_alive, self.timeout_keep_alive_handler
        )


class _HttpRunner:
    protocol = "http"

    def __init__(
        self,
        app: HttpServiceApp,
        idle_timeout: float,
        served: MethodStats,
        faults: ServerFaults,
        tls: TlsFiles | None = None,
    ) -> None:
        self.app = app
        self.idle_timeout = idle_timeout
        self.served = served
        self.faults = faults
        self.tls = tls
        self.metadata = dict(app.metadata)
        if tls is not None:
            self.metadata |= {TLS_METADATA: "1", "scheme": "https"}
        self.server: _QuietServer | None = None
        self.task: asyncio.Task[None] | None = None
        self.reload: asyncio.Task[None] | None = None

    async def start(self, host: str, port: int) -> int:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        config = uvicorn.Config(
            CorrelationMiddleware(
                self.app.asgi_app,
                served=self.served,
                routes=routes_of(self.metadata),
                uncounted=[self.metadata.get("health_path", "/health")],
                service=self.app.name,
                faults=self.faults,
            ),
            log_level="warning",
            lifespan="off",
            timeout_graceful_shutdown=None,
            http=_FirstRequestTimeout,
            timeout_keep_alive=max(1, round(self.idle_timeout)),
            **(https_options(self.tls) if self.tls is not None else {}),
        )
        self.server = _QuietServer(config)
        self.task = asyncio.create_task(self.server.serve(sockets=[sock]))
        if self.tls is not None:
            self.reload = asyncio.create_task(_reload_https(self.server, self.tls))
        while not self.server.started:  # uvicorn offers no start-up callback
            if self.task.done():
                self.task.result()
                raise OSError("the HTTP server stopped during start-up")
            await asyncio.sleep(0.01)
        return int(sock.getsockname()[1])

    async def stop(self, grace: float) -> None:
        assert self.server is not None and self.task is not None
        self.server.config.timeout_graceful_shutdown = int(grace) or 1
        self.server.should_exit = True
        if self.reload is not None:
            self.reload.cancel()
        await self.task


def https_options(tls: TlsFiles) -> dict[str, Any]:
    """uvicorn's TLS options: HTTPS always; a client certificate checked when one is offered.

    Optional, not required: end users log in from browsers and apps outside the mesh.
    """
    return {
        "ssl_certfile": str(tls.cert),
        "ssl_keyfile": str(tls.key),
        "ssl_ca_certs": str(tls.ca),
        "ssl_cert_reqs": ssl.CERT_OPTIONAL,
    }


async def _reload_https(server: uvicorn.Server, tls: TlsFiles) -> None:
    """Load rotated files into the server's context: new connections get the new certificate."""
    generation = tls.current().generation
    while True:
        await asyncio.sleep(CHECK_EVERY)
        material = tls.current()
        context = server.config.ssl
        if material.generation != generation and context is not None:
            context.load_cert_chain(str(tls.cert), str(tls.key))
            context.load_verify_locations(cadata=material.ca.decode())
            generation = material.generation


def routes_of(metadata: dict[str, str]) -> dict[str, str]:
    """Method name -> ``"VERB /path"`` from an HTTP app's ``route.<method>`` metadata."""
    return {k.removeprefix("route."): v for k, v in metadata.items() if k.startswith("route.")}


def served_report(
    endpoint: ServiceEndpoint, served: MethodStats, started_at: float
) -> dict[str, Any]:
    """What the instance serving ``endpoint`` publishes about what it served."""
    return {
        "client_id": served_report_id(endpoint.service_name, endpoint.instance_id),
        "role": SERVER_ROLE,
        "name": endpoint.service_name,
        "instance_id": endpoint.instance_id,
        "address": endpoint.address,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "started_at": started_at,
        "published_at": time.time(),
        "served": served.snapshot(),
        "callers": served.callers_snapshot(),
        # what a canary is judged on: the version, and latency counts at the SLO edges
        "version": endpoint.version,
        "within": {method: counts.within for method, counts in served_counts(served).items()},
    }


def _join(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _advertised(host: str, advertise_host: str | None) -> str:
    if advertise_host:
        return advertise_host
    return socket.gethostname() if host in _WILDCARDS else host


@contextlib.contextmanager
def _signals_set(event: asyncio.Event) -> Iterator[None]:
    """SIGTERM and SIGINT set ``event`` while the body runs (main thread only)."""
    loop = asyncio.get_running_loop()
    installed = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, event.set)
        except (RuntimeError, NotImplementedError, ValueError):
            continue  # not the main thread, or a platform without signals
        installed.append(sig)
    try:
        yield
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


async def serve(
    app: GrpcServiceApp | HttpServiceApp,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    registry: Registrar | None = None,
    advertise_host: str | None = None,
    ready: Callable[[int], None] | None = None,
    stop_event: asyncio.Event | None = None,
    grace: float = 5.0,
    ttl: float = 60,
    idle_timeout: float = IDLE_TIMEOUT,
    metrics_port: int | None = None,
    labels: Mapping[str, str] | None = None,
    zone: str | None = None,
    version: str | None = None,
    sli: bool = True,
    span_store: SpanStore | None = None,
    tls: TlsFiles | None = None,
) -> None:
    """Serve ``app`` until ``stop_event`` is set or SIGTERM/SIGINT arrives.

    Args:
        app: a gRPC or HTTP service app.
        host: interface to listen on; port 0 picks a free port.
        registry: where to register the endpoint (with the real bound port).
        advertise_host: host put in the registry; defaults to ``host`` (or the
            machine's name when listening on every interface).
        ready: called with the bound port once serving and registered.
        stop_event: set it to stop; a private one is used when omitted.
        grace: seconds in-flight calls get to finish after deregistration.
        ttl: registry record lifetime, renewed by heartbeat.
        idle_timeout: seconds a connection may stay open without a handshake
            or request (see the module docstring).
        metrics_port: serve Prometheus ``/metrics`` on ``host`` at this port (0: a
            free one; the process's one server if it runs already) and announce it
            as the ``metrics_url`` metadata; None: no endpoint.
        span_store: where the process's spans are kept while serving (started and
            closed here); None keeps none (OTLP export follows the variables).
        labels, zone, version: what the instance registers with, for route tables'
            subsets (metadata labels, the zone; version defaults to meshctl's).
        sli: add what the instance serves to its service's SLI buckets in Redis.
        tls: serve mTLS only with these files (rotations followed); None: plain text.
    """
    stop = stop_event or asyncio.Event()
    served = MethodStats()
    started_at = time.time()
    faults = ServerFaults(app.name, "grpc" if isinstance(app, GrpcServiceApp) else "http")
    runner: _Runner = (
        _GrpcRunner(app, idle_timeout, served, faults, tls)
        if isinstance(app, GrpcServiceApp)
        else _HttpRunner(app, idle_timeout, served, faults, tls)
    )
    await app.start()
    try:
        async with traced(app.name, span_store):
            with _signals_set(stop):
                bound = await runner.start(host, port)
                try:
                    advertised = _advertised(host, advertise_host)
                    metadata = {**(labels or {}), **runner.metadata}
                    if metrics_port is not None:
                        scrape = metrics_server(host, metrics_port)
                        metadata["metrics_url"] = f"http://{_join(advertised, scrape)}/metrics"
                    endpoint = ServiceEndpoint(
                        service_name=app.name,
                        host=advertised,
                        port=bound,
                        protocol="grpc" if runner.protocol == "grpc" else "http",
                        metadata=metadata,
                        zone=zone,
                        version=version or __version__,
                    )
                    async with AsyncExitStack() as registration:
                        source = served_source(app.name, endpoint.instance_id, served)
                        registration.callback(PROCESS_METRICS.add(source))
                        if registry is not None:
                            keep_alive = registry.keep_alive(endpoint, ttl)
                            await registration.enter_async_context(keep_alive)
                            faults.instance = Instance(
                                endpoint.instance_id, endpoint.version, endpoint.zone
                            )
                            await registration.enter_async_context(
                                FaultCache(registry.redis, registry.prefix, faults.load)
                            )
                            beats = heartbeat_source(app.name, endpoint.instance_id, keep_alive)
                            registration.callback(PROCESS_METRICS.add(beats))
                            if sli:
                                await registration.enter_async_context(
                                    registry.sli_recorder(app.name, served)
                                )
                            report = functools.partial(served_report, endpoint, served, started_at)
                            await registration.enter_async_context(
                                registry.reporting(
                                    served_report_id(endpoint.service_name, endpoint.instance_id),
                                    report,
                                )
                            )
                        if ready is not None:
                            ready(bound)
                        await stop.wait()
                    # Leaving the block above deregistered the endpoint; now drain.
                finally:
                    await runner.stop(grace)
    finally:
        await app.stop()
