"""The Routing tab's pure part: subsets, versions and zones counted from the instances,
zone spill-over, SLO burn rates as shown, the service row's marks and the JSON."""

from __future__ import annotations

import dataclasses
from typing import Any

from meshctl.core.endpoint import HealthStatus, ServiceEndpoint
from meshctl.core.routing import parse_table
from meshctl.core.slo import LOOKBACKS, SliCounts, Slo, SloStatus, evaluate
from meshctl.tui.model import MeshState, compute
from meshctl.tui.render import service_cells, service_details
from meshctl.tui.routing import (
    BURN_ORDER,
    Group,
    Routing,
    burn_style,
    marks,
    once_text,
    routing_text,
    routing_views,
    service_routing,
)
from tests.support.top import T0, endpoint, state

CANARY = {
    "service": "analytics",
    "subsets": {"stable": {"version": "0.1.0"}, "canary": {"version": "0.2.0"}},
    "rules": [
        {"match": {"headers": {"x-canary": "1"}}, "route": "canary"},
        {"route": [{"subset": "stable", "weight": 95}, {"subset": "canary", "weight": 5}]},
    ],
}


def instance(
    port: int, version: str | None, zone: str | None, healthy: bool = True
) -> ServiceEndpoint:
    ep = endpoint("analytics", port, f"analytics-{port}")
    ep.version, ep.zone = version, zone
    ep.health_status = HealthStatus.HEALTHY if healthy else HealthStatus.UNHEALTHY
    return ep


def fleet() -> list[ServiceEndpoint]:
    """Two stable instances in eu-west, a canary in eu-east that is down, one unlabelled."""
    return [
        instance(1, "0.1.0", "eu-west"),
        instance(2, "0.1.0", "eu-west"),
        instance(3, "0.2.0", "eu-east", healthy=False),
        instance(4, None, None),
    ]


def status(failed: int, total: int = 1000, objective: float = 99.9) -> SloStatus:
    """An SLO whose window and every lookback saw ``failed`` of ``total`` requests fail."""
    counts = SliCounts(total, failed)
    return evaluate(
        Slo("analytics", objective, 30 * 86400), counts, dict.fromkeys(LOOKBACKS, counts)
    )


def routing(*statuses: SloStatus, **tables: dict[str, Any]) -> Routing:
    parsed = {name: parse_table(doc, revision=3) for name, doc in tables.items()}
    return Routing(T0, parsed, statuses)


def test_subsets_versions_and_zones_count_healthy_of_total():
    r = service_routing("analytics", fleet(), routing(analytics=CANARY))
    assert r.subsets == (
        Group("stable", 2, 2, "version=0.1.0"),
        Group("canary", 0, 1, "version=0.2.0"),
    )
    assert r.versions == (Group("0.1.0", 2, 2), Group("0.2.0", 0, 1), Group(None, 1, 1))
    # eu-east's only instance is down: its callers spill over to the other zones
    assert r.zones == (
        Group("eu-east", 0, 1, spills=True),
        Group("eu-west", 2, 2),
        Group(None, 1, 1),
    )


def test_a_zone_alone_has_nowhere_to_spill():
    r = service_routing("analytics", [instance(1, "1", "a", healthy=False)], Routing())
    assert r.zones == (Group("a", 0, 1),)
    assert r.table is None and r.subsets == () and r.slos == ()


def test_services_with_only_a_table_or_an_slo_come_after_the_live_ones():
    other = dataclasses.replace(status(0), slo=Slo("billing", 99.0, 86400))
    views = routing_views(
        {"analytics": fleet()}, ["streaming", "analytics"],
        routing(other, auth={**CANARY, "service": "auth"}),
    )  # fmt: skip
    assert [v.service for v in views] == ["streaming", "analytics", "auth", "billing"]
    assert views[2].subsets == (Group("stable", 0, 0, "version=0.1.0"),
                                Group("canary", 0, 0, "version=0.2.0"))  # fmt: skip


def test_burn_rates_show_in_alert_pairs_and_fire_fast_then_slow():
    assert BURN_ORDER == ("5m", "1h", "30m", "6h")
    fast, slow, calm = status(20), status(8), status(0)  # 2 %, 0.8 %, 0 of a 0.1 % budget
    assert (fast.alerts, slow.alerts, calm.alerts) == (["fast", "slow"], ["slow"], [])
    text = service_text_of(fast)
    assert "availability 99.9% over 30d: -1900.0% budget left, 1000 requests" in text
    assert "burn  5m 20.00  1h 20.00  30m 20.00  6h 20.00  fast burn\n" in text
    assert "burn  5m 8.00  1h 8.00  30m 8.00  6h 8.00  slow burn\n" in service_text_of(slow)
    assert [burn_style(v) for v in (None, 0.5, 3.0, 8.0, 20.0)] == [
        "dim", "green", "yellow", "red", "bold red",
    ]  # fmt: skip


def service_text_of(*statuses: SloStatus) -> str:
    [view] = routing_views({}, [], routing(*statuses))
    return routing_text([view]).plain


def test_the_service_row_marks_a_route_table_and_a_burning_budget():
    def name_cell(*statuses: SloStatus, **tables: dict[str, Any]) -> str:
        r = service_routing("analytics", fleet(), routing(*statuses, **tables))
        return marks(r).plain

    assert name_cell() == ""
    assert name_cell(analytics=CANARY) == " ⇄"
    assert name_cell(status(20), analytics=CANARY) == " ⇄ !!"
    assert name_cell(status(8)) == " !"
    assert marks(None).plain == ""


def test_compute_carries_routing_to_the_view_its_rows_and_json():
    routed = routing(status(20), analytics=CANARY)
    before, now = (dataclasses.replace(state(n), routing=routed) for n in (1, 2))
    view = compute(before, now)
    analytics = view.service("analytics")
    assert analytics is not None and analytics.routing is not None
    assert str(service_cells(analytics)[0]) == "analytics ⇄ !!"
    assert "route table: rev 3, 2 rules   SLO: analytics 99.9% -1900.0% left, fast burn" in (
        service_details(analytics)
    )
    data = view.to_json()
    [route] = data["routes"]
    assert route["service"] == "analytics" and route["revision"] == 3
    assert route["rules"] == ["x-canary=1 -> canary 100%", "any call -> stable 95%, canary 5%"]
    assert route["subsets"] == [
        {"name": "stable", "healthy": 0, "total": 0, "labels": "version=0.1.0"},
        {"name": "canary", "healthy": 0, "total": 0, "labels": "version=0.2.0"},
    ]  # the synthetic instances are all 1.4.2
    assert route["table"] == CANARY
    [slo] = data["slos"]
    assert slo["service"] == "analytics" and slo["alerts"] == ["fast", "slow"]
    assert slo["slis"][0]["burn_rates"]["1h"] == 20.0
    served = next(s for s in data["services"] if s["service"] == "analytics")
    assert served["versions"] == [{"name": "1.4.2", "healthy": 1, "total": 2}]
    assert served["zones"] == [{"name": None, "healthy": 1, "total": 2}]


def test_once_prints_only_services_with_a_table_or_an_slo():
    assert once_text(routing_views({"analytics": fleet()}, ["analytics"], Routing())) == ""
    views = routing_views({"analytics": fleet()}, ["analytics", "alert"], routing(analytics=CANARY))
    assert once_text(views).splitlines() == [
        "analytics ⇄  route table rev 3, fallback any instance",
        "  rule      x-canary=1 -> canary 100%",
        "  rule      any call -> stable 95%, canary 5%",
        "  subsets   stable (version=0.1.0) 2/2   canary (version=0.2.0) 0/1",
        "  SLO       -",
    ]


def test_a_skipped_record_is_listed_under_the_services():
    text = routing_text([], ["route table of 'x' is not valid (boom): {}"]).plain
    assert "No service, route table or SLO yet." in text
    assert "skipped: route table of 'x' is not valid (boom): {}" in text


def test_a_state_without_routing_read_yet_has_no_routes():
    view = compute(None, MeshState(T0, {"analytics": fleet()}, []))
    assert view.to_json()["routes"] == [] and view.routing[0].table is None
