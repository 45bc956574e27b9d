"""The one way to open a mesh client, and the process-wide client built with it."""

from __future__ import annotations

import asyncio
import weakref
from typing import Any

from meshctl.config import MeshSettings
from meshctl.events import EventBus, open_bus
from meshctl.mesh.client import ServiceMeshClient
from meshctl.registry import ServiceRegistry, open_registry
from meshctl.transport.tls import tls_files

_mesh: ServiceMeshClient | None = None
_mesh_loop: asyncio.AbstractEventLoop | None = None
# A lock binds to the loop it first waits on: one per loop, gone with it.
_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
    weakref.WeakKeyDictionary()
)


def _lock() -> asyncio.Lock:
    loop = asyncio.get_running_loop()
    lock = _locks.get(loop)
    if lock is None:
        lock = _locks[loop] = asyncio.Lock()
    return lock


def open_mesh(
    settings: MeshSettings | None = None,
    *,
    name: str | None = None,
    registry: ServiceRegistry | None = None,
    events: EventBus | bool = True,
    **options: Any,
) -> ServiceMeshClient:
    """A new, unstarted client wired to the registry and event bus the settings name.

    Args:
        settings: where the mesh lives (default: ``MESH_*`` and defaults).
        name: the client's mesh name (default ``settings.client_name`` or ``mesh-client``).
        registry: a registry to share; the client then leaves it open. Without
            one the client opens its own and closes it in ``aclose``.
        events: True for the settings' bus (Kafka when a broker is set, else
            in memory), False for none, or a bus to use.
        options: passed to :class:`ServiceMeshClient` (``control``, ``strategy``, ...);
            ``tls`` defaults to the files the settings name.
    """
    settings = settings or MeshSettings()
    owned = registry is None
    registry = registry or open_registry(settings)
    bus = open_bus(settings) if events is True else (events or None)
    options.setdefault("tls", tls_files(settings))
    return ServiceMeshClient(
        registry,
        name=name or settings.client_name or "mesh-client",
        event_bus=bus,
        owns_registry=owned,
        **({"zone": settings.zone} | options),
    )


async def get_service_mesh(settings: MeshSettings | None = None) -> ServiceMeshClient:
    """The started process-wide client (created on first use from ``MESH_*`` settings).

    A client is bound to the event loop it started on; once that loop has
    closed (a second ``asyncio.run``, a test's own loop) a new client is made.
    """
    global _mesh, _mesh_loop
    async with _lock():
        if _mesh is None or _mesh_loop is None or _mesh_loop.is_closed():
            mesh = open_mesh(settings)
            await mesh.start()
            _mesh, _mesh_loop = mesh, asyncio.get_running_loop()
    return _mesh


async def close_service_mesh() -> None:
    """Stop the process-wide client, if one was started (on a loop still open)."""
    global _mesh, _mesh_loop
    async with _lock():
        mesh, loop = _mesh, _mesh_loop
        _mesh = _mesh_loop = None
    if mesh is not None and loop is asyncio.get_running_loop():
        await mesh.aclose()
