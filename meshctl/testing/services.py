"""Service apps on loopback: one app through the real host, or the four reference services."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from meshctl.core.endpoint import ServiceEndpoint
from meshctl.registry import ServiceRegistry
from meshctl.services import alert, analytics, auth, streaming
from meshctl.services.base import GrpcServiceApp, HttpServiceApp, ServiceSettings
from meshctl.services.host import Registrar, serve

REFERENCE_SERVICES = {"streaming": streaming, "analytics": analytics, "alert": alert, "auth": auth}


@asynccontextmanager
async def served(
    app: GrpcServiceApp | HttpServiceApp,
    *,
    registry: Registrar | None = None,
    grace: float = 1.0,
    ready_timeout: float = 30.0,
    **options: Any,
) -> AsyncIterator[int]:
    """Serve ``app`` through the real host on a free loopback port; yields the port.

    The app is started, registered in ``registry`` (if given) and served
    until the block ends; then it is deregistered, drained for ``grace``
    seconds and stopped, as ``meshctl serve`` does on SIGTERM.

    Args:
        app: a gRPC or HTTP service app (``meshctl.services.<name>.build(settings)``).
        registry: where to register the endpoint, if anywhere.
        grace: seconds in-flight calls get at the end.
        ready_timeout: seconds the app may take to start.
        options: passed to :func:`meshctl.services.host.serve` (``ttl``, ...).
    """
    stop = asyncio.Event()
    bound: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    host = serve(
        app, registry=registry, stop_event=stop, ready=bound.set_result, grace=grace, **options
    )
    task = asyncio.create_task(host)
    waiting: list[asyncio.Future[Any]] = [task, bound]
    await asyncio.wait(waiting, timeout=ready_timeout, return_when=asyncio.FIRST_COMPLETED)
    if not bound.done():
        stop.set()
        if not task.done():
            task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        if not task.cancelled():
            task.result()  # the host's own error, if it failed
        raise RuntimeError(f"{app.name} was not ready within {ready_timeout} s")
    try:
        yield bound.result()
    finally:
        stop.set()
        await task


class Platform:
    """The reference services (streaming, analytics, alert, auth) on loopback, on demand.

    ``start(name)`` serves one more instance of a service, registered in
    ``registry``; ``aclose()`` stops every instance still running.

    Args:
        registry: where the instances register.
        settings: the settings every instance starts from.
    """

    def __init__(self, registry: ServiceRegistry, settings: ServiceSettings) -> None:
        self.registry = registry
        self.settings = settings
        self.ports: dict[str, list[int]] = {}
        self._instances: dict[int, AsyncExitStack] = {}
        self._all = AsyncExitStack()

    async def start(self, name: str, **overrides: Any) -> int:
        """Serve one more instance of ``name`` with settings ``overrides``; returns its port."""
        settings = self.settings.model_copy(update=overrides)
        app = REFERENCE_SERVICES[name].build(settings)
        instance = AsyncExitStack()
        port = await instance.enter_async_context(
            served(app, registry=self.registry, grace=0.5, labels=settings.labels,
                   zone=settings.zone, version=settings.instance_version)
        )  # fmt: skip
        self._all.push_async_callback(instance.aclose)
        self.ports.setdefault(name, []).append(port)
        self._instances[port] = instance
        return port

    async def stop(self, port: int) -> None:
        """Stop the instance on ``port`` (deregisters, drains, closes)."""
        await self._instances.pop(port).aclose()

    async def ghost(self, name: str, ttl: float = 60) -> ServiceEndpoint:
        """An instance of ``name`` gone without deregistering: its record stays, its port shut."""
        port = await self.start(name)
        [endpoint] = [e for e in await self.registry.discover_services(name) if e.port == port]
        await self.stop(port)
        await self.registry.register_service(name, endpoint, ttl=ttl)
        return endpoint

    async def aclose(self) -> None:
        """Stop every instance still running."""
        await self._all.aclose()
