"""meshctl: an embedded service-mesh runtime and the operator's command for it.

The runtime's public API is re-exported here. Names are imported on first
use (PEP 562) so that ``meshctl --help``, which imports this package, does
not pay for grpc, redis or aiokafka.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from meshctl._version import __version__

if TYPE_CHECKING:
    from meshctl.core.balancer import HealthAwareWeights, LoadBalancer, LoadBalancingStrategy
    from meshctl.core.breaker import CircuitBreaker, CircuitBreakerConfig, CircuitState
    from meshctl.core.context import CorrelationContext, current_context, use_context
    from meshctl.core.endpoint import HealthStatus, ServiceEndpoint
    from meshctl.errors import (
        CallTimeoutError,
        CircuitBreakerOpenError,
        ConnectionFailedError,
        InvalidRequestError,
        MeshError,
        NoEndpointsError,
        NoHealthyEndpointsError,
        RemoteCallError,
    )
    from meshctl.events import Event, EventBus, KafkaEventBus, MemoryEventBus
    from meshctl.mesh import CallResult, ServiceMeshClient, get_service_mesh
    from meshctl.orchestrator import ServiceOrchestrator, WorkflowResult
    from meshctl.registry import HealthMonitor, RegistryWatcher, ServiceRegistry

_EXPORTS: dict[str, str] = {
    "CallResult": "meshctl.mesh",
    "CallTimeoutError": "meshctl.errors",
    "CircuitBreaker": "meshctl.core.breaker",
    "CircuitBreakerConfig": "meshctl.core.breaker",
    "CircuitBreakerOpenError": "meshctl.errors",
    "CircuitState": "meshctl.core.breaker",
    "ConnectionFailedError": "meshctl.errors",
    "CorrelationContext": "meshctl.core.context",
    "Event": "meshctl.events",
    "EventBus": "meshctl.events",
    "HealthAwareWeights": "meshctl.core.balancer",
    "HealthMonitor": "meshctl.registry",
    "HealthStatus": "meshctl.core.endpoint",
    "InvalidRequestError": "meshctl.errors",
    "KafkaEventBus": "meshctl.events",
    "LoadBalancer": "meshctl.core.balancer",
    "LoadBalancingStrategy": "meshctl.core.balancer",
    "MemoryEventBus": "meshctl.events",
    "MeshError": "meshctl.errors",
    "NoEndpointsError": "meshctl.errors",
    "NoHealthyEndpointsError": "meshctl.errors",
    "RegistryWatcher": "meshctl.registry",
    "RemoteCallError": "meshctl.errors",
    "ServiceEndpoint": "meshctl.core.endpoint",
    "ServiceMeshClient": "meshctl.mesh",
    "ServiceOrchestrator": "meshctl.orchestrator",
    "ServiceRegistry": "meshctl.registry",
    "WorkflowResult": "meshctl.orchestrator",
    "current_context": "meshctl.core.context",
    "get_service_mesh": "meshctl.mesh",
    "use_context": "meshctl.core.context",
}

__all__ = [
    "__version__",
    "CallResult",
    "CallTimeoutError",
    "CircuitBreaker",
    "CircuitBreakerConfig",
    "CircuitBreakerOpenError",
    "CircuitState",
    "ConnectionFailedError",
    "CorrelationContext",
    "Event",
    "EventBus",
    "HealthAwareWeights",
    "HealthMonitor",
    "HealthStatus",
    "InvalidRequestError",
    "KafkaEventBus",
    "LoadBalancer",
    "LoadBalancingStrategy",
    "MemoryEventBus",
    "MeshError",
    "NoEndpointsError",
    "NoHealthyEndpointsError",
    "RegistryWatcher",
    "RemoteCallError",
    "ServiceEndpoint",
    "ServiceMeshClient",
    "ServiceOrchestrator",
    "ServiceRegistry",
    "WorkflowResult",
    "current_context",
    "get_service_mesh",
    "use_context",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'meshctl' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
