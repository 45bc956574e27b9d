"""The pure data layer of meshctl top: rates, edges, flow order, breakers, sorting, filtering."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from meshctl.tui.model import (
    MeshState,
    MeshView,
    ServiceView,
    compute,
    filter_services,
    flow_order,
    sort_services,
    worst,
)
from tests.support.top import T0, breaker, endpoint, reports, services, state, stats


def service(view: MeshView, name: str) -> ServiceView:
    """The view of ``name``, which must be in ``view``."""
    found = view.service(name)
    assert found is not None, name
    return found


def test_rates_come_from_counter_growth_between_two_refreshes():
    view = compute(state(1), state(3))  # counters grow by 100/s over 2 s
    analytics = view.service("analytics")
    assert analytics is not None
    assert analytics.metrics.rps == pytest.approx(100.0)
    assert analytics.metrics.success_rate == pytest.approx(0.98)
    assert analytics.metrics.requests == 300
    by_id = {i.endpoint.instance_id: i for i in analytics.instances}
    assert by_id["analytics-a"].metrics.rps == pytest.approx(95.0)
    assert by_id["analytics-b"].metrics.success_rate == pytest.approx(0.6)
    assert by_id["analytics-b"].metrics.errors == {"ConnectionFailedError": 6}


def test_first_refresh_has_no_rate_but_cumulative_success():
    analytics = compute(None, state(1)).service("analytics")
    assert analytics is not None
    assert analytics.metrics.rps == 0.0
    assert analytics.metrics.success_rate == pytest.approx(0.98)


def test_rates_sum_over_clients_of_the_same_callee():
    def two_clients(scale: int) -> MeshState:
        a = {"client_id": "a", "name": "streaming", "services": {"analytics": stats(10 * scale)}}
        b = {"client_id": "b", "name": "streaming", "services": {"analytics": stats(30 * scale)}}
        return MeshState(T0 + scale, {}, [a, b])

    view = compute(two_clients(1), two_clients(2))
    assert view.edges[0].rps == pytest.approx(40.0)
    assert service(view, "analytics").metrics.rps == pytest.approx(40.0)


def test_a_restarted_client_does_not_give_a_negative_rate():
    old = MeshState(T0, {}, [{"client_id": "a", "name": "x", "services": {"y": stats(500)}}])
    new = MeshState(T0 + 1, {}, [{"client_id": "a", "name": "x", "services": {"y": stats(3)}}])
    assert service(compute(old, new), "y").metrics.rps == 0.0


def test_latency_percentiles_are_the_worst_clients_interval():
    analytics = service(compute(state(1), state(2)), "analytics")
    assert (analytics.metrics.p50_ms, analytics.metrics.p99_ms) == (4.5, 18.0)
    alert = service(compute(state(1), state(2)), "alert")
    assert alert.metrics.active == 1


def test_edges_follow_report_names_to_their_callees_in_flow_order():
    view = compute(state(1), state(2))
    edges = [(e.caller, e.callee, round(e.rps)) for e in view.edges]
    assert edges == [
        ("gateway", "streaming", 50),
        ("streaming", "analytics", 100),
        ("analytics", "alert", 20),
        ("gateway", "auth", 5),
    ]
    assert [s.name for s in view.services] == ["streaming", "analytics", "alert", "auth"]
    streaming = service(view, "streaming")
    assert streaming.callers == ["gateway"] and streaming.callees == ["analytics"]


def test_flow_order_puts_callers_first_and_survives_cycles():
    from meshctl.tui.model import Edge

    assert flow_order(["zeta", "alert", "beta"], [Edge("zeta", "beta", 1.0)]) == [
        "alert",
        "zeta",
        "beta",
    ]
    cycle = [Edge("a", "b", 1.0), Edge("b", "a", 1.0)]
    assert sorted(flow_order(["a", "b"], cycle)) == ["a", "b"]


def test_breakers_show_worst_state_and_count_down_to_half_open():
    view = compute(None, MeshState(T0 + 6, {}, reports(1)))  # reports published at T0 + 1
    open_one = next(b for b in view.breakers if b.state == "open")
    assert open_one.target == "analytics/analytics-b"
    assert (open_one.failures, open_one.trips, open_one.error_percentage) == (5, 2, 62.5)
    assert open_one.half_open_in == pytest.approx(20.0)
    assert worst(["closed", "half_open", "open"]) == "open"
    assert worst([]) == "-"
    full = service(compute(None, state(1)), "analytics")
    assert {i.endpoint.instance_id: i.breaker for i in full.instances}["analytics-b"] == "open"


def test_malformed_reports_are_tolerated():
    garbage: list[dict[str, Any]] = [  # malformed on purpose
        {"client_id": "x", "name": "a", "services": "nope", "breakers": [1, {"no": "service"}]},
        {"client_id": "y", "name": "a", "services": {"b": {"requests": "many"}}},
    ]
    view = compute(None, MeshState(T0, {"b": [endpoint("b", 1, "b-1")]}, garbage))
    assert view.breakers == []
    assert service(view, "b").metrics.requests == 0


def test_sort_and_filter():
    view = compute(state(1), state(2))
    callers = view.services, "rps", "callers"
    assert [s.name for s in sort_services(*callers)][:2] == ["analytics", "streaming"]
    assert sort_services(view.services, "p99", "callers")[0].name == "streaming"
    assert sort_services(view.services, "success", "callers")[0].name == "analytics"
    assert sort_services(view.services, "active", "callers")[0].name == "alert"
    assert sort_services(view.services, "success")[0].name == "analytics"  # served: 98.1 %
    assert sort_services(view.services, "errors")[0].name == "analytics"
    assert [s.name for s in sort_services(view.services, "name")] == [s.name for s in view.services]
    assert [s.name for s in filter_services(view.services, "ALE")] == ["alert"]
    assert [s.name for s in filter_services(view.services, ":8000")] == ["auth"]
    assert filter_services(view.services, " ") == view.services


def test_empty_mesh_and_json_shape():
    view = compute(None, MeshState(T0, {}, []))
    assert view.empty
    data = compute(state(1), state(2)).to_json()
    assert set(data) == {
        "at", "clients", "servers", "services", "edges", "breakers", "routes", "slos",
        "routing_problems",
    }  # fmt: skip
    assert (data["routes"], data["slos"]) == ([], [])
    assert (data["clients"], data["servers"]) == (3, 5)
    instance = data["services"][1]["instances"][0]
    assert instance["age_seconds"] == 3602.0 and instance["version"] == "1.4.2"


def test_served_metrics_come_from_the_instances_own_reports():
    view = compute(state(1), state(3))
    streaming = service(view, "streaming")
    # the gateway (the only long-lived caller) sends 50/s; streaming answers 70/s
    assert streaming.metrics.rps == pytest.approx(50.0)
    assert streaming.served.rps == pytest.approx(70.0)
    assert streaming.served.success_rate == pytest.approx(1 - 1 / 70)
    assert streaming.served.errors == {"ConnectionFailedError": 3}
    analytics = service(view, "analytics")
    assert analytics.served.rps == pytest.approx(105.0)  # 95 + 10 on a, nothing new on b
    assert analytics.served.requests == 95 * 3 + 10 * 3 + 40
    assert analytics.served.p99_ms == 9.0  # the worst interval of any instance
    assert set(analytics.methods) == {"GetTrafficMetrics", "ProcessDetections"}
    assert analytics.methods["GetTrafficMetrics"].success_rate == pytest.approx(0.8)
    by_id = {i.endpoint.instance_id: i for i in analytics.instances}
    assert by_id["analytics-a"].served.rps == pytest.approx(105.0)
    assert by_id["analytics-b"].served.rps == 0.0
    assert by_id["analytics-b"].served.success_rate is None  # no traffic: unknown, not 100 %
    # server reports are neither callers nor breaker holders
    assert {b.client for b in view.breakers} == {"streaming", "analytics", "gateway"}
    assert view.clients == 3 and view.servers == 5


def test_no_traffic_between_refreshes_is_unknown_success_not_100_percent():
    quiet = MeshState(T0 + 9, services(), [r for r in state(1).reports])
    alert = service(compute(state(1), quiet), "alert")
    assert (alert.metrics.rps, alert.metrics.success_rate) == (0.0, None)
    assert (alert.served.rps, alert.served.success_rate) == (0.0, None)
    assert alert.metrics.requests == 20  # the totals stay


def test_a_report_new_since_the_last_refresh_counts_from_zero():
    cli = {"client_id": "cli-1", "name": "meshctl", "services": {"alert": stats(4, 1)}}
    before = state(1)
    after = MeshState(before.at + 2, before.services, [*before.reports, cli])
    alert = service(compute(before, after), "alert")
    assert alert.metrics.rps == pytest.approx(2.0)
    assert alert.metrics.success_rate == pytest.approx(0.75)


def test_served_json_has_every_method_and_each_instance_its_own():
    data = compute(state(1), state(2)).to_json()
    analytics = next(s for s in data["services"] if s["service"] == "analytics")
    assert analytics["served"]["rps"] == pytest.approx(105.0)
    assert list(analytics["served"]["methods"]) == ["GetTrafficMetrics", "ProcessDetections"]
    assert analytics["served"]["methods"]["ProcessDetections"]["requests"] == 95 * 2 + 40
    assert [i["served"]["requests"] for i in analytics["instances"]] == [210, 40]


def test_the_once_table_shows_the_served_view():
    from meshctl.cli.top import table_rows

    rows = {r["name"].strip(): r for r in table_rows(compute(state(1), state(2)))}
    assert rows["streaming"]["rps"] == pytest.approx(70.0)  # callers saw 50/s
    assert rows["analytics-b"]["success_rate"] is None
    assert rows["analytics"]["health"] == "1/2" and rows["analytics"]["address"] is None


def test_edges_carry_the_callers_success_and_p99():
    view = compute(state(1), state(2))
    edge = next(e for e in view.edges if (e.caller, e.callee) == ("streaming", "analytics"))
    assert edge.success_rate == pytest.approx(0.98) and edge.p99_ms == 18.0
    assert view.to_json()["edges"][1] == {
        "caller": "streaming",
        "callee": "analytics",
        "rps": 100.0,
        "success_rate": 0.98,
        "p99_ms": 18.0,
    }
    quiet = compute(state(2), MeshState(T0 + 3, services(), reports(2)))  # no request since
    assert quiet.edges[0].success_rate is None  # unknown, not 100 %


def test_history_keeps_rate_error_rate_and_p99_per_refresh():
    from meshctl.tui.model import History

    history = History(size=2)
    quiet = MeshState(T0 + 3, services(), reports(2))  # no request since state(2)
    for view in (compute(None, state(1)), compute(state(1), state(2)), compute(state(2), quiet)):
        history.add(view)
    key = ("served", "streaming")
    assert list(history.rps[key]) == [pytest.approx(70.0), 0.0]  # only the last two are kept
    assert list(history.errors[key]) == [pytest.approx(1 / 70), 0.0]  # unknown counts as 0
    assert list(history.p99[key]) == [55.0, 55.0]
    assert list(history.errors[("callers", "analytics")])[0] == pytest.approx(0.02)


def test_condition_of_services_and_edges():
    from meshctl.core.endpoint import HealthStatus
    from meshctl.tui.model import condition

    view = compute(state(1), state(2))
    assert condition(view, "analytics") == "down"  # an open endpoint breaker, an unhealthy one
    assert condition(view, "alert") == "ok"
    assert condition(view, "analytics", caller="streaming") == "down"
    assert condition(view, "auth", caller="gateway") == "ok"
    assert condition(view, "gateway") == "ok"  # a client, not a service: nothing says otherwise

    def with_alert_breaker(state_: str) -> str:
        rep = reports(2)
        rep[1]["breakers"] = [breaker("alert", state_)]
        return condition(compute(state(1), MeshState(T0 + 2, services(), rep)), "alert")

    assert with_alert_breaker("half_open") == "degraded"
    assert with_alert_breaker("forced_open") == "down"
    unknown = services()
    unknown["alert"][0].health_status = HealthStatus.UNKNOWN
    assert condition(compute(None, MeshState(T0, unknown, reports(1))), "alert") == "degraded"


def test_callers_without_reports_of_their_own_are_edges_as_the_servers_counted_them():
    def with_callers(scale: int) -> MeshState:
        base = state(scale)
        cli = {"meshctl-workflow": {"requests": 10 * scale, "failures": scale},
               "streaming": {"requests": 999 * scale, "failures": 0}}  # fmt: skip
        reports = [
            {**r, "callers": cli}
            if r.get("role") == "server" and r.get("name") in ("alert", "analytics")
            else r
            for r in base.reports
        ]
        return dataclasses.replace(base, reports=reports)

    view = compute(with_callers(1), with_callers(3))
    edges = {(e.caller, e.callee): e for e in view.edges}
    workflow = edges[("meshctl-workflow", "alert")]
    # alert's instances each counted 10 more a second: their sum, 90 % of them answered
    alerts = sum(1 for r in state(1).reports if r.get("role") == "server" and r["name"] == "alert")
    assert workflow.rps == pytest.approx(10 * alerts) and workflow.success_rate == pytest.approx(
        0.9
    )
    assert workflow.p99_ms is None  # servers count callers, not their latency
    # a caller that reports its own calls keeps its edge, with latency, as before
    assert edges[("streaming", "analytics")].p99_ms == 18.0
    assert round(edges[("streaming", "analytics")].rps) == 100
    assert ("meshctl-workflow", "analytics") in edges
