"""Per-endpoint call tracking and the health-aware score built on it.

Latency and success rate are exponentially weighted moving averages over calls
(not over time), so nothing here reads a clock: callers pass latencies in.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from meshctl.core.endpoint import HealthStatus, ServiceEndpoint

EWMA_ALPHA = 0.3
"""Weight of the newest call in the moving averages."""

HEALTH_SCORES: dict[HealthStatus, float] = {
    HealthStatus.HEALTHY: 1.0,
    HealthStatus.UNKNOWN: 0.6,
    HealthStatus.UNHEALTHY: 0.0,
}


@dataclass(frozen=True, slots=True)
class HealthAwareWeights:
    """How much health, response time and active connections count in the score."""

    health: float = 0.4
    response_time: float = 0.3
    connections: float = 0.3

    def __post_init__(self) -> None:
        for name in ("health", "response_time", "connections"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"weight {name} must be a number, not {value!r}")
            if not 0.0 <= value < math.inf:
                raise ValueError(f"weight {name} must be finite and >= 0, not {value}")
        if self.health + self.response_time + self.connections <= 0:
            raise ValueError("at least one health-aware weight must be > 0")


class EndpointStats:
    """What one endpoint's calls looked like: in flight now, latency, success rate, picks."""

    __slots__ = ("active", "latency", "success", "picks")

    def __init__(self) -> None:
        self.active = 0
        self.latency: float | None = None
        self.success = 1.0
        self.picks = 0


def _ewma(previous: float, sample: float) -> float:
    return previous + EWMA_ALPHA * (sample - previous)


class ServiceStats:
    """The stats of one service's current endpoints, plus the service-wide latency average.

    The service-wide average is the yardstick an endpoint's latency is scored
    against, so scores mean the same whether the service answers in 1 ms or 1 s.
    """

    __slots__ = ("endpoints", "latency")

    def __init__(self) -> None:
        self.endpoints: dict[str, EndpointStats] = {}
        self.latency: float | None = None

    def retain(self, instance_ids: Iterable[str]) -> None:
        """Keep (or start) stats for exactly these instances; forget every other one."""
        old = self.endpoints
        self.endpoints = {iid: old.get(iid) or EndpointStats() for iid in instance_ids}

    def record(self, stats: EndpointStats, latency: float, success: bool) -> None:
        """Fold one finished call into the endpoint's and the service's averages."""
        stats.latency = latency if stats.latency is None else _ewma(stats.latency, latency)
        stats.success = _ewma(stats.success, 1.0 if success else 0.0)
        self.latency = latency if self.latency is None else _ewma(self.latency, latency)


def health_aware_score(
    endpoint: ServiceEndpoint,
    stats: EndpointStats,
    service_latency: float | None,
    weights: HealthAwareWeights,
) -> float:
    """Score in [0, 1], higher is better.

    health: the registry's status (healthy 1.0, unknown 0.6, unhealthy 0) times
    the recent success rate, so an instance that fails fast is not mistaken for
    a good one. response time: ``s / (s + own)`` against the service-wide
    average ``s`` (0.5 when average, 1.0 when much faster; 0.5 with no data).
    connections: ``1 / (1 + active)``.
    """
    health = HEALTH_SCORES[endpoint.health_status] * stats.success
    own = stats.latency
    if own is None or service_latency is None or service_latency + own <= 0:
        speed = 0.5
    else:
        speed = service_latency / (service_latency + own)
    idle = 1.0 / (1 + stats.active)
    total = weights.health + weights.response_time + weights.connections
    return (
        weights.health * health + weights.response_time * speed + weights.connections * idle
    ) / total
