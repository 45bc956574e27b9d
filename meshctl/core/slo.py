"""Service-level objectives with error budgets and multi-window burn rates.

An SLO says what share of a service's requests must be good over a rolling
window: ``--objective 99.9 --window 30d`` allows 0.1 % bad requests over 30
days (the error budget). A request is bad when the service failed it (its
own fault, as ``top`` counts failures: not a caller's mistake) or, with
``--latency 'p99<100ms'``, when it took longer than 100 ms: then at least
99 % of requests must be that fast, a second budget of 1 %.

Burn rate is how fast a budget is spent: the bad share over a lookback
divided by the budget (1.0 spends it exactly in one window). Alerts follow
the Google SRE workbook's multi-window, multi-burn-rate scheme
(https://sre.google/workbook/alerting-on-slos/): a fast burn is a 1 h burn
rate above 14.4 confirmed over the last 5 m (2 % of a 30-day budget in an
hour), a slow burn a 6 h rate above 6 confirmed over 30 m (5 % in 6 h).

Everything here is pure: counts in, verdicts out. ``SliCounts`` are what
servers record per time bucket (``meshctl.registry.sli``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from meshctl.core.units import format_age

if TYPE_CHECKING:
    from meshctl.core.stats import MethodStats

LATENCY_EDGES: tuple[float, ...] = (
    0.001, 0.0025, 0.005, 0.01, 0.02, 0.025, 0.05, 0.075, 0.1, 0.2, 0.25, 0.3, 0.5, 0.75,
    1.0, 2.0, 2.5, 5.0, 10.0,
)  # fmt: skip
"""Seconds: the latency thresholds an SLO may use, counted exactly by every server."""


@dataclass(frozen=True, slots=True)
class AlertWindow:
    """One multi-window alert: burn rate above ``factor`` over both lookbacks."""

    name: str
    long: float  # seconds
    short: float
    factor: float


ALERT_WINDOWS = (
    AlertWindow("fast", 3600.0, 300.0, 14.4),
    AlertWindow("slow", 6 * 3600.0, 1800.0, 6.0),
)
"""The SRE workbook's paging pairs for a 30-day window (1 h/5 m at 14.4, 6 h/30 m at 6)."""

_LATENCY = re.compile(r"^\s*p(\d+(?:\.\d+)?)\s*<\s*(\d+(?:\.\d+)?)\s*(us|ms|s)\s*$")
_TIME_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0}


class SloError(ValueError):
    """An SLO that cannot be met or measured; the message says why."""


@dataclass(frozen=True, slots=True)
class LatencyTarget:
    """At least ``percentile`` % of requests take at most ``threshold`` seconds."""

    percentile: float
    threshold: float

    @property
    def text(self) -> str:
        return f"p{self.percentile:g}<{self.threshold * 1000:g}ms"


def parse_latency(text: str) -> LatencyTarget:
    """``p99<100ms`` → 99 % within 0.1 s; the threshold must be one of ``LATENCY_EDGES``."""
    match = _LATENCY.match(text.lower())
    if match is None:
        raise SloError(f"invalid latency target {text!r}: expected e.g. p99<100ms")
    percentile, number, unit = float(match.group(1)), float(match.group(2)), match.group(3)
    if not 0 < percentile < 100:
        raise SloError(f"invalid latency target {text!r}: the percentile must be in (0, 100)")
    threshold = number * _TIME_UNITS[unit]
    edge = min(LATENCY_EDGES, key=lambda e: abs(e - threshold))
    if not math.isclose(edge, threshold, rel_tol=1e-9):
        edges = ", ".join(f"{e * 1000:g}ms" if e < 1 else f"{e:g}s" for e in LATENCY_EDGES)
        raise SloError(
            f"invalid latency target {text!r}: servers count latencies at {edges}; "
            f"the nearest is {edge * 1000:g}ms"
        )
    return LatencyTarget(percentile, edge)


@dataclass(frozen=True, slots=True)
class Slo:
    """An objective for one service (all its methods, or one)."""

    service: str
    objective: float  # percent of requests that must succeed, 0 < objective < 100
    window: float  # seconds
    latency: LatencyTarget | None = None
    method: str | None = None

    def __post_init__(self) -> None:
        if not 0 < self.objective < 100:
            raise SloError(f"--objective must be a percentage in (0, 100), not {self.objective:g}")
        if self.window < 3600:
            raise SloError(f"--window must be at least 1h, not {format_age(self.window)}")

    @property
    def budget(self) -> float:
        """The share of requests allowed to fail."""
        return (100 - self.objective) / 100

    def to_json(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "objective": self.objective,
            "window_seconds": self.window,
            "latency": self.latency.text if self.latency else None,
            "method": self.method,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Slo:
        """The SLO stored as ``to_json``; raises SloError (or ValueError) on a bad record."""
        latency = data.get("latency")
        return cls(
            service=str(data["service"]),
            objective=float(data["objective"]),
            window=float(data["window_seconds"]),
            latency=parse_latency(latency) if latency else None,
            method=str(data["method"]) if data.get("method") else None,
        )


@dataclass(slots=True)
class SliCounts:
    """Requests served in one bucket of time: all, the failed, and how many were at most
    each ``LATENCY_EDGES`` edge (cumulative, like a Prometheus histogram's buckets)."""

    total: int = 0
    failed: int = 0
    within: list[int] = field(default_factory=lambda: [0] * len(LATENCY_EDGES))

    def add(self, other: SliCounts) -> None:
        self.total += other.total
        self.failed += other.failed
        self.within = [a + b for a, b in zip(self.within, other.within, strict=True)]

    def minus(self, earlier: SliCounts) -> SliCounts:
        """What was counted since ``earlier`` (of the same cumulative counters)."""
        return SliCounts(
            self.total - earlier.total,
            self.failed - earlier.failed,
            [a - b for a, b in zip(self.within, earlier.within, strict=True)],
        )

    @property
    def empty(self) -> bool:
        return self.total == 0 and self.failed == 0

    def slow(self, threshold: float) -> int:
        """Requests slower than ``threshold`` (an edge of ``LATENCY_EDGES``)."""
        return self.total - self.within[LATENCY_EDGES.index(threshold)]


def served_counts(served: MethodStats) -> dict[str, SliCounts]:
    """Each method's cumulative counts so far, from what an instance keeps anyway."""
    counts = {}
    for method, stats in list(served.methods.items()):
        running, within = 0, []
        for count in stats.latency.counts_up_to(LATENCY_EDGES):
            running += count
            within.append(running)
        counts[method] = SliCounts(stats.requests, stats.failures, within)
    return counts


def total(buckets: Iterable[SliCounts]) -> SliCounts:
    result = SliCounts()
    for bucket in buckets:
        result.add(bucket)
    return result


@dataclass(frozen=True, slots=True)
class Sli:
    """One kind of badness of an SLO: its budget and the bad share in each lookback."""

    name: str  # "availability" or "latency"
    target: str  # e.g. "99.9%" or "p99<100ms"
    budget: float
    bad_share: float | None  # over the whole window; None with no traffic
    burn: dict[str, float | None]  # lookback name ("5m", "1h", ...) -> burn rate
    alerts: list[str]  # the alert windows firing on this SLI ("fast", "slow")

    @property
    def budget_remaining(self) -> float | None:
        """Share of the window's budget not yet spent (negative when overspent)."""
        return None if self.bad_share is None else 1 - self.bad_share / self.budget


@dataclass(frozen=True, slots=True)
class SloStatus:
    slo: Slo
    slis: list[Sli]
    alerts: list[str]  # names of the alert windows that fire ("fast", "slow")
    requests: int  # in the window

    @property
    def fast_burn(self) -> bool:
        return "fast" in self.alerts

    def to_json(self) -> dict[str, Any]:
        return {
            **self.slo.to_json(),
            "requests": self.requests,
            "alerts": self.alerts,
            "slis": [
                {
                    "name": s.name,
                    "target": s.target,
                    "budget": s.budget,
                    "bad_share": s.bad_share,
                    "budget_remaining": s.budget_remaining,
                    "burn_rates": s.burn,
                    "alerts": s.alerts,
                }
                for s in self.slis
            ],
        }


def lookback_name(seconds: float) -> str:
    return format_age(seconds)


LOOKBACKS: tuple[float, ...] = tuple(
    sorted({w.short for w in ALERT_WINDOWS} | {w.long for w in ALERT_WINDOWS})
)
"""Every lookback the alert windows need, seconds: 5m, 30m, 1h, 6h."""


def _share(bad: int, counts: SliCounts) -> float | None:
    return bad / counts.total if counts.total > 0 else None


def evaluate(slo: Slo, window: SliCounts, lookbacks: Mapping[float, SliCounts]) -> SloStatus:
    """The SLO's budgets, burn rates and firing alerts from the counts of its whole window
    and of each lookback in ``LOOKBACKS``."""
    kinds: list[tuple[str, str, float, Any]] = [
        ("availability", f"{slo.objective:g}%", slo.budget, lambda c: c.failed)
    ]
    if slo.latency is not None:
        threshold = slo.latency.threshold
        kinds.append(
            ("latency", slo.latency.text, (100 - slo.latency.percentile) / 100,
             lambda c: c.slow(threshold))
        )  # fmt: skip
    slis = []
    for name, target, budget, bad in kinds:
        burn: dict[str, float | None] = {}
        for seconds, counts in sorted(lookbacks.items()):
            share = _share(bad(counts), counts)
            # rounded: 0.144 % of a 0.1 % budget is 14.4, not 14.400000000000002
            burn[lookback_name(seconds)] = None if share is None else round(share / budget, 9)
        alerts = [w.name for w in ALERT_WINDOWS if _burning(burn, w)]
        slis.append(Sli(name, target, budget, _share(bad(window), window), burn, alerts))
    alerts = [w.name for w in ALERT_WINDOWS if any(w.name in s.alerts for s in slis)]
    return SloStatus(slo, slis, alerts, window.total)


def _burning(burn: Mapping[str, float | None], window: AlertWindow) -> bool:
    long, short = burn.get(lookback_name(window.long)), burn.get(lookback_name(window.short))
    return long is not None and short is not None and long > window.factor and short > window.factor


# -- Prometheus rules ---------------------------------------------------------------


def _ratio_exprs(slo: Slo, fault_codes: Iterable[str]) -> list[tuple[str, float, str]]:
    """(SLI name, budget, PromQL of the bad share with ``$w`` for the range) per SLI."""
    sel = f'service="{slo.service}"' + (f',method="{slo.method}"' if slo.method else "")
    faults = "|".join(sorted(fault_codes)) + "|HTTP 5.."
    requests = "meshctl_server_requests_total"
    exprs = [(
        "availability", slo.budget,
        f'sum(rate({requests}{{{sel},code=~"{faults}"}}[$w])) / sum(rate({requests}{{{sel}}}[$w]))',
    )]  # fmt: skip
    if slo.latency is not None:
        duration = "meshctl_server_request_duration_seconds"
        le = f"{slo.latency.threshold:g}"
        exprs.append((
            "latency", (100 - slo.latency.percentile) / 100,
            f'1 - sum(rate({duration}_bucket{{{sel},le="{le}"}}[$w]))'
            f" / sum(rate({duration}_count{{{sel}}}[$w]))",
        ))  # fmt: skip
    return exprs


def prometheus_rules(slos: Sequence[Slo], fault_codes: Iterable[str]) -> dict[str, Any]:
    """A Prometheus rule file computing the same burn rates from ``/metrics``: recording
    rules of each SLI's bad share per lookback, and the two multi-window alerts.

    ``fault_codes`` are the gRPC statuses that count as the server's failure."""
    fault_codes = tuple(fault_codes)
    groups = []
    for slo in slos:
        labels = {"service": slo.service, **({"method": slo.method} if slo.method else {})}
        matcher = "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}"
        rules: list[dict[str, Any]] = []
        for sli, budget, expr in _ratio_exprs(slo, fault_codes):
            record = f"meshctl:slo_{sli}_errors:ratio_rate"
            for seconds in LOOKBACKS:
                w = lookback_name(seconds)
                rules.append(
                    {"record": record + w, "expr": expr.replace("$w", w), "labels": dict(labels)}
                )
            for window in ALERT_WINDOWS:
                long, short = lookback_name(window.long), lookback_name(window.short)
                above = f"> {window.factor * budget:.6g}"
                rules.append({
                    "alert": f"MeshSlo{sli.title()}{window.name.title()}Burn",
                    "expr": f"{record}{long}{matcher} {above} and {record}{short}{matcher} {above}",
                    "labels": {"severity": "page" if window.name == "fast" else "ticket", **labels},
                    "annotations": {
                        "summary": f"{slo_label(slo)}: {sli} error budget burning more than "
                        f"{window.factor:g}x over {long} and {short}",
                    },
                })  # fmt: skip
        groups.append({"name": f"meshctl-slo-{slo_label(slo)}", "rules": rules})
    return {"groups": groups}


def slo_label(slo: Slo) -> str:
    return f"{slo.service}/{slo.method}" if slo.method else slo.service
