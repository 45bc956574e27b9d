"""Service registry in Redis: registration with TTLs, discovery, a cached view, health checks."""

from meshctl.registry.factory import open_registry
from meshctl.registry.health import HealthMonitor
from meshctl.registry.keepalive import KeepAlive
from meshctl.registry.keys import registry_key
from meshctl.registry.problems import Problem
from meshctl.registry.redis_registry import RegistrySnapshot, ServiceInstances, ServiceRegistry
from meshctl.registry.watch import CachedRegistry, RegistryWatcher

__all__ = [
    "CachedRegistry",
    "HealthMonitor",
    "KeepAlive",
    "Problem",
    "RegistrySnapshot",
    "RegistryWatcher",
    "ServiceRegistry",
    "ServiceInstances",
    "open_registry",
    "registry_key",
]
