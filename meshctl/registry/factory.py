"""The one way to open a service registry from settings."""

from __future__ import annotations

import redis.asyncio as aioredis

from meshctl.config import MeshSettings
from meshctl.registry.redis_registry import ServiceRegistry


def open_registry(
    settings: MeshSettings | None = None, *, redis: aioredis.Redis | None = None
) -> ServiceRegistry:
    """A registry at ``settings.redis_url`` under ``settings.prefix``.

    Args:
        settings: where the mesh lives (default: ``MESH_*`` and defaults).
        redis: a client to share instead of opening one (the caller closes it);
            the registry closes a client it opened in ``aclose``.
    """
    settings = settings or MeshSettings()
    return ServiceRegistry(redis if redis is not None else settings.redis_url, settings.prefix)
