"""Client-side load balancing: pick one endpoint of a service for each call.

Rules every strategy follows:

* Unhealthy endpoints are never picked; unknown health counts as usable. When
  no healthy-or-unknown endpoint passes ``eligible`` (the caller's filter for
  open breakers and endpoints already tried), ``select`` raises
  ``NoHealthyEndpointsError`` naming the service, rather than gambling on an
  instance the registry reports down.
* Weight 0 means draining: such endpoints are picked only when no eligible
  endpoint of positive weight is left. Weight shapes ``weighted_random`` and
  ``consistent_hash``; the other strategies ignore it.
* Picks cost O(1) whatever the size, plus a step per ineligible endpoint
  skipped: what a strategy needs (usable subset, cumulative weights, hash
  ring) is built once per endpoint list and cached by the list's identity, so
  hand the balancer the same sequence object until it changes and never mutate
  it in place (the registry client does this). A new list with the same
  members reuses the ring and the round-robin position; survivors keep stats.
* ``eligible`` is called on a few candidates only; random strategies fall back
  to one scan when sampling keeps hitting ineligible endpoints.

Not thread-safe: one balancer belongs to one event loop.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_right
from collections.abc import Callable, Sequence
from enum import StrEnum
from itertools import accumulate
from typing import Any

from meshctl.core.endpoint import HealthStatus, ServiceEndpoint
from meshctl.core.endpoint_stats import (
    EndpointStats,
    HealthAwareWeights,
    ServiceStats,
    health_aware_score,
)
from meshctl.core.hashring import DEFAULT_VIRTUAL_NODES, MAX_POINTS_PER_NODE, HashRing, key_position
from meshctl.errors import NoHealthyEndpointsError

__all__ = ["Eligible", "HealthAwareWeights", "LoadBalancer", "LoadBalancingStrategy"]

Eligible = Callable[[ServiceEndpoint], bool]

DEFAULT_WEIGHTS = HealthAwareWeights()
_SAMPLE_TRIES = 8  # random draws before a random strategy scans for eligible endpoints
_SCAN_BELOW = 8  # pools this small are scanned outright


class LoadBalancingStrategy(StrEnum):
    ROUND_ROBIN = "round_robin"
    LEAST_CONNECTIONS = "least_connections"
    WEIGHTED_RANDOM = "weighted_random"
    HEALTH_AWARE = "health_aware"
    CONSISTENT_HASH = "consistent_hash"


def _weight(endpoint: ServiceEndpoint) -> float:
    """The endpoint's weight; a non-finite one (garbage in the registry) counts as 1."""
    weight = endpoint.weight
    return weight if 0.0 <= weight < math.inf else 1.0


class _Pool:
    """One tier of usable endpoints (positive weight, or draining) with their stats."""

    __slots__ = ("endpoints", "stats")

    def __init__(self, endpoints: Sequence[ServiceEndpoint], stats: ServiceStats) -> None:
        self.endpoints = tuple(endpoints)
        self.stats = [stats.endpoints[ep.instance_id] for ep in self.endpoints]

    def pick(self, rng: random.Random, eligible: Eligible | None, key: str | None) -> int | None:
        """Index of the chosen endpoint, or None when none in this pool is eligible."""
        raise NotImplementedError

    def _eligible_indices(self, eligible: Eligible | None) -> list[int]:
        eps = self.endpoints
        return [i for i in range(len(eps)) if eligible is None or eligible(eps[i])]


class _RoundRobinPool(_Pool):
    """Rotates through the pool, skipping ineligible endpoints."""

    __slots__ = ("_cursor",)
    _cursor: int

    def __init__(
        self,
        endpoints: Sequence[ServiceEndpoint],
        stats: ServiceStats,
        rng: random.Random,
        previous: Sequence[_Pool],
    ) -> None:
        super().__init__(endpoints, stats)
        # Carry the rotation over a refresh; a first pool starts at a random place so
        # that many clients starting together do not all begin on the same endpoint.
        cursors = (p._cursor for p in previous if isinstance(p, _RoundRobinPool))
        cursor = next(cursors, None)
        self._cursor = rng.randrange(len(self.endpoints)) if cursor is None else cursor

    def pick(self, rng: random.Random, eligible: Eligible | None, key: str | None) -> int | None:
        eps = self.endpoints
        size = len(eps)
        for step in range(size):
            i = (self._cursor + step) % size
            if eligible is None or eligible(eps[i]):
                self._cursor = i + 1
                return i
        return None


class _WeightedPool(_Pool):
    """Random pick proportional to weight: bisect over cumulative weights."""

    __slots__ = ("_weights", "_cumulative")

    def __init__(
        self, endpoints: Sequence[ServiceEndpoint], stats: ServiceStats, weights: list[float]
    ) -> None:
        super().__init__(endpoints, stats)
        self._weights = weights
        self._cumulative = list(accumulate(weights))

    def pick(self, rng: random.Random, eligible: Eligible | None, key: str | None) -> int | None:
        eps, cumulative = self.endpoints, self._cumulative
        total, last = cumulative[-1], len(cumulative) - 1
        # Rejection sampling keeps the pick proportional among the eligible ones.
        for _ in range(_SAMPLE_TRIES):
            i = min(bisect_right(cumulative, rng.random() * total), last)
            if eligible is None or eligible(eps[i]):
                return i
        candidates = self._eligible_indices(eligible)
        if not candidates:
            return None
        return rng.choices(candidates, weights=[self._weights[i] for i in candidates])[0]


class _TwoChoicesPool(_Pool):
    """Power of two random choices: two distinct eligible endpoints, the better one wins."""

    __slots__ = ()

    def pick(self, rng: random.Random, eligible: Eligible | None, key: str | None) -> int | None:
        eps = self.endpoints
        size = len(eps)
        if size > _SCAN_BELOW:
            first = -1
            for _ in range(_SAMPLE_TRIES):
                i = int(rng.random() * size)
                if i == first or (eligible is not None and not eligible(eps[i])):
                    continue
                if first < 0:
                    first = i
                else:
                    return self._prefer(first, i)
        candidates = self._eligible_indices(eligible)
        if len(candidates) < 2:
            return candidates[0] if candidates else None
        a, b = rng.sample(candidates, 2)
        return self._prefer(a, b)

    def _prefer(self, a: int, b: int) -> int:
        raise NotImplementedError


class _LeastConnectionsPool(_TwoChoicesPool):
    __slots__ = ()

    def _prefer(self, a: int, b: int) -> int:
        return b if self.stats[b].active < self.stats[a].active else a


class _HealthAwarePool(_TwoChoicesPool):
    __slots__ = ("_service", "_weights")

    def __init__(
        self,
        endpoints: Sequence[ServiceEndpoint],
        stats: ServiceStats,
        weights: HealthAwareWeights,
    ) -> None:
        super().__init__(endpoints, stats)
        self._service = stats
        self._weights = weights

    def _prefer(self, a: int, b: int) -> int:
        eps, stats, ref, w = self.endpoints, self.stats, self._service.latency, self._weights
        score_a = health_aware_score(eps[a], stats[a], ref, w)
        return b if health_aware_score(eps[b], stats[b], ref, w) > score_a else a


class _RingPool(_Pool):
    """Consistent hashing; with no key, a random point on the ring (a weighted random pick)."""

    __slots__ = ("ring", "ring_key")

    def __init__(
        self,
        endpoints: Sequence[ServiceEndpoint],
        stats: ServiceStats,
        weights: list[float],
        virtual_nodes: int,
        previous: Sequence[_Pool],
    ) -> None:
        super().__init__(endpoints, stats)
        self.ring_key = tuple(zip((ep.instance_id for ep in self.endpoints), weights, strict=True))
        same = (p for p in previous if isinstance(p, _RingPool) and p.ring_key == self.ring_key)
        reusable = next(same, None)
        self.ring: HashRing = (
            reusable.ring
            if reusable is not None
            else HashRing([ep.instance_id for ep in self.endpoints], weights, virtual_nodes)
        )

    def pick(self, rng: random.Random, eligible: Eligible | None, key: str | None) -> int | None:
        eps = self.endpoints
        position = 1.0 + rng.random() if key is None else key_position(key)
        # Walking on from an ineligible owner moves only that owner's keys.
        for i in self.ring.walk(position):
            if eligible is None or eligible(eps[i]):
                return i
        return None


RECENT_LISTS = 4
"""Lists whose pools a service keeps: a route's subsets (and the whole view, when a
subset falls back) alternate call by call, and must not rebuild each other's pools."""


class _ServiceView:
    """What the balancer holds for one service: the lists last seen with their pools
    (the latest first), and the stats of every endpoint those lists hold."""

    __slots__ = ("source", "pools", "stats", "recent")

    def __init__(self) -> None:
        self.source: Sequence[ServiceEndpoint] | None = None
        self.pools: tuple[_Pool, ...] = ()
        self.stats = ServiceStats()
        self.recent: list[tuple[Sequence[ServiceEndpoint], tuple[_Pool, ...]]] = []


class LoadBalancer:
    """Chooses endpoints by one strategy and tracks in-flight calls and latencies.

    ``least_connections`` and ``health_aware`` use the power of two random
    choices: two distinct eligible endpoints are drawn at random and the one
    with fewer active calls (or the better health-aware score) wins. This costs
    O(1) per pick, follows the best endpoints closely, and, unlike always taking
    the global best, does not stampede every client onto the same instance.
    """

    def __init__(
        self,
        strategy: LoadBalancingStrategy | str = LoadBalancingStrategy.HEALTH_AWARE,
        *,
        weights: HealthAwareWeights = DEFAULT_WEIGHTS,
        rng: random.Random | None = None,
        virtual_nodes: int = DEFAULT_VIRTUAL_NODES,
    ) -> None:
        """Configure the balancer.

        Args:
            strategy: a ``LoadBalancingStrategy`` or its value, e.g. ``"round_robin"``.
            weights: how ``health_aware`` weighs health, response time and connections.
            rng: the source of randomness (seed one for reproducible picks).
            virtual_nodes: ring points per unit of weight for ``consistent_hash``.

        Raises:
            ValueError: unknown strategy or virtual_nodes out of range.
        """
        try:
            self._strategy = LoadBalancingStrategy(strategy)
        except ValueError:
            choices = ", ".join(s.value for s in LoadBalancingStrategy)
            raise ValueError(f"unknown strategy {strategy!r}; choose one of {choices}") from None
        if not isinstance(weights, HealthAwareWeights):
            raise ValueError("weights must be a HealthAwareWeights")
        if (
            isinstance(virtual_nodes, bool)
            or not isinstance(virtual_nodes, int)
            or not 1 <= virtual_nodes <= MAX_POINTS_PER_NODE
        ):
            raise ValueError(
                f"virtual_nodes must be an integer in 1-{MAX_POINTS_PER_NODE}, "
                f"not {virtual_nodes!r}"
            )
        self._weights = weights
        self._rng = rng or random.Random()
        self._virtual_nodes = virtual_nodes
        self._views: dict[str, _ServiceView] = {}

    @property
    def strategy(self) -> LoadBalancingStrategy:
        return self._strategy

    @property
    def tracked_endpoints(self) -> int:
        """How many endpoints the balancer holds stats for (those of the latest lists)."""
        return sum(len(view.stats.endpoints) for view in self._views.values())

    def select(
        self,
        endpoints: Sequence[ServiceEndpoint],
        key: str | None = None,
        *,
        eligible: Eligible | None = None,
    ) -> ServiceEndpoint:
        """Pick the endpoint for one call.

        Args:
            endpoints: the service's instances, as discovery returned them.
            key: stickiness key for ``consistent_hash`` (e.g. a camera id); other
                strategies ignore it, and without one ``consistent_hash`` picks
                a random point on its ring (weighted random).
            eligible: returns False for endpoints not to use now (open breaker,
                already tried).

        Returns:
            An endpoint that is not unhealthy and passes ``eligible``.

        Raises:
            NoHealthyEndpointsError: no such endpoint (also for an empty list).
            TypeError: ``key`` is not a string.
        """
        if not endpoints:
            raise NoHealthyEndpointsError("", "No endpoints to choose from")
        if key is not None and not isinstance(key, str):
            raise TypeError(f"balancing key must be a string, not {type(key).__name__}")
        service = endpoints[0].service_name
        view = self._views.get(service)
        if view is None or view.source is not endpoints:
            view = self._switch(service, endpoints)
        for pool in view.pools:
            i = pool.pick(self._rng, eligible, key)
            if i is not None:
                pool.stats[i].picks += 1
                return pool.endpoints[i]
        raise NoHealthyEndpointsError(
            service,
            f"No healthy endpoints for service {service}: "
            f"none of its {len(endpoints)} known instance(s) is healthy and eligible",
        )

    def on_start(self, endpoint: ServiceEndpoint) -> None:
        """A call to ``endpoint`` begins (ignored for endpoints no current list holds)."""
        stats = self._lookup(endpoint)
        if stats is not None:
            stats.active += 1

    def on_finish(self, endpoint: ServiceEndpoint, latency: float, success: bool) -> None:
        """A call started with ``on_start`` ended after ``latency`` seconds.

        Raises:
            ValueError: latency is negative, NaN or infinite.
        """
        if isinstance(latency, bool) or not isinstance(latency, int | float):
            raise ValueError(f"latency must be a number of seconds, not {latency!r}")
        if not 0.0 <= latency < math.inf:
            raise ValueError(f"latency must be finite and >= 0, not {latency}")
        stats = self._lookup(endpoint)
        if stats is not None:
            stats.active = max(0, stats.active - 1)
            self._views[endpoint.service_name].stats.record(stats, float(latency), success)

    def stats(self, endpoint: ServiceEndpoint) -> dict[str, Any]:
        """For display: active calls, latency EWMA (s), success rate, picks, health-aware score."""
        view = self._views.get(endpoint.service_name)
        service = view.stats if view is not None else ServiceStats()
        stats = self._lookup(endpoint) or EndpointStats()
        return {
            "active": stats.active,
            "ewma_latency": stats.latency,
            "success_rate": stats.success,
            "picks": stats.picks,
            "score": health_aware_score(endpoint, stats, service.latency, self._weights),
        }

    def forget(self, endpoint: ServiceEndpoint) -> None:
        """Drop what is known of ``endpoint``; the next pick rebuilds the service's pools."""
        view = self._views.get(endpoint.service_name)
        if view is not None:
            view.stats.endpoints.pop(endpoint.instance_id, None)
            view.source, view.recent = None, []

    def _lookup(self, endpoint: ServiceEndpoint) -> EndpointStats | None:
        view = self._views.get(endpoint.service_name)
        return None if view is None else view.stats.endpoints.get(endpoint.instance_id)

    def _switch(self, service: str, endpoints: Sequence[ServiceEndpoint]) -> _ServiceView:
        """Make ``endpoints`` the service's current list: its pools again if it is one of
        the recent lists, else new ones."""
        view = self._views.setdefault(service, _ServiceView())
        for source, pools in view.recent:
            if source is endpoints:
                view.source, view.pools = source, pools
                return view
        return self._refresh(view, endpoints)

    def _refresh(self, view: _ServiceView, endpoints: Sequence[ServiceEndpoint]) -> _ServiceView:
        """Build pools for a new list; stats of endpoints no recent list holds go."""
        kept = view.recent[: RECENT_LISTS - 1]
        view.stats.retain({ep.instance_id for source, _ in kept for ep in source}
                          | {ep.instance_id for ep in endpoints})  # fmt: skip
        active: list[ServiceEndpoint] = []
        draining: list[ServiceEndpoint] = []
        for ep in endpoints:
            if ep.health_status is not HealthStatus.UNHEALTHY:
                (active if _weight(ep) > 0 else draining).append(ep)
        old, pools = [pool for _, pools in view.recent for pool in pools], []
        if active:
            pools.append(self._pool(active, view.stats, [_weight(ep) for ep in active], old))
        if draining:
            # Draining endpoints share their tier equally: their weights are all zero.
            pools.append(self._pool(draining, view.stats, [1.0] * len(draining), old))
        view.pools = tuple(pools)
        view.source = endpoints
        view.recent = [(endpoints, view.pools), *kept]
        return view

    def _pool(
        self,
        endpoints: list[ServiceEndpoint],
        stats: ServiceStats,
        weights: list[float],
        old_pools: Sequence[_Pool],
    ) -> _Pool:
        match self._strategy:
            case LoadBalancingStrategy.ROUND_ROBIN:
                return _RoundRobinPool(endpoints, stats, self._rng, old_pools)
            case LoadBalancingStrategy.WEIGHTED_RANDOM:
                return _WeightedPool(endpoints, stats, weights)
            case LoadBalancingStrategy.LEAST_CONNECTIONS:
                return _LeastConnectionsPool(endpoints, stats)
            case LoadBalancingStrategy.HEALTH_AWARE:
                return _HealthAwarePool(endpoints, stats, self._weights)
            case LoadBalancingStrategy.CONSISTENT_HASH:
                return _RingPool(endpoints, stats, weights, self._virtual_nodes, old_pools)
