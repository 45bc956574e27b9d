"""The process-wide mesh client, built once from settings."""

from __future__ import annotations

import asyncio

from meshctl.config import MeshSettings
from meshctl.events import create_event_bus
from meshctl.mesh.client import ServiceMeshClient
from meshctl.registry import ServiceRegistry

_mesh: ServiceMeshClient | None = None
_lock = asyncio.Lock()


def build_mesh(
    settings: MeshSettings | None = None, *, name: str | None = None
) -> ServiceMeshClient:
    """A new, unstarted client wired to the registry and event bus the settings name."""
    settings = settings or MeshSettings()
    registry = ServiceRegistry(settings.redis_url, prefix=settings.prefix)
    bus = create_event_bus(settings)
    client_name = name or settings.client_name or "mesh-client"
    return ServiceMeshClient(registry, name=client_name, event_bus=bus)


async def get_service_mesh(settings: MeshSettings | None = None) -> ServiceMeshClient:
    """The started process-wide client (created on first use from ``MESH_*`` settings)."""
    global _mesh
    async with _lock:
        if _mesh is None:
            mesh = build_mesh(settings)
            await mesh.start()
            _mesh = mesh
    return _mesh


async def close_service_mesh() -> None:
    """Stop the process-wide client, if one was started."""
    global _mesh
    async with _lock:
        mesh, _mesh = _mesh, None
    if mesh is not None:
        await mesh.aclose()
        await mesh.registry.aclose()
