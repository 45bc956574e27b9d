"""Active health checks of every registered instance.

gRPC instances answer the standard ``grpc.health.v1.Health/Check`` (service
name from the endpoint's ``health_service`` metadata, default ``""`` for the
server as a whole); HTTP instances answer a GET on their ``health_path``
metadata (default ``/health``) with a 2xx. The outcome is written with
``set_health`` only when it changed, or when the last write is older than
``rewrite_after`` so that ``last_check`` stays fresh.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import grpc
import httpx
from grpc_health.v1 import health_pb2, health_pb2_grpc

from meshctl.core.endpoint import HealthStatus, ServiceEndpoint
from meshctl.core.lifecycle import AsyncLifecycle
from meshctl.errors import RegistryUnavailableError
from meshctl.registry.redis_registry import ServiceRegistry
from meshctl.registry.tasks import cancel_and_wait
from meshctl.transport.tls import TlsFiles, channel, client_ssl_context, for_endpoint

log = logging.getLogger(__name__)

Outcome = tuple[HealthStatus, str]


class HealthMonitor(AsyncLifecycle):
    """Checks all instances of all services each ``interval`` and records their health.

    Args:
        registry: where the instances are found and their health is written.
        interval: seconds between passes when run as an async context manager.
        timeout: seconds one check may take before the instance counts as unhealthy.
        concurrency: at most this many checks run at once.
        rewrite_after: rewrite an unchanged status after this many seconds
            (default five intervals) to refresh ``last_check``.
        clock: monotonic seconds, injectable for tests.
        tls: this process's certificate, for instances that serve mTLS.
    """

    def __init__(
        self,
        registry: ServiceRegistry,
        interval: float = 30.0,
        timeout: float = 5.0,
        concurrency: int = 32,
        rewrite_after: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        tls: TlsFiles | None = None,
    ) -> None:
        self.registry = registry
        self.tls = tls
        self.interval = interval
        self.timeout = timeout
        self.rewrite_after = 5 * interval if rewrite_after is None else rewrite_after
        self._limit = asyncio.Semaphore(concurrency)
        self._clock = clock
        self._written: dict[tuple[str, str], float] = {}
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Check every ``interval`` in a background task until ``stop``."""
        self._task = asyncio.create_task(self._run(), name="registry-health-monitor")

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None

    async def check_once(self) -> dict[tuple[str, str], HealthStatus]:
        """Check every live instance once and record the results.

        Returns:
            Each instance's ``(service, instance_id)`` mapped to the status found.

        Raises:
            RegistryUnavailableError: Redis could not be read or written.
        """
        snapshot = await self.registry.snapshot()
        endpoints = [endpoint for group in snapshot.values() for endpoint in group]
        async with self.http_client() as http:
            outcomes = await asyncio.gather(
                *(self._check_and_record(endpoint, http) for endpoint in endpoints)
            )
        seen = {endpoint.key for endpoint in endpoints}
        self._written = {key: at for key, at in self._written.items() if key in seen}
        found: dict[tuple[str, str], HealthStatus] = {}
        for endpoint, outcome in zip(endpoints, outcomes, strict=True):
            if isinstance(outcome, RegistryUnavailableError):
                raise outcome
            found[endpoint.key] = outcome
        return found

    def http_client(self) -> httpx.AsyncClient:
        """A client for HTTP checks, with this process's certificate for HTTPS ones."""
        verify = client_ssl_context(self.tls) if self.tls is not None else True
        return httpx.AsyncClient(timeout=self.timeout, verify=verify)

    async def check(self, endpoint: ServiceEndpoint, http: httpx.AsyncClient) -> Outcome:
        """Probe one instance; never raises, a failure is an unhealthy outcome."""
        try:
            if endpoint.protocol == "grpc":
                return await self._check_grpc(endpoint)
            return await self._check_http(endpoint, http)
        except Exception as exc:  # a probe must never stop the pass
            log.warning("Health check of %s failed unexpectedly: %r", endpoint.key, exc)
            return HealthStatus.UNHEALTHY, type(exc).__name__

    async def _check_and_record(
        self, endpoint: ServiceEndpoint, http: httpx.AsyncClient
    ) -> HealthStatus | RegistryUnavailableError:
        async with self._limit:
            status, detail = await self.check(endpoint, http)
        last = self._written.get(endpoint.key)
        due = last is None or self._clock() - last >= self.rewrite_after
        if status != endpoint.health_status or due:
            try:
                await self.registry.set_health(
                    endpoint.service_name, endpoint.instance_id, status, detail
                )
            except RegistryUnavailableError as error:
                return error
            self._written[endpoint.key] = self._clock()
        return status

    async def _check_grpc(self, endpoint: ServiceEndpoint) -> Outcome:
        request = health_pb2.HealthCheckRequest(service=endpoint.metadata.get("health_service", ""))
        async with channel(endpoint.address, for_endpoint(endpoint, self.tls)) as grpc_channel:
            stub = health_pb2_grpc.HealthStub(grpc_channel)
            try:
                reply = await stub.Check(request, timeout=self.timeout)
            except grpc.aio.AioRpcError as exc:
                return HealthStatus.UNHEALTHY, exc.code().name
        serving = reply.status == health_pb2.HealthCheckResponse.SERVING
        name = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
        return (HealthStatus.HEALTHY if serving else HealthStatus.UNHEALTHY), name

    async def _check_http(self, endpoint: ServiceEndpoint, http: httpx.AsyncClient) -> Outcome:
        path = endpoint.metadata.get("health_path", "/health")
        scheme = endpoint.metadata.get("scheme", "http")
        url = f"{scheme}://{endpoint.address}/{path.lstrip('/')}"
        try:
            response = await http.get(url)
        except httpx.HTTPError as exc:
            return HealthStatus.UNHEALTHY, str(exc) or type(exc).__name__
        healthy = response.is_success
        return (
            HealthStatus.HEALTHY if healthy else HealthStatus.UNHEALTHY
        ), f"HTTP {response.status_code}"

    async def _run(self) -> None:
        while True:
            try:
                await self.check_once()
            except RegistryUnavailableError as error:
                log.warning("Health pass skipped: %s", error)
            await asyncio.sleep(self.interval)
