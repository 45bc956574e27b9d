"""The two ways a load test reaches a service: through the mesh, or straight to one endpoint."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from meshctl.config import MeshSettings
from meshctl.core.breaker import CircuitBreakerConfig
from meshctl.core.endpoint import ServiceEndpoint
from meshctl.errors import InvalidRequestError, MeshError, NoEndpointsError, RemoteCallError
from meshctl.loadtest.engine import Caller
from meshctl.loadtest.plan import LoadPlan
from meshctl.mesh import ServiceMeshClient, open_mesh
from meshctl.registry import ServiceRegistry, open_registry
from meshctl.transport.codec import to_message
from meshctl.transport.http_client import HttpTransport
from meshctl.transport.methods import MethodResolver
from meshctl.transport.tls import TlsFiles, for_endpoint, tls_files
from meshctl.transport.tls import channel as open_channel


@asynccontextmanager
async def open_caller(
    plan: LoadPlan,
    settings: MeshSettings,
    *,
    name: str = "meshctl-loadtest",
    breaker_config: CircuitBreakerConfig | None = None,
) -> AsyncIterator[Caller]:
    """A caller for ``plan`` (mesh or direct), with its connections open for the block."""
    async with AsyncExitStack() as stack:
        if plan.direct:
            registry = open_registry(settings)
            stack.push_async_callback(registry.aclose)
            yield await _direct(plan, registry, stack, tls_files(settings))
            return
        mesh = open_mesh(settings, name=name, events=False, breaker_config=breaker_config)
        await stack.enter_async_context(mesh)
        yield mesh_caller(mesh, plan)


async def refusal(plan: LoadPlan, settings: MeshSettings) -> str | None:
    """Why ``plan``'s first request is refused as the caller's own error, or None.

    Sends that one request. A refusal (bad input, HTTP 4xx, a gRPC status
    that is no server failure: a login without real credentials, an id that
    does not exist) would repeat for every request, so a load would measure
    nothing but the refusal. Other failures are left for the load to count.
    """
    async with open_caller(plan, settings) as caller:
        try:
            await caller(plan.source(worker=0)(0))
        except RemoteCallError as exc:
            if exc.trips_breaker:
                return None
            return f"{exc.status}: {exc.detail}" if exc.detail else exc.status
        except InvalidRequestError as exc:
            return str(exc)
        except MeshError:
            return None
    return None


def mesh_caller(mesh: ServiceMeshClient, plan: LoadPlan) -> Caller:
    """Calls through discovery, balancer, breakers and tracing (``ServiceMeshClient.call``)."""
    service, method, timeout, strategy = plan.service, plan.method, plan.timeout, plan.strategy

    async def call(request: Any) -> str | None:
        result = await mesh.call(service, method, request, timeout=timeout, strategy=strategy)
        return result.endpoint.instance_id

    return call


async def _direct(
    plan: LoadPlan, registry: ServiceRegistry, stack: AsyncExitStack, tls: TlsFiles | None
) -> Caller:
    """A bare call to the service's first endpoint, its method resolved once."""
    endpoints = await registry.discover_services(plan.service)
    if not endpoints:
        raise NoEndpointsError(plan.service)
    endpoint = endpoints[0]
    if endpoint.protocol == "http":
        http = HttpTransport(tls=tls)
        stack.push_async_callback(http.aclose)
        return _http_caller(http, endpoint, plan)
    resolved = await MethodResolver(tls).resolve(plan.service, plan.method, endpoint)
    channel = open_channel(endpoint.address, for_endpoint(endpoint, tls))
    stack.push_async_callback(channel.close)
    stub = channel.unary_unary(
        resolved.path,
        request_serializer=resolved.request_class.SerializeToString,
        response_deserializer=resolved.response_class.FromString,
    )
    request_class, path, timeout = resolved.request_class, resolved.path, plan.timeout
    instance = endpoint.instance_id

    async def call(request: Any) -> str | None:
        await stub(to_message(request, request_class, path), timeout=timeout)
        return instance

    return call


def _http_caller(http: HttpTransport, endpoint: ServiceEndpoint, plan: LoadPlan) -> Caller:
    method, timeout, instance = plan.method, plan.timeout, endpoint.instance_id

    async def call(request: Any) -> str | None:
        await http.call(endpoint, method, request, timeout=timeout, headers={})
        return instance

    return call
