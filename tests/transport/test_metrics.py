"""The Prometheus exposition built from the mesh's own statistics (no server here)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from meshctl.core.stats import CallStats, MethodStats
from meshctl.transport.metrics import (
    REGISTRY,
    MeshCollector,
    client_source,
    heartbeat_source,
    served_source,
)


@dataclass
class Watcher:
    read_failures: int
    held: dict[str, float]


@dataclass
class Beats:
    beats: int
    beat_failures: int
    registrations: int


def samples(collector: MeshCollector) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of the collector's exposition, as the Prometheus parser reads it."""
    text = generate_latest(collector).decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def labels(**pairs: str) -> frozenset[tuple[str, str]]:
    return frozenset(pairs.items())


def test_served_requests_by_method_and_code_with_a_histogram():
    served = MethodStats()
    stats = served.of("ProcessDetections")
    for latency in (0.002, 0.004, 0.2):
        stats.start()
        stats.finish(latency)
    stats.start()
    stats.finish(0.03, "NOT_FOUND", failed=False)
    stats.start()  # one still in flight
    collector = MeshCollector()
    remove = collector.add(served_source("analytics", "i-1", served))
    got = samples(collector)
    base = {"service": "analytics", "instance_id": "i-1", "method": "ProcessDetections"}
    assert got[("meshctl_server_requests_total", labels(**base, code="OK"))] == 3
    assert got[("meshctl_server_requests_total", labels(**base, code="NOT_FOUND"))] == 1
    assert got[("meshctl_server_requests_in_flight", labels(**base))] == 1
    bucket = "meshctl_server_request_duration_seconds_bucket"
    assert got[(bucket, labels(**base, le="0.005"))] == 2
    assert got[(bucket, labels(**base, le="0.05"))] == 3
    assert got[(bucket, labels(**base, le="+Inf"))] == 4
    assert got[("meshctl_server_request_duration_seconds_count", labels(**base))] == 4
    assert got[("meshctl_server_request_duration_seconds_sum", labels(**base))] == pytest.approx(
        0.236, rel=0.05
    )
    remove()
    assert samples(collector) == {}


def test_client_calls_endpoints_and_breakers():
    service, endpoint = CallStats(), CallStats()
    for stats in (service, endpoint):
        stats.start()
        stats.finish(0.01, "ConnectionFailedError")
    breakers: list[dict[str, Any]] = [
        {"service": "analytics", "instance_id": "i-2", "state": "open", "trip_count": 2},
        {"service": "analytics", "instance_id": None, "state": "closed", "trip_count": 0},
    ]
    collector = MeshCollector()
    collector.add(
        client_source(
            "streaming",
            {"analytics": service},
            {("analytics", "i-2"): endpoint},
            lambda: breakers,
            {"analytics": 3},
            Watcher(read_failures=2, held={"analytics": 4.0}),
        )  # fmt: skip
    )
    got = samples(collector)
    who = {"client": "streaming", "service": "analytics"}
    assert got[("meshctl_client_requests_total", labels(**who, code="ConnectionFailedError"))] == 1
    assert got[("meshctl_client_requests_total", labels(**who, code="OK"))] == 0
    assert got[
        ("meshctl_client_endpoint_requests_total",
         labels(**who, instance_id="i-2", code="ConnectionFailedError"))
    ] == 1  # fmt: skip
    assert got[("meshctl_breaker_state", labels(**who, instance_id="i-2", state="open"))] == 1
    assert got[("meshctl_breaker_state", labels(**who, instance_id="i-2", state="closed"))] == 0
    assert got[("meshctl_breaker_state", labels(**who, instance_id="", state="closed"))] == 1
    assert got[("meshctl_breaker_trips_total", labels(**who, instance_id="i-2"))] == 2
    assert got[("meshctl_client_retries_total", labels(**who))] == 3
    assert got[("meshctl_discovery_read_failures_total", labels(client="streaming"))] == 2
    assert got[("meshctl_discovery_views_held", labels(client="streaming"))] == 1


def test_heartbeats_failures_and_registrations_of_an_instance():
    beats = Beats(beats=7, beat_failures=2, registrations=2)
    collector = MeshCollector()
    collector.add(heartbeat_source("analytics", "i-1", beats))
    got = samples(collector)
    who = labels(service="analytics", instance_id="i-1")
    assert got[("meshctl_heartbeats_total", who)] == 7
    assert got[("meshctl_heartbeat_failures_total", who)] == 2
    assert got[("meshctl_registrations_total", who)] == 2
    beats.beats += 1  # read at scrape time, not when added
    assert samples(collector)[("meshctl_heartbeats_total", who)] == 8


def test_two_sources_with_the_same_labels_add_up():
    first, second = MethodStats(), MethodStats()
    for served in (first, second):
        served.of("login").start()
        served.of("login").finish(0.001)
    collector = MeshCollector()
    collector.add(served_source("auth", "i-1", first))
    collector.add(served_source("auth", "i-1", second))
    got = samples(collector)
    base = {"service": "auth", "instance_id": "i-1", "method": "login"}
    assert got[("meshctl_server_requests_total", labels(**base, code="OK"))] == 2
    assert got[("meshctl_server_request_duration_seconds_count", labels(**base))] == 2


def test_the_process_registry_has_the_standard_process_metrics():
    text = generate_latest(REGISTRY).decode()
    names = {f.name for f in text_string_to_metric_families(text)}
    assert {"process_cpu_seconds", "python_info", "python_gc_objects_collected"} <= names


def test_the_grafana_dashboard_queries_only_metrics_that_exist():
    import json
    import re
    from pathlib import Path

    served, stats = MethodStats(), CallStats()
    served.of("m").start()
    served.of("m").finish(0.01)
    collector = MeshCollector()
    collector.add(served_source("s", "i", served))
    collector.add(
        client_source("c", {"s": stats}, {}, lambda: [{"service": "s", "state": "open"}], {})
    )
    exported = {name for name, _ in samples(collector)}
    dashboard = Path(__file__).parents[2] / "docs/grafana/meshctl-golden-signals.json"
    exprs = [t["expr"] for p in json.loads(dashboard.read_text())["panels"] for t in p["targets"]]
    used = {name for expr in exprs for name in re.findall(r"meshctl_[a-z_]+", expr)}
    assert used and used <= exported, used - exported
