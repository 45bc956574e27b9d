"""The circuit breakers one mesh client holds: one per service and one per endpoint.

A service's breaker sees what callers see (the outcome after retries); an
endpoint's breaker sees each attempt on that instance, so a bad instance is
ejected while its siblings keep serving.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from meshctl.core.breaker import CircuitBreaker, CircuitBreakerConfig, CircuitState
from meshctl.core.endpoint import ServiceEndpoint
from meshctl.registry.control import ACTIONS

#: callback(service, instance_id or None, old state, new state, breaker)
StateChangeListener = Callable[[str, str | None, CircuitState, CircuitState, CircuitBreaker], None]


@dataclass(frozen=True, slots=True)
class BreakerKey:
    service: str
    instance_id: str | None = None  # None: the service-level breaker

    @property
    def scope(self) -> str:
        return "service" if self.instance_id is None else "endpoint"


class BreakerBook:
    """Creates breakers on first use and finds them again for commands and snapshots."""

    def __init__(
        self,
        config: CircuitBreakerConfig | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config or CircuitBreakerConfig()
        self._clock = clock
        self._breakers: dict[BreakerKey, CircuitBreaker] = {}
        self._addresses: dict[BreakerKey, str] = {}
        self._listeners: list[StateChangeListener] = []

    def add_listener(self, listener: StateChangeListener) -> None:
        self._listeners.append(listener)

    def _make(self, key: BreakerKey, name: str) -> CircuitBreaker:
        breaker = CircuitBreaker(name, self.config, clock=self._clock)

        def notify(b: CircuitBreaker, old: CircuitState, new: CircuitState) -> None:
            for listener in self._listeners:
                listener(key.service, key.instance_id, old, new, b)

        breaker.add_listener(notify)
        self._breakers[key] = breaker
        return breaker

    def service(self, service: str) -> CircuitBreaker:
        key = BreakerKey(service)
        return self._breakers.get(key) or self._make(key, service)

    def endpoint(self, endpoint: ServiceEndpoint) -> CircuitBreaker:
        key = BreakerKey(endpoint.service_name, endpoint.instance_id)
        breaker = self._breakers.get(key)
        if breaker is None:
            breaker = self._make(key, f"{endpoint.service_name}@{endpoint.address}")
            self._addresses[key] = endpoint.address
        return breaker

    def peek_endpoint(self, endpoint: ServiceEndpoint) -> CircuitBreaker | None:
        return self._breakers.get(BreakerKey(endpoint.service_name, endpoint.instance_id))

    def forget(self, service: str, instance_id: str) -> None:
        """Drop the breaker of an instance that left the registry."""
        key = BreakerKey(service, instance_id)
        self._breakers.pop(key, None)
        self._addresses.pop(key, None)

    def items(self) -> Iterator[tuple[BreakerKey, CircuitBreaker]]:
        return iter(list(self._breakers.items()))

    def select(
        self, service: str | None = None, instance_id: str | None = None
    ) -> list[BreakerKey]:
        """Keys matching a command's target; no service means every breaker."""
        return [
            key
            for key in self._breakers
            if (service is None or key.service == service)
            and (instance_id is None or key.instance_id == instance_id)
        ]

    def apply(
        self, action: str, service: str | None = None, instance_id: str | None = None
    ) -> list[dict[str, str]]:
        """Run reset/force_open/close/disable on matching breakers; returns what changed.

        ``close`` is ``reset`` by another name (operators say both); when the
        target service has no breaker yet, ``force_open`` creates it so the
        command holds for calls that come later.
        """
        if action not in ACTIONS:
            raise ValueError(f"unknown breaker action {action!r}; one of {', '.join(ACTIONS)}")
        keys = self.select(service, instance_id)
        if not keys and action == "force_open" and service and instance_id is None:
            self.service(service)
            keys = [BreakerKey(service)]
        changes = []
        for key in keys:
            breaker = self._breakers[key]
            before = breaker.state
            {
                "reset": breaker.reset,
                "close": breaker.reset,
                "force_open": breaker.force_open,
                "disable": breaker.disable,
            }[action]()
            after = breaker.state
            if before != after:
                changes.append({"breaker": breaker.name, "from": before.value, "to": after.value})
        return changes

    def snapshots(self) -> list[dict[str, Any]]:
        """Every breaker's snapshot, labelled with its service, scope and endpoint."""
        out = []
        # A copy: Prometheus scrapes read this from the metrics server's thread.
        for key, breaker in list(self.items()):
            snap = breaker.snapshot()
            snap.update(
                service=key.service,
                scope=key.scope,
                instance_id=key.instance_id,
                address=self._addresses.get(key),
            )
            out.append(snap)
        return out

    def status(self) -> dict[str, dict[str, Any]]:
        """Per service: its breaker's state and counters, with its endpoints' breakers inside."""
        result: dict[str, dict[str, Any]] = {}
        for snap in self.snapshots():
            entry = result.setdefault(snap["service"], {"endpoints": {}})
            if snap["scope"] == "service":
                entry.update({k: v for k, v in snap.items() if k not in ("config",)})
            else:
                entry["endpoints"][snap["instance_id"]] = {
                    k: snap[k]
                    for k in ("state", "address", "failure_count", "error_percentage", "trip_count")
                }
        for entry in result.values():
            entry.setdefault("state", CircuitState.CLOSED.value)
        return result
