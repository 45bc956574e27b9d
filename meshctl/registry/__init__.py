"""Service registry in Redis: registration with TTLs, discovery, a cached view, health checks."""

from meshctl.registry.health import HealthMonitor
from meshctl.registry.keepalive import KeepAlive
from meshctl.registry.keys import registry_key
from meshctl.registry.redis_registry import ServiceRegistry
from meshctl.registry.watch import CachedRegistry, RegistryWatcher

__all__ = [
    "CachedRegistry",
    "HealthMonitor",
    "KeepAlive",
    "RegistryWatcher",
    "ServiceRegistry",
    "registry_key",
]
