"""The mesh client facade: call_service, publish_event, health and breaker views."""

from meshctl.mesh.call import CallResult
from meshctl.mesh.client import ServiceMeshClient
from meshctl.mesh.factory import close_service_mesh, get_service_mesh, open_mesh

__all__ = [
    "CallResult",
    "ServiceMeshClient",
    "close_service_mesh",
    "get_service_mesh",
    "open_mesh",
]
