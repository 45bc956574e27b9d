"""Test support for people testing their own services against a mesh, and for meshctl's tests.

Nothing here is needed at run time and shipped code never imports it.

In memory, no servers needed:
    memory_mesh, MemoryMesh   a started mesh client on fakeredis and an in-memory
                              event bus; register your loopback servers and call them
    FakeClock                 a clock that moves when told, for every ``clock=`` parameter

On loopback, for real:
    WebhookReceiver           an HTTP server that records what it is sent and can fail
    ReceivedRequest           one request it recorded
    AsgiServer                any ASGI app under uvicorn on a free port
    served                    a meshctl service app through the real host; yields its port
    Platform                  the four reference services, started on demand
    TcpProxy                  a path to a server that can be cut, reset, stalled and restored
    SentinelGroup             a Redis primary, a replica and three sentinels, to fail over
    free_port, closed_port    loopback ports
    temporary_database        an empty SQLite or PostgreSQL database

pytest fixtures on real Redis, Kafka and PostgreSQL: ``meshctl.testing.pytest_plugin``.
"""

from meshctl.embedded.sink import AsgiServer, ReceivedRequest, WebhookReceiver
from meshctl.testing.clock import FakeClock
from meshctl.testing.databases import DatabaseUnavailableError, temporary_database
from meshctl.testing.memory import MemoryMesh, memory_mesh
from meshctl.testing.net import TcpProxy, closed_port, free_port
from meshctl.testing.sentinel import SentinelGroup
from meshctl.testing.services import Platform, served

__all__ = [
    "AsgiServer",
    "DatabaseUnavailableError",
    "FakeClock",
    "MemoryMesh",
    "Platform",
    "ReceivedRequest",
    "SentinelGroup",
    "TcpProxy",
    "WebhookReceiver",
    "closed_port",
    "free_port",
    "memory_mesh",
    "served",
    "temporary_database",
]
