"""What ``meshctl top`` shows, computed from two fetched mesh states: no I/O here.

``compute(prev, state)`` turns the registry snapshot and the control-plane
reports into a ``MeshView``: services ordered by the platform's flow, their
instances, golden metrics, call edges and every breaker. Golden metrics come
twice: as served (the reports service instances publish of every request
they answered, whoever the caller) and as seen by callers (the reports of
long-lived mesh clients). Rates come from the difference of cumulative
counters between two refreshes, summed over reports; success is that of the
requests in between, unknown (not 100 %) when there were none; latency
percentiles are the interval percentiles of the report that saw the worst
one, since percentiles of different reports cannot be added.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from meshctl.core.endpoint import HealthStatus, ServiceEndpoint
from meshctl.registry.reports import SERVER_ROLE
from meshctl.tui.routing import Routing, ServiceRouting, routing_views

#: The platform's flow; services it does not name come after, by name.
FLOW: tuple[str, ...] = ("streaming", "analytics", "alert", "auth")

#: Breaker states from worst to best: a row shows the worst any client holds.
BREAKER_SEVERITY: tuple[str, ...] = ("open", "forced_open", "half_open", "disabled", "closed")
NO_BREAKER = "-"

Report = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class MeshState:
    """One fetch: every live instance and every live client's report, at wall time ``at``,
    and the route tables and SLO statuses last read (``routing``, read less often)."""

    at: float
    services: Mapping[str, Sequence[ServiceEndpoint]]
    reports: Sequence[Report]
    routing: Routing = field(default_factory=Routing)


@dataclass(slots=True)
class Metrics:
    """Golden metrics of one service, instance or method, served or as callers see it."""

    requests: int = 0
    rps: float = 0.0
    success_rate: float | None = None
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    active: int = 0
    errors: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "rps": round(self.rps, 3),
            "success_rate": None if self.success_rate is None else round(self.success_rate, 4),
            "p50_ms": self.p50_ms,
            "p95_ms": self.p95_ms,
            "p99_ms": self.p99_ms,
            "active": self.active,
            "errors": dict(sorted(self.errors.items())),
        }


@dataclass(slots=True)
class InstanceView:
    """One instance: ``metrics`` as its callers saw it, ``served`` as it reports itself."""

    endpoint: ServiceEndpoint
    breaker: str
    metrics: Metrics
    served: Metrics = field(default_factory=Metrics)

    def to_json(self, now: float) -> dict[str, Any]:
        ep = self.endpoint
        registered = ep.registered_at
        return {
            "instance_id": ep.instance_id,
            "address": ep.address,
            "protocol": ep.protocol,
            "health": ep.health_status.value,
            "breaker": self.breaker,
            "weight": ep.weight,
            "zone": ep.zone,
            "version": ep.version,
            "metadata": dict(ep.metadata),
            "registered_at": registered,
            "age_seconds": None if registered is None else round(max(now - registered, 0.0), 3),
            "last_check": ep.last_check,
            **self.metrics.to_json(),
            "served": self.served.to_json(),
        }


@dataclass(slots=True)
class ServiceView:
    """One service: ``metrics`` as callers saw it, ``served`` (and per method) by its instances."""

    name: str
    instances: list[InstanceView]
    breaker: str
    metrics: Metrics
    callers: list[str]
    callees: list[str]
    served: Metrics = field(default_factory=Metrics)
    methods: dict[str, Metrics] = field(default_factory=dict)
    routing: ServiceRouting | None = None

    @property
    def healthy(self) -> int:
        return sum(1 for i in self.instances if i.endpoint.health_status is HealthStatus.HEALTHY)

    def to_json(self, now: float) -> dict[str, Any]:
        return {
            "service": self.name,
            "breaker": self.breaker,
            "healthy": self.healthy,
            "total": len(self.instances),
            "callers": self.callers,
            "callees": self.callees,
            **self.metrics.to_json(),
            "served": {
                **self.served.to_json(),
                "methods": {name: m.to_json() for name, m in sorted(self.methods.items())},
            },
            "instances": [i.to_json(now) for i in self.instances],
            "versions": [g.to_json() for g in self.routing.versions] if self.routing else [],
            "zones": [g.to_json() for g in self.routing.zones] if self.routing else [],
        }


@dataclass(frozen=True, slots=True)
class Edge:
    """Calls from the clients named ``caller`` to ``callee``, as those clients saw them."""

    caller: str
    callee: str
    rps: float
    success_rate: float | None = None
    p99_ms: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "caller": self.caller,
            "callee": self.callee,
            "rps": round(self.rps, 3),
            "success_rate": None if self.success_rate is None else round(self.success_rate, 4),
            "p99_ms": self.p99_ms,
        }


@dataclass(frozen=True, slots=True)
class BreakerView:
    """One breaker of one client; ``half_open_in`` is seconds until it admits a trial call."""

    client_id: str
    client: str
    service: str
    scope: str
    instance_id: str | None
    address: str | None
    state: str
    failures: int
    error_percentage: float
    trips: int
    half_open_in: float | None

    @property
    def target(self) -> str:
        return self.service if self.instance_id is None else f"{self.service}/{self.instance_id}"


@dataclass(slots=True)
class MeshView:
    at: float
    services: list[ServiceView]
    edges: list[Edge]
    breakers: list[BreakerView]
    clients: int
    servers: int = 0
    routing: list[ServiceRouting] = field(default_factory=list)
    routing_problems: Sequence[str] = ()

    @property
    def empty(self) -> bool:
        return not self.services and not self.clients and not self.servers

    def service(self, name: str) -> ServiceView | None:
        return next((s for s in self.services if s.name == name), None)

    def to_json(self) -> dict[str, Any]:
        """The snapshot ``meshctl top --once -o json`` prints."""
        return {
            "at": self.at,
            "clients": self.clients,
            "servers": self.servers,
            "services": [s.to_json(self.at) for s in self.services],
            "edges": [e.to_json() for e in self.edges],
            "breakers": [
                {
                    "client_id": b.client_id,
                    "client": b.client,
                    "service": b.service,
                    "scope": b.scope,
                    "instance_id": b.instance_id,
                    "address": b.address,
                    "state": b.state,
                    "failures": b.failures,
                    "error_percentage": b.error_percentage,
                    "trips": b.trips,
                    "half_open_in": b.half_open_in,
                }
                for b in self.breakers
            ],
            "routes": [r.route_json() for r in self.routing if r.table is not None],
            "slos": [status.to_json() for r in self.routing for status in r.slos],
            "routing_problems": list(self.routing_problems),
        }


def worst(states: Iterable[str]) -> str:
    """The most severe breaker state of ``states``; ``-`` when there is none."""
    ranked = [s for s in states if s in BREAKER_SEVERITY]
    return min(ranked, key=BREAKER_SEVERITY.index) if ranked else NO_BREAKER


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _stats(report: Report, *path: str) -> Mapping[str, Any] | None:
    """The CallStats snapshot at ``path`` in a report, or None when absent or malformed."""
    node: Any = report
    for part in path:
        node = node.get(part) if isinstance(node, Mapping) else None
    return node if isinstance(node, Mapping) else None


def _by_client(reports: Sequence[Report]) -> dict[str, Report]:
    return {str(r.get("client_id")): r for r in reports}


Pairs = Sequence[tuple[Mapping[str, Any], Mapping[str, Any] | None]]


def metrics(now: Pairs, dt: float) -> Metrics:
    """Combine (current, previous) CallStats snapshots of several reports into one Metrics.

    ``dt`` is the seconds between the two fetches, 0 on a first refresh. Rates and
    success are those of the requests counted in between (a report new since the
    last fetch counts from zero); unknown on a first refresh or when no request was
    counted, where success is that of every request so far, or unknown.
    """
    out = Metrics()
    delta_requests = delta_failures = failures = 0
    worst_interval: dict[str, Any] = {}
    for current, previous in now:
        requests = _int(current.get("requests"))
        failed = _int(current.get("failures"))
        out.requests += requests
        failures += failed
        out.active += _int(current.get("active"))
        errors = current.get("errors")
        for kind, count in errors.items() if isinstance(errors, Mapping) else ():
            out.errors[str(kind)] = out.errors.get(str(kind), 0) + _int(count)
        base = _int(previous.get("requests")) if previous is not None else 0
        base_failed = _int(previous.get("failures")) if previous is not None else 0
        if requests >= base:  # a restarted reporter's counters went back: no rate from it
            delta_requests += requests - base
            delta_failures += max(failed - base_failed, 0)
        interval = current.get("interval")
        if isinstance(interval, Mapping) and _int(interval.get("requests")) > 0:
            p99 = interval.get("p99")
            if not worst_interval or (p99 or 0) > (worst_interval.get("p99") or 0):
                worst_interval = dict(interval)
    if dt <= 0:
        if out.requests:
            out.success_rate = 1 - failures / out.requests
    else:
        out.rps = delta_requests / dt
        if delta_requests:
            out.success_rate = 1 - delta_failures / delta_requests
    if worst_interval:
        out.p50_ms = worst_interval.get("p50")
        out.p95_ms = worst_interval.get("p95")
        out.p99_ms = worst_interval.get("p99")
    return out


def flow_order(names: Iterable[str], edges: Iterable[Edge]) -> list[str]:
    """Names ordered so callers come before callees, the platform's flow breaking ties.

    A cycle cannot be ordered; its members keep the flow order among themselves.
    """
    pending = sorted(set(names), key=lambda n: (FLOW.index(n) if n in FLOW else len(FLOW), n))
    incoming: dict[str, set[str]] = {n: set() for n in pending}
    for e in edges:
        if e.callee in incoming and e.caller in incoming and e.caller != e.callee:
            incoming[e.callee].add(e.caller)
    ordered: list[str] = []
    while pending:
        ready = next((n for n in pending if not incoming[n] - set(ordered)), pending[0])
        ordered.append(ready)
        pending.remove(ready)
    return ordered


def compute(prev: MeshState | None, state: MeshState) -> MeshView:
    """The view of ``state``, with rates from the counters' growth since ``prev``."""
    dt = state.at - prev.at if prev is not None else 0.0
    before = _by_client(prev.reports) if prev is not None else {}
    every = [(r, before.get(str(r.get("client_id")))) for r in state.reports]
    pairs = [(r, old) for r, old in every if r.get("role") != SERVER_ROLE]
    servers = [(r, old) for r, old in every if r.get("role") == SERVER_ROLE]

    edge_rps: dict[tuple[str, str], list[tuple[Mapping[str, Any], Mapping[str, Any] | None]]] = {}
    callees: set[str] = set()
    for report, old in pairs:
        caller = str(report.get("name", "?"))
        services = report.get("services")
        for callee in services if isinstance(services, Mapping) else ():
            current = _stats(report, "services", callee)
            if current is not None:
                previous = _stats(old, "services", callee) if old else None
                edge_rps.setdefault((caller, callee), []).append((current, previous))
                callees.add(callee)
    # Callers without a report of their own (short-lived CLIs, foreign clients) as the
    # servers counted them: requests and failures, no latency.
    served_by: dict[tuple[str, str], list[tuple[Mapping[str, Any], Mapping[str, Any] | None]]] = {}
    for report, old in servers:
        callee = str(report.get("name", "?"))
        for caller, current, previous in _callers(report, old):
            if (caller, callee) not in edge_rps and caller != callee:
                served_by.setdefault((caller, callee), []).append((current, previous))
    edges = [_edge(c, d, metrics(v, dt)) for (c, d), v in [*edge_rps.items(), *served_by.items()]]

    breakers = [b for report, _ in pairs for b in _breakers(report, state.at)]
    names = flow_order([*state.services, *callees], edges)
    routing = routing_views(state.services, names, state.routing)
    views = []
    for name, routed in zip(names, routing, strict=False):
        stats = [
            (cur, prev_)
            for (_, callee), v in edge_rps.items()
            if callee == name
            for cur, prev_ in v
        ]
        instances = [
            _instance(ep, pairs, servers, breakers, dt) for ep in state.services.get(name, ())
        ]
        served = [(r, old) for r, old in servers if r.get("name") == name]
        service_breakers = (b.state for b in breakers if b.service == name and b.scope == "service")
        views.append(
            ServiceView(
                name=name,
                instances=instances,
                breaker=worst(service_breakers),
                metrics=metrics(stats, dt),
                callers=sorted({e.caller for e in edges if e.callee == name}),
                callees=sorted({e.callee for e in edges if e.caller == name}),
                served=metrics(_served(served), dt),
                methods={
                    method: metrics(_served(served, method), dt) for method in _methods(served)
                },
                routing=routed,
            )
        )
    edges.sort(key=lambda e: (names.index(e.callee), e.caller))
    return MeshView(
        state.at, views, edges, breakers, len(pairs), len(servers), routing,
        state.routing.problems,
    )  # fmt: skip


def _callers(
    report: Report, old: Report | None
) -> Iterable[tuple[str, Mapping[str, Any], Mapping[str, Any] | None]]:
    """(caller, current, previous) counts from a server report's ``callers``."""
    callers = report.get("callers")
    before = old.get("callers") if old is not None else None
    for caller, current in callers.items() if isinstance(callers, Mapping) else ():
        if isinstance(current, Mapping):
            previous = before.get(caller) if isinstance(before, Mapping) else None
            yield str(caller), current, previous if isinstance(previous, Mapping) else None


def _edge(caller: str, callee: str, m: Metrics) -> Edge:
    return Edge(caller, callee, m.rps, m.success_rate, m.p99_ms)


def _methods(servers: Sequence[tuple[Report, Report | None]]) -> list[str]:
    """Every method the server reports name."""
    names: set[str] = set()
    for report, _ in servers:
        served = report.get("served")
        names.update(str(m) for m in (served if isinstance(served, Mapping) else ()))
    return sorted(names)


def _served(
    servers: Sequence[tuple[Report, Report | None]], method: str | None = None
) -> list[tuple[Mapping[str, Any], Mapping[str, Any] | None]]:
    """(current, previous) served stats of ``method``, or of every method, in server reports."""
    out = []
    for report, old in servers:
        served = report.get("served")
        every = list(served) if isinstance(served, Mapping) else []
        for name in [method] if method is not None else every:
            current = _stats(report, "served", name)
            if current is not None:
                out.append((current, _stats(old, "served", name) if old else None))
    return out


def _instance(
    ep: ServiceEndpoint,
    pairs: Sequence[tuple[Report, Report | None]],
    servers: Sequence[tuple[Report, Report | None]],
    breakers: Sequence[BreakerView],
    dt: float,
) -> InstanceView:
    path = ("endpoints", ep.service_name, ep.instance_id)
    stats = []
    for report, old in pairs:
        current = _stats(report, *path)
        if current is not None:
            stats.append((current, _stats(old, *path) if old else None))
    state = worst(
        b.state
        for b in breakers
        if b.service == ep.service_name and b.instance_id == ep.instance_id
    )
    own = [(r, old) for r, old in servers if r.get("instance_id") == ep.instance_id]
    return InstanceView(ep, state, metrics(stats, dt), metrics(_served(own), dt))


def _breakers(report: Report, now: float) -> list[BreakerView]:
    """The breakers of one report; ``half_open_in`` counts down from its publication."""
    out = []
    published = report.get("published_at")
    age = now - published if isinstance(published, int | float) else 0.0
    snaps = report.get("breakers")
    for snap in snaps if isinstance(snaps, list) else ():
        if not isinstance(snap, Mapping) or "service" not in snap:
            continue
        retry = snap.get("retry_after")
        out.append(
            BreakerView(
                client_id=str(report.get("client_id")),
                client=str(report.get("name", "?")),
                service=str(snap["service"]),
                scope=str(snap.get("scope", "service")),
                instance_id=snap.get("instance_id"),
                address=snap.get("address"),
                state=str(snap.get("state", "closed")),
                failures=_int(snap.get("failure_count")),
                error_percentage=float(snap.get("error_percentage") or 0.0),
                trips=_int(snap.get("trip_count")),
                half_open_in=None
                if not isinstance(retry, int | float)
                else max(retry - max(age, 0.0), 0.0),
            )
        )
    return out


# -- what the screens list --------------------------------------------------------

SORT_KEYS: dict[str, str] = {
    "name": "NAME",
    "rps": "RPS",
    "success": "SUCCESS",
    "p99": "P99",
    "active": "ACTIVE",
    "errors": "ERRORS",
}


def shown(s: ServiceView, source: str) -> Metrics:
    """The metrics of ``s`` from ``source``: ``served`` or ``callers``."""
    return s.served if source == "served" else s.metrics


def sort_services(
    services: Sequence[ServiceView], key: str, source: str = "served"
) -> list[ServiceView]:
    """Services by ``key`` (one of SORT_KEYS) of ``source``'s metrics: ``name`` keeps the
    flow order, others worst first."""
    if key == "name":
        return list(services)

    def value(s: ServiceView) -> float:
        m = shown(s, source)
        return {
            "rps": m.rps,
            "success": -(m.success_rate if m.success_rate is not None else 1.0),
            "p99": m.p99_ms or 0.0,
            "active": float(m.active),
            "errors": float(sum(m.errors.values())),
        }[key]

    return sorted(services, key=value, reverse=True)


def filter_services(services: Sequence[ServiceView], text: str) -> list[ServiceView]:
    """Services whose name, or one of whose instances' id or address, contains ``text``."""
    needle = text.strip().lower()
    if not needle:
        return list(services)
    return [
        s
        for s in services
        if needle in s.name.lower()
        or any(
            needle in i.endpoint.instance_id.lower() or needle in i.endpoint.address.lower()
            for i in s.instances
        )
    ]


def error_rate(m: Metrics) -> float:
    """The share of requests that failed, 0 when unknown (no request in the interval)."""
    return 0.0 if m.success_rate is None else 1.0 - m.success_rate


class History:
    """The last ``size`` RPS, error-rate and p99 figures of each (source, service), for the
    sparklines; ``add`` is called once a refresh."""

    def __init__(self, size: int = 300) -> None:
        self.size = size
        self.rps: dict[tuple[str, str], deque[float]] = {}
        self.errors: dict[tuple[str, str], deque[float]] = {}
        self.p99: dict[tuple[str, str], deque[float]] = {}

    def add(self, view: MeshView) -> None:
        for s in view.services:
            for source in ("served", "callers"):
                m = shown(s, source)
                key = (source, s.name)
                for series, value in (
                    (self.rps, m.rps),
                    (self.errors, error_rate(m)),
                    (self.p99, m.p99_ms or 0.0),
                ):
                    series.setdefault(key, deque(maxlen=self.size)).append(value)


# -- how a service or an edge is doing -------------------------------------------

#: A service's or an edge's condition, worst first (see ``condition``).
CONDITIONS: tuple[str, ...] = ("down", "degraded", "ok")


def condition(view: MeshView, service: str, caller: str | None = None) -> str:
    """``down`` when a breaker on ``service`` is open (or forced open) or one of its instances
    is unhealthy; ``degraded`` when a breaker on it is half-open or an instance's health is
    unknown; ``ok`` otherwise. With ``caller``, only the breakers of the clients of that name
    count: the condition of the edge ``caller`` → ``service``.
    """
    states = {
        b.state
        for b in view.breakers
        if b.service == service and (caller is None or b.client == caller)
    }
    found = view.service(service)
    health = {i.endpoint.health_status for i in found.instances} if found else set()
    if states & {"open", "forced_open"} or HealthStatus.UNHEALTHY in health:
        return "down"
    if "half_open" in states or HealthStatus.UNKNOWN in health:
        return "degraded"
    return "ok"
