"""Route tables: validation at write time, rule matching, weighted splits, fallback, zones."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import pytest

from meshctl.core.endpoint import HealthStatus, ServiceEndpoint
from meshctl.core.routing import (
    RouteError,
    SubsetCache,
    parse_table,
    prefer_zone,
    route,
    split_document,
)


def ep(
    port: int, version: str = "0.1.0", zone: str | None = None, **metadata: str
) -> ServiceEndpoint:
    return ServiceEndpoint("analytics", "127.0.0.1", port, version=version, zone=zone,
                           metadata=metadata)  # fmt: skip


CANARY: dict[str, Any] = {
    "service": "analytics",
    "subsets": {"stable": {"version": "0.1.0"}, "canary": {"version": "0.2.0"},
                "gpu": {"pool": "gpu"}},
    "rules": [
        {"match": {"headers": {"X-Canary": "1"}}, "route": "canary"},
        {"match": {"method": "GenerateReport", "caller": "streaming"}, "route": "gpu",
         "timeout": "2s", "attempts": 1},
        {"route": [{"subset": "stable", "weight": 95}, {"subset": "canary", "weight": 5}]},
    ],
}  # fmt: skip


def test_a_95_5_split_sends_5_percent_to_the_canary() -> None:
    table = parse_table(CANARY)
    rng = random.Random(7)
    picked = Counter(
        d.subset.name for _ in range(4000)
        if (d := table.decide("ProcessDetections", {}, None, rng)) and d.subset
    )  # fmt: skip
    assert sum(picked.values()) == 4000
    assert abs(picked["canary"] / 4000 - 0.05) < 0.02


def test_rules_match_headers_method_and_caller_in_order() -> None:
    table = parse_table(CANARY)
    pinned = table.decide("ProcessDetections", {"x-canary": "1"}, None)
    assert pinned is not None and pinned.subset is not None and pinned.subset.name == "canary"
    assert table.decide("ProcessDetections", {"x-canary": "0"}, None).subset.name in (  # type: ignore[union-attr]
        "stable", "canary",
    )  # fmt: skip
    gpu = table.decide("GenerateReport", {}, "streaming")
    assert gpu is not None and gpu.subset is not None and gpu.subset.name == "gpu"
    assert (gpu.timeout, gpu.attempts) == (2.0, 1)
    other_caller = table.decide("GenerateReport", {}, "alert", random.Random(1))
    assert other_caller is not None and other_caller.subset.name != "gpu"  # type: ignore[union-attr]


def test_no_rule_matching_means_any_instance() -> None:
    table = parse_table({"service": "analytics", "subsets": {"c": {"version": "2"}},
                         "rules": [{"match": {"method": "X"}, "route": "c"}]})  # fmt: skip
    assert table.decide("Y", {}, None) is None
    view = (ep(1), ep(2))
    assert route(view, None, SubsetCache()) is view


def test_a_subset_is_filtered_once_per_view_and_falls_back_when_empty() -> None:
    table = parse_table(CANARY)
    cache = SubsetCache()
    view = (ep(1), ep(2, "0.2.0"), ep(3, pool="gpu"))
    canary = table.decide("M", {"x-canary": "1"}, None)
    chosen = route(view, canary, cache)
    assert [e.port for e in chosen] == [2]
    assert route(view, canary, cache) is chosen  # same view: no filtering again
    without = (ep(1), ep(3, pool="gpu"))
    assert route(without, canary, cache) is without  # no canary left: the whole service
    strict = parse_table({**CANARY, "fallback": "none"})
    assert route(without, strict.decide("M", {"x-canary": "1"}, None), cache) == ()


def test_zone_aware_routing_stays_local_until_local_capacity_fails() -> None:
    view = [ep(1, zone="a"), ep(2, zone="a"), ep(3, zone="b"), ep(4, zone="b")]
    assert [e.port for e in prefer_zone(view, "a")] == [1, 2]
    assert prefer_zone(view, None) is view and prefer_zone(view, "c") is view
    view[0].health_status = HealthStatus.UNHEALTHY
    assert [e.port for e in prefer_zone(view, "a")] == [2]  # half up: still local
    view[1].health_status = HealthStatus.UNHEALTHY
    assert prefer_zone(view, "a") is view  # none up: spill over to every zone


def test_the_zones_share_is_worked_out_once_per_view_and_anew_for_a_new_one() -> None:
    cache = SubsetCache()
    view = (ep(1, zone="a"), ep(2, zone="a"), ep(3, zone="b"))
    local = route(view, None, cache, "a")
    assert [e.port for e in local] == [1, 2]
    assert route(view, None, cache, "a") is local  # same view: no scan again
    assert route(view, None, cache) is view and route(view, None, cache, "c") is view
    sick = [ep(1, zone="a"), ep(2, zone="a"), ep(3, zone="b")]
    for e in sick[:2]:
        e.health_status = HealthStatus.UNHEALTHY
    new_view = tuple(sick)  # health changed: the registry hands out a new view
    assert route(new_view, None, cache, "a") is new_view  # no local capacity: spill over


def test_a_subset_is_narrowed_to_the_zone_and_falls_back_to_the_zones_share() -> None:
    table = parse_table(CANARY)
    cache = SubsetCache()
    view = (ep(1, zone="a"), ep(2, "0.2.0", zone="a"), ep(3, "0.2.0", zone="b"),
            ep(4, pool="gpu", zone="b"))  # fmt: skip
    canary = table.decide("M", {"x-canary": "1"}, None)
    assert [e.port for e in route(view, canary, cache, "a")] == [2]
    assert route(view, canary, cache, "a") is route(view, canary, cache, "a")
    gpu = table.decide("GenerateReport", {}, "streaming")
    assert [e.port for e in route(view, gpu, cache, "a")] == [4]  # none local: anywhere
    without = (ep(1, zone="a"), ep(4, pool="gpu", zone="b"))
    assert [e.port for e in route(without, canary, cache, "a")] == [1]  # whole service, local
    strict = parse_table({**CANARY, "fallback": "none"})
    assert route(without, strict.decide("M", {"x-canary": "1"}, None), cache, "a") == ()


def test_split_writes_one_subset_per_version() -> None:
    table = parse_table(split_document("analytics", {"v0.1.0": 90, "v0.2.0": 10}))
    assert {n: s.labels for n, s in table.subsets.items()} == {
        "v0.1.0": (("version", "0.1.0"),), "v0.2.0": (("version", "0.2.0"),),
    }  # fmt: skip
    assert table.rules[0].splits == (("v0.1.0", 90.0), ("v0.2.0", 100.0))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"rules": []}, "rules must list at least one rule"),
        ({"rules": [{"route": "nope"}]}, "rules[0].route[0].subset 'nope' is not defined"),
        ({"rules": [{"route": [{"subset": "stable", "weight": 90}]}]}, "add up to 90, not 100"),
        ({"rules": [{"route": [{"subset": "stable", "weight": -5},
                               {"subset": "canary", "weight": 105}]}]}, "positive number"),
        ({"rules": [{"route": [{"subset": "stable", "weight": 50},
                               {"subset": "stable", "weight": 50}]}]}, "listed twice"),
        ({"rules": [{"match": {"header": {}}, "route": "stable"}]}, "unknown key 'header'"),
        ({"rules": [{"route": "stable", "timeout": "soon"}]}, "rules[0].timeout"),
        ({"rules": [{"route": "stable", "attempts": 0}]}, "attempts must be"),
        ({"rules": [{"match": {"method": "M"}}]}, "needs a route"),
        ({"subsets": {"empty": {}}}, "subsets.empty needs at least one label"),
        ({"fallback": "maybe"}, "fallback must be 'any' or 'none'"),
        ({"colour": "blue"}, "unknown key 'colour'"),
        ({"service": ""}, "service must be a non-empty string"),
    ],
)  # fmt: skip
def test_malformed_tables_are_refused_naming_the_part(change: dict[str, Any], message: str) -> None:
    with pytest.raises(RouteError) as refused:
        parse_table({**CANARY, **change})
    assert message in str(refused.value)


@pytest.mark.parametrize("document", [None, [], "analytics: 100", 42])
def test_a_table_must_be_a_mapping(document: object) -> None:
    with pytest.raises(RouteError, match="must be a mapping"):
        parse_table(document)
