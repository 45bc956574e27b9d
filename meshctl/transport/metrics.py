"""Prometheus metrics of one process: what its services served, what its mesh clients called.

Nothing is counted twice. The exposition is built at scrape time from the
statistics the mesh keeps anyway (``MethodStats``, ``CallStats``, breaker
snapshots): a process nobody scrapes pays nothing for it. Latency histograms
are the HDR histograms cut at ``BUCKETS``. Names follow Prometheus
conventions: ``_total`` counters, ``_seconds`` base units, ``code`` the gRPC
status name (``OK``, ``NOT_FOUND``, ...), ``HTTP <status>`` for an HTTP
error, or for callers the error's kind.

A process has one ``PROCESS_METRICS`` collector: each service and mesh client
adds its source while it runs; ``metrics_server()`` serves them on one HTTP
port however many services the process hosts. Samples with the same name and
labels from two sources (two clients of one name) are added together.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from meshctl.core.slo import LATENCY_EDGES
from meshctl.core.stats import CallStats, LatencyHistogram, MethodStats

BUCKETS = LATENCY_EDGES
"""Histogram bucket edges, seconds, 1 ms to 10 s: the SLOs' latency thresholds, so the
generated Prometheus rules (``meshctl slo rules``) count exactly what the mesh counts."""

BREAKER_STATES = ("closed", "open", "half_open", "forced_open", "disabled")

Labels = tuple[tuple[str, str], ...]
Source = Callable[["Families"], None]


class Families:
    """Samples gathered for one scrape, by metric name and label set."""

    def __init__(self) -> None:
        self._docs: dict[str, tuple[str, str]] = {}  # name -> (kind, doc)
        self._values: dict[str, dict[Labels, float]] = {}
        self._histograms: dict[str, dict[Labels, tuple[list[int], float]]] = {}

    def _declare(self, name: str, kind: str, doc: str) -> None:
        self._docs.setdefault(name, (kind, doc))

    def counter(self, name: str, doc: str, labels: Mapping[str, str], value: float) -> None:
        self._add("counter", name, doc, labels, value)

    def gauge(self, name: str, doc: str, labels: Mapping[str, str], value: float) -> None:
        self._add("gauge", name, doc, labels, value)

    def _add(self, kind: str, name: str, doc: str, labels: Mapping[str, str], value: float) -> None:
        self._declare(name, kind, doc)
        samples = self._values.setdefault(name, {})
        key = tuple(labels.items())
        samples[key] = samples.get(key, 0.0) + value

    def histogram(
        self, name: str, doc: str, labels: Mapping[str, str], latency: LatencyHistogram
    ) -> None:
        self._declare(name, "histogram", doc)
        counts = latency.counts_up_to(BUCKETS)
        total = latency.count
        samples = self._histograms.setdefault(name, {})
        key = tuple(labels.items())
        old, old_sum = samples.get(key, ([0] * (len(BUCKETS) + 1), 0.0))
        new = [*counts, total - sum(counts)]  # the last: above the highest edge
        samples[key] = ([a + b for a, b in zip(old, new, strict=True)],
                        old_sum + latency.mean() * total)  # fmt: skip

    def metrics(self) -> Iterator[Metric]:
        for name, (kind, doc) in sorted(self._docs.items()):
            if kind == "histogram":
                yield self._histogram_family(name, doc)
                continue
            samples = self._values[name]
            names = [k for k, _ in next(iter(samples))]
            family: CounterMetricFamily | GaugeMetricFamily = (
                CounterMetricFamily(name, doc, labels=names)
                if kind == "counter"
                else GaugeMetricFamily(name, doc, labels=names)
            )
            for key, value in samples.items():
                family.add_metric([v for _, v in key], value)
            yield family

    def _histogram_family(self, name: str, doc: str) -> HistogramMetricFamily:
        samples = self._histograms[name]
        family = HistogramMetricFamily(name, doc, labels=[k for k, _ in next(iter(samples))])
        edges = [*(f"{edge:g}" for edge in BUCKETS), "+Inf"]
        for key, (counts, total_seconds) in samples.items():
            cumulative, running = [], 0
            for edge, count in zip(edges, counts, strict=True):
                running += count
                cumulative.append((edge, float(running)))
            family.add_metric([v for _, v in key], cumulative, sum_value=total_seconds)
        return family


def record_calls(
    families: Families,
    prefix: str,
    what: str,
    labels: Mapping[str, str],
    stats: CallStats,
    *,
    histogram: bool = True,
) -> None:
    """One ``CallStats``' requests by code, in-flight count and (optionally) latency."""
    errors = dict(stats.errors)
    ok = stats.requests - sum(errors.values())
    for code, count in [("OK", ok), *sorted(errors.items())]:
        families.counter(f"{prefix}_requests", f"Requests {what}, by code.",
                         {**labels, "code": code}, count)  # fmt: skip
    families.gauge(f"{prefix}_requests_in_flight", f"Requests {what} now.", labels, stats.active)
    if histogram:
        families.histogram(
            f"{prefix}_request_duration_seconds", f"Latency of requests {what}.", labels,
            stats.latency,
        )  # fmt: skip


def served_source(service: str, instance_id: str, served: MethodStats) -> Source:
    """What one service instance served, per method."""

    def add(families: Families) -> None:
        for method, stats in list(served.methods.items()):
            labels = {"service": service, "instance_id": instance_id, "method": method}
            record_calls(families, "meshctl_server", "served", labels, stats)

    return add


class Discovery(Protocol):
    """What a client's registry view counts (``RegistryWatcher``)."""

    read_failures: int

    @property
    def held(self) -> Mapping[str, float]: ...


class Heartbeats(Protocol):
    """What keeping one instance registered counts (``KeepAlive``)."""

    beats: int
    beat_failures: int
    registrations: int


def client_source(
    client: str,
    services: Mapping[str, CallStats],
    endpoints: Mapping[tuple[str, str], CallStats],
    breakers: Callable[[], Sequence[Mapping[str, Any]]],
    retries: Mapping[str, int],
    discovery: Discovery | None = None,
) -> Source:
    """What one mesh client called, per callee service and endpoint, its breakers,
    retries and registry reads."""

    def add(families: Families) -> None:
        for service, stats in list(services.items()):
            labels = {"client": client, "service": service}
            record_calls(families, "meshctl_client", "called", labels, stats)
            families.counter("meshctl_client_retries",
                             "Attempts after a call's first (retries and hedges).", labels,
                             retries.get(service, 0))  # fmt: skip
        if discovery is not None:
            families.counter("meshctl_discovery_read_failures",
                             "Reads of a service's instances that Redis did not answer.",
                             {"client": client}, discovery.read_failures)  # fmt: skip
            families.gauge("meshctl_discovery_views_held",
                           "Services served from their last good view over empty answers.",
                           {"client": client}, len(discovery.held))  # fmt: skip
        for (service, instance_id), stats in list(endpoints.items()):
            labels = {"client": client, "service": service, "instance_id": instance_id}
            record_calls(
                families, "meshctl_client_endpoint", "sent to one endpoint", labels, stats,
                histogram=False,
            )  # fmt: skip
        for snap in breakers():
            labels = {
                "client": client,
                "service": str(snap.get("service")),
                "instance_id": str(snap.get("instance_id") or ""),
            }
            state = snap.get("state")
            for name in BREAKER_STATES:
                families.gauge("meshctl_breaker_state",
                               "1 for the breaker's current state, 0 for the others.",
                               {**labels, "state": name}, float(state == name))  # fmt: skip
            families.counter("meshctl_breaker_trips", "Times the breaker opened.", labels,
                             float(snap.get("trip_count") or 0))  # fmt: skip

    return add


def heartbeat_source(service: str, instance_id: str, heartbeats: Heartbeats) -> Source:
    """How one instance's registration fares: heartbeats, failures, re-registrations."""

    def add(families: Families) -> None:
        labels = {"service": service, "instance_id": instance_id}
        families.counter("meshctl_heartbeats", "Heartbeats Redis answered.", labels,
                         heartbeats.beats)  # fmt: skip
        families.counter("meshctl_heartbeat_failures", "Heartbeats Redis did not answer.",
                         labels, heartbeats.beat_failures)  # fmt: skip
        families.counter("meshctl_registrations",
                         "Times the instance's record was written afresh (first, or lapsed).",
                         labels, heartbeats.registrations)  # fmt: skip

    return add


EVENT_OUTCOMES = {
    "published": "Events the broker acknowledged.",
    "spooled": "Events written to the on-disk spool while the broker was away.",
    "failed": "Events that could be neither sent nor spooled.",
    "replayed": "Spooled events sent to the broker.",
}


def events_source(client: str, counts: Callable[[], Mapping[str, Mapping[str, int]]]) -> Source:
    """What one event bus did with its events, per topic (``counts``: outcome -> topic -> n)."""

    def add(families: Families) -> None:
        snapshot = counts()
        for outcome, doc in EVENT_OUTCOMES.items():
            for topic, value in sorted(snapshot.get(outcome, {}).items()):
                families.counter(f"meshctl_events_{outcome}", doc,
                                 {"client": client, "topic": topic}, value)  # fmt: skip

    return add


class MeshCollector(Collector):
    """The process's mesh metrics: every source added and not yet removed."""

    def __init__(self) -> None:
        self._sources: dict[int, Source] = {}
        self._lock = threading.Lock()  # scrapes run on the metrics server's thread

    def add(self, source: Source) -> Callable[[], None]:
        """Collect ``source`` from now on; returns what stops it."""
        with self._lock:
            self._sources[id(source)] = source
        return lambda: self._remove(source)

    def _remove(self, source: Source) -> None:
        with self._lock:
            self._sources.pop(id(source), None)

    def collect(self) -> Iterable[Metric]:
        families = Families()
        with self._lock:
            sources = list(self._sources.values())
        for source in sources:
            source(families)
        return list(families.metrics())


PROCESS_METRICS = MeshCollector()

REGISTRY = CollectorRegistry(auto_describe=False)
"""What ``/metrics`` serves: the mesh's metrics and the standard process ones."""
REGISTRY.register(PROCESS_METRICS)
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)
GCCollector(registry=REGISTRY)


_server_lock = threading.Lock()
_server_port: int | None = None


def metrics_server(host: str = "127.0.0.1", port: int = 0) -> int:
    """Serve ``/metrics`` on ``host:port`` (0 picks a free port) from now on; the port.

    A process has one metrics server, started by the first call and serving
    until the process ends (a daemon thread, as prometheus_client's own); later
    calls get its port whatever they ask for.
    """
    global _server_port
    with _server_lock:
        if _server_port is None:
            server, _ = start_http_server(port, addr=host, registry=REGISTRY)
            _server_port = int(server.server_port)
        return _server_port
