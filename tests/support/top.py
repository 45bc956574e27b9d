"""For meshctl top's tests: deterministic mesh states, and a pilot waiting on a live screen.

The states hold the platform's four services and a caller, two refreshes apart.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from meshctl.core.endpoint import HealthStatus, ServiceEndpoint
from meshctl.tui.model import MeshState

T0 = 1_750_000_000.0


def stats(
    requests: int, failures: int = 0, *, p99: float = 12.0, active: int = 0
) -> dict[str, Any]:
    """A CallStats snapshot as mesh clients report it."""
    interval = {"requests": 10 if requests else 0, "p50": p99 / 4, "p95": p99 / 2, "p99": p99}
    return {
        "requests": requests,
        "failures": failures,
        "error_rate": failures / requests if requests else 0.0,
        "active": active,
        "errors": {"ConnectionFailedError": failures} if failures else {},
        "latency_ms": {},
        "interval": interval,
    }


def endpoint(service: str, port: int, instance_id: str, **fields: Any) -> ServiceEndpoint:
    ep = ServiceEndpoint(
        service, "10.0.0.1", port, instance_id=instance_id, version="1.4.2", **fields
    )
    ep.health_status = fields.get("health_status", HealthStatus.HEALTHY)
    ep.registered_at = T0 - 3600
    ep.last_check = T0 - 4
    return ep


def breaker(
    service: str, state: str = "closed", instance_id: str | None = None, **extra: Any
) -> dict[str, Any]:
    return {
        "service": service,
        "scope": "service" if instance_id is None else "endpoint",
        "instance_id": instance_id,
        "address": None if instance_id is None else "10.0.0.1:50062",
        "state": state,
        "failure_count": extra.get("failures", 0),
        "error_percentage": extra.get("error_percentage", 0.0),
        "trip_count": extra.get("trips", 0),
        "retry_after": extra.get("retry_after"),
    }


def services() -> dict[str, list[ServiceEndpoint]]:
    return {
        "alert": [endpoint("alert", 50053, "alert-a")],
        "analytics": [
            endpoint("analytics", 50052, "analytics-a"),
            endpoint("analytics", 50062, "analytics-b", health_status=HealthStatus.UNHEALTHY),
        ],
        "auth": [endpoint("auth", 8000, "auth-a", protocol="http")],
        "streaming": [endpoint("streaming", 50051, "streaming-a", metadata={"zone": "eu"})],
    }


def reports(scale: int) -> list[dict[str, Any]]:
    """Reports of a streaming client and a camera gateway; counters grow with ``scale``."""
    streaming = {
        "client_id": "streaming-1",
        "name": "streaming",
        "published_at": T0 + scale,
        "breakers": [
            breaker("analytics"),
            breaker(
                "analytics",
                "open",
                "analytics-b",
                failures=5,
                error_percentage=62.5,
                trips=2,
                retry_after=25.0,
            ),
        ],
        "services": {"analytics": stats(100 * scale, 2 * scale, p99=18.0)},
        "endpoints": {
            "analytics": {
                "analytics-a": stats(95 * scale, 0, p99=15.0),
                "analytics-b": stats(5 * scale, 2 * scale, p99=30.0),
            }
        },
    }
    analytics = {
        "client_id": "analytics-1",
        "name": "analytics",
        "published_at": T0 + scale,
        "breakers": [breaker("alert")],
        "services": {"alert": stats(20 * scale, 0, p99=40.0, active=1)},
        "endpoints": {"alert": {"alert-a": stats(20 * scale, 0, p99=40.0, active=1)}},
    }
    gateway = {
        "client_id": "gateway-1",
        "name": "gateway",
        "published_at": T0 + scale,
        "breakers": [breaker("streaming"), breaker("auth")],
        "services": {"streaming": stats(50 * scale, p99=60.0), "auth": stats(5 * scale, p99=5.0)},
        "endpoints": {},
    }
    return [streaming, analytics, gateway, *served(scale)]


def server(instance_id: str, scale: int, **methods: dict[str, Any]) -> dict[str, Any]:
    """The report of instance ``instance_id`` (named ``service-x``) on what it served."""
    return {
        "client_id": f"{instance_id.split('-')[0]}@{instance_id}",
        "role": "server",
        "name": instance_id.split("-")[0],
        "instance_id": instance_id,
        "published_at": T0 + scale,
        "served": methods,
    }


def served(scale: int) -> list[dict[str, Any]]:
    """Server reports: streaming serves more than the gateway calls (short-lived CLIs call it
    too); analytics-b served nothing lately."""
    return [
        server("streaming-a", scale, ProcessFrame=stats(70 * scale, scale, p99=55.0)),
        server(
            "analytics-a",
            scale,
            ProcessDetections=stats(95 * scale, p99=9.0),
            GetTrafficMetrics=stats(10 * scale, 2 * scale, p99=3.0),
        ),
        server("analytics-b", scale, ProcessDetections={**stats(40), "interval": {"requests": 0}}),
        server("alert-a", scale, SendAlert=stats(20 * scale, p99=35.0)),
        server("auth-a", scale, login=stats(5 * scale, p99=4.0)),
    ]


def state(scale: int) -> MeshState:
    """The mesh ``scale`` seconds after T0 (rates are constant between scales)."""
    return MeshState(T0 + scale, services(), reports(scale))


class ScriptedFetch:
    """Returns the given states in turn, then keeps returning the last."""

    def __init__(self, *states: MeshState) -> None:
        self.states = list(states)
        self.calls = 0

    async def __call__(self) -> MeshState:
        self.calls += 1
        return self.states.pop(0) if len(self.states) > 1 else self.states[0]


async def until(pilot: Any, condition: Callable[[], bool], attempts: int = 100) -> None:
    """Refresh and let workers run until ``condition`` holds (each step waits on real I/O)."""
    for _ in range(attempts):
        if condition():
            return
        await pilot.press("ctrl+r")
        await pilot.pause(0.05)
    raise AssertionError("the screen never showed what was expected")
