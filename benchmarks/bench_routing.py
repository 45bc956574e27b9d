"""Per-call cost of routing (route tables, zone preference) beside the balancer's pick, in one run.

    .venv/bin/python benchmarks/bench_routing.py

Each call does what the mesh client does per call: ``RouteTable.decide`` on the
call's headers (correlation headers and the caller's name, as the client sends
them), then ``route`` over the service's registry view. For every size the same
endpoint tuple is reused, as the registry client hands it out, so the one-off
work on a new view (filtering a subset, a zone's share) is measured apart
("build"). Instances: one in 20 runs version 0.2.0 (the canary), the others
0.1.0; zones a, b and c in turn; a fifth of unknown health, 1 % unhealthy. The
client is in zone a. Rows:

- no table: ``route`` with no decision (what every call pays without a table);
- split 95/5: one rule sending 95 % of calls to ``stable``, 5 % to ``canary``;
- header rule: a first rule on ``x-canary: 1`` (the call carries it) to ``canary``;
- zone: no table, the client's zone preferred (Envoy's zone-aware routing);
- split + zone: both;
- baseline ``prefer_zone`` per call: the zone's share recomputed on every call;
- round_robin / health_aware pick: ``LoadBalancer.select`` over the whole view,
  the balancer's share of the same call, for scale;
- zone / split 95/5, then health_aware pick: the whole per-call path (the
  client's default strategy), where a balancer rebuilds its pools whenever the
  list it is handed is not the one it saw last.

Each figure is the best of ROUNDS rounds, a round lasting at least ROUND_SECONDS
of this process's CPU time (``process_time``, so that time the shared machine
spends on other processes is not counted).
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from meshctl.core.balancer import LoadBalancer, LoadBalancingStrategy
from meshctl.core.context import CALLER_HEADER, CorrelationContext
from meshctl.core.endpoint import HealthStatus, ServiceEndpoint
from meshctl.core.routing import RouteTable, SubsetCache, parse_table, prefer_zone, route

View = tuple[ServiceEndpoint, ...]
Routing = Callable[[View, SubsetCache], Sequence[ServiceEndpoint]]

SIZES = (10, 100, 1_000, 10_000)
ROUNDS = 9
ROUND_SECONDS = 0.01
BUILD_ROUNDS = 5
ZONE = "a"
METHOD = "ProcessDetections"
CALLER = "streaming"

SUBSETS = {"stable": {"version": "0.1.0"}, "canary": {"version": "0.2.0"}}
SPLIT = {"subset": "stable", "weight": 95}, {"subset": "canary", "weight": 5}
TABLES: dict[str, dict[str, Any]] = {
    "split": {"service": "analytics", "subsets": SUBSETS, "rules": [{"route": list(SPLIT)}]},
    "header": {
        "service": "analytics",
        "subsets": SUBSETS,
        "rules": [
            {"match": {"headers": {"x-canary": "1"}}, "route": "canary"},
            {"route": list(SPLIT)},
        ],
    },
}


def make_endpoints(n: int) -> View:
    rng = random.Random(n)
    health = [HealthStatus.HEALTHY] * 79 + [HealthStatus.UNKNOWN] * 20 + [HealthStatus.UNHEALTHY]
    return tuple(
        ServiceEndpoint(
            "analytics",
            "10.0.0.1",
            1 + i % 65000,
            instance_id=f"inst-{i:05d}",
            zone="abc"[i % 3],
            version="0.2.0" if i % 20 == 19 else "0.1.0",
            health_status=rng.choice(health),
        )
        for i in range(n)
    )


def call_headers(canary: bool) -> dict[str, str]:
    headers = {**CorrelationContext.new().to_headers(), CALLER_HEADER: CALLER}
    if canary:
        headers["x-canary"] = "1"
    return headers


def per_call_us(call: Callable[[], object]) -> float:
    """Best-of-ROUNDS microseconds per ``call()``."""
    best = float("inf")
    for _ in range(ROUNDS):
        calls, start = 0, time.process_time()
        while (elapsed := time.process_time() - start) < ROUND_SECONDS:
            for _ in range(64):
                call()
            calls += 64
        best = min(best, elapsed / calls * 1e6)
    return best


def routing(table: RouteTable | None, zone: str | None, canary: bool = False) -> Routing:
    """One call's routing, as the client does it: decide, then the instances it may use."""
    headers, rng = call_headers(canary), random.Random(3)

    def call(view: View, cache: SubsetCache) -> Sequence[ServiceEndpoint]:
        decision = table.decide(METHOD, headers, CALLER, rng) if table else None
        return route(view, decision, cache, zone)

    return call


def build_ms(call: Routing, eps: View) -> float:
    """Best-of-BUILD_ROUNDS ms of the first call on a new view (a copy of ``eps``)."""
    best = float("inf")
    for _ in range(BUILD_ROUNDS):
        view, cache = tuple(eps), SubsetCache()
        start = time.process_time()
        call(view, cache)
        best = min(best, (time.process_time() - start) * 1e3)
    return best


def measure(n: int) -> dict[str, tuple[float, float | None]]:
    """Row name -> (µs/call, ms of the first call on a new view)."""
    eps = make_endpoints(n)
    split, header = parse_table(TABLES["split"]), parse_table(TABLES["header"])
    cases = {
        "no table": routing(None, None),
        "split 95/5": routing(split, None),
        "header rule": routing(header, None, canary=True),
        "zone": routing(None, ZONE),
        "split + zone": routing(split, ZONE),
    }
    rows: dict[str, tuple[float, float | None]] = {}
    for name, case in cases.items():
        rows[name] = (per_call_us(partial(case, eps, SubsetCache())), build_ms(case, eps))
    rows["baseline prefer_zone per call"] = (per_call_us(lambda: prefer_zone(eps, ZONE)), None)
    for strategy in (LoadBalancingStrategy.ROUND_ROBIN, LoadBalancingStrategy.HEALTH_AWARE):
        lb = LoadBalancer(strategy, rng=random.Random(1))
        lb.select(eps)
        rows[f"{strategy.value} pick"] = (per_call_us(partial(lb.select, eps)), None)
    for name in ("zone", "split 95/5"):
        rows[f"{name}, then health_aware pick"] = (per_call_us(routed_pick(cases[name], eps)), None)
    return rows


def routed_pick(case: Routing, eps: View) -> Callable[[], ServiceEndpoint]:
    """The whole per-call path, as the client takes it: route, then the balancer's pick."""
    balancer, cache = LoadBalancer(rng=random.Random(1)), SubsetCache()
    return lambda: balancer.select(case(eps, cache))


def main() -> None:
    print(f"Python {sys.version.split()[0]}; best of {ROUNDS} rounds of >= {ROUND_SECONDS}s CPU")
    results = {n: measure(n) for n in SIZES}
    names = list(results[SIZES[0]])
    head = " | ".join(f"{n:,}" for n in SIZES)
    print(f"\n| µs/call | {head} |")
    print("|---" * (len(SIZES) + 1) + "|")
    for name in names:
        print(f"| {name} | " + " | ".join(f"{results[n][name][0]:.2f}" for n in SIZES) + " |")
    print(f"\n| first call on a new view, ms | {head} |")
    print("|---" * (len(SIZES) + 1) + "|")
    for name in names:
        if results[SIZES[0]][name][1] is not None:
            cells = " | ".join(f"{results[n][name][1]:.3f}" for n in SIZES)
            print(f"| {name} | {cells} |")
    print(f"\ntarget: routing under 2 µs per call at 1,000 endpoints: {verdict(results[1_000])}")


def verdict(rows: dict[str, tuple[float, float | None]]) -> str:
    over = [name for name in rows if is_routing(name) and rows[name][0] >= 2.0]
    return "met" if not over else "NOT met by " + ", ".join(over)


def is_routing(name: str) -> bool:
    return not name.startswith("baseline") and not name.endswith("pick")


if __name__ == "__main__":
    main()
