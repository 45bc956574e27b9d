"""What ``meshctl top`` shows of routing: route tables, subsets, zones and SLOs (pure).

Route tables and SLO statuses change slowly and cost more to read than a
refresh's one round trip (an SLO's status sums its window's buckets), so the
reader (``data.py``) reads them every ``ROUTING_EVERY`` seconds and each
``MeshState`` carries the latest ``Routing``. Here they meet the instances of
the refresh: how many instances each subset, version and zone holds, healthy
of total, whether a zone's callers spill over to other zones
(``core.routing.prefer_zone``), and how the SLOs' budgets burn.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rich.text import Text

from meshctl.core.endpoint import HealthStatus, ServiceEndpoint
from meshctl.core.routing import RouteTable, describe, prefer_zone
from meshctl.core.slo import ALERT_WINDOWS, Sli, SloStatus, lookback_name, slo_label
from meshctl.core.units import format_age

ROUTING_EVERY = 5.0
"""Seconds between two reads of the route tables and SLO statuses."""

BURN_ORDER: tuple[str, ...] = tuple(
    lookback_name(seconds) for w in ALERT_WINDOWS for seconds in (w.short, w.long)
)
"""Burn-rate lookbacks in the order shown: each alert's pair, fast first (5m 1h 30m 6h)."""
FAST, SLOW = (w.factor for w in ALERT_WINDOWS)
ALERT_STYLE = {"fast": "bold red", "slow": "yellow"}
#: The marks a service row carries after its name, kept without colour (NO_COLOR).
ROUTED_MARK, FAST_MARK, SLOW_MARK = "⇄", "!!", "!"


@dataclass(frozen=True, slots=True)
class Routing:
    """The route tables and SLO statuses read at ``at`` (None: not read yet), and one line
    per stored record that could not be used."""

    at: float | None = None
    tables: Mapping[str, RouteTable] = field(default_factory=dict)
    slos: Sequence[SloStatus] = ()
    problems: Sequence[str] = ()


@dataclass(frozen=True, slots=True)
class Group:
    """The instances of one subset, version or zone; ``name`` None: those without the label."""

    name: str | None
    healthy: int
    total: int
    labels: str = ""  # a subset's, e.g. "version=0.2.0"
    spills: bool = False  # a zone with too few healthy instances: its callers use every zone

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "healthy": self.healthy, "total": self.total}
        if self.labels:
            out["labels"] = self.labels
        return out


@dataclass(frozen=True, slots=True)
class ServiceRouting:
    """One service's route table (None: any instance serves), groups and SLO statuses."""

    service: str
    table: RouteTable | None
    subsets: tuple[Group, ...]
    versions: tuple[Group, ...]
    zones: tuple[Group, ...]
    slos: tuple[SloStatus, ...]

    @property
    def alert(self) -> str | None:
        """The worst burn-rate alert firing on any of its SLOs: ``fast``, ``slow`` or None."""
        return worst_alert(a for status in self.slos for a in status.alerts)

    def route_json(self) -> dict[str, Any]:
        assert self.table is not None
        return {
            "service": self.service,
            "revision": self.table.revision,
            "fallback": "any" if self.table.fallback else "none",
            "rules": describe(self.table),
            "subsets": [g.to_json() for g in self.subsets],
            "table": dict(self.table.document),
        }


def worst_alert(alerts: Iterable[str]) -> str | None:
    """``fast`` when a fast burn fires (it pages), else ``slow`` when one does, else None."""
    firing = set(alerts)
    return next((w.name for w in ALERT_WINDOWS if w.name in firing), None)


def _healthy(endpoints: Iterable[ServiceEndpoint]) -> int:
    return sum(1 for ep in endpoints if ep.health_status is HealthStatus.HEALTHY)


def _count(endpoints: Sequence[ServiceEndpoint], label: str) -> list[tuple[str | None, int, int]]:
    """(value, healthy, total) of the instances by their ``label`` field (``version`` or
    ``zone``): the labelled ones by value, then those without. One pass: it runs for every
    service on every refresh."""
    counts: dict[str | None, list[int]] = {}
    for ep in endpoints:
        count = counts.setdefault(getattr(ep, label), [0, 0])
        count[0] += ep.health_status is HealthStatus.HEALTHY
        count[1] += 1
    ordered = sorted(counts.items(), key=lambda item: (item[0] is None, item[0] or ""))
    return [(value, healthy, total) for value, (healthy, total) in ordered]


def _spills(endpoints: Sequence[ServiceEndpoint], zone: str | None) -> bool:
    """Whether calls from ``zone`` go to other zones' instances too (spill-over)."""
    return zone is not None and any(ep.zone != zone for ep in prefer_zone(endpoints, zone))


def service_routing(
    service: str, endpoints: Sequence[ServiceEndpoint], routing: Routing
) -> ServiceRouting:
    """What the Routing tab shows of ``service``, whose live instances are ``endpoints``."""
    table = routing.tables.get(service)
    subsets = []
    for subset in table.subsets.values() if table is not None else ():
        held = [ep for ep in endpoints if subset.holds(ep)]
        labels = ",".join(f"{k}={v}" for k, v in subset.labels)
        subsets.append(Group(subset.name, _healthy(held), len(held), labels))
    versions = tuple(Group(*count) for count in _count(endpoints, "version"))
    zoned = _count(endpoints, "zone")
    elsewhere = sum(1 for name, _, _ in zoned if name is not None) > 1  # a zone to spill to
    zones = tuple(
        Group(name, healthy, total, spills=elsewhere and _spills(endpoints, name))
        for name, healthy, total in zoned
    )
    slos = tuple(s for s in routing.slos if s.slo.service == service)
    return ServiceRouting(service, table, tuple(subsets), versions, zones, slos)


def routing_views(
    services: Mapping[str, Sequence[ServiceEndpoint]], names: Sequence[str], routing: Routing
) -> list[ServiceRouting]:
    """One per service of ``names`` (in that order), then, by name, the services that have
    a route table or an SLO but no instance and no caller."""
    orphans = sorted(({*routing.tables} | {s.slo.service for s in routing.slos}) - set(names))
    return [service_routing(n, services.get(n, ()), routing) for n in [*names, *orphans]]


# -- how it reads ---------------------------------------------------------------------


def marks(r: ServiceRouting | None) -> Text:
    """What a service row shows after its name: ``⇄`` with a route table, ``!!`` on a fast
    burn, ``!`` on a slow one."""
    out = Text()
    if r is None:
        return out
    if r.table is not None:
        out.append(f" {ROUTED_MARK}", style="cyan")
    if r.alert is not None:
        mark = FAST_MARK if r.alert == "fast" else SLOW_MARK
        out.append(f" {mark}", style=ALERT_STYLE[r.alert])
    return out


def burn_style(rate: float | None) -> str:
    """Bold red above a fast burn's factor (14.4), red above a slow burn's (6), yellow above
    1 (spending faster than the window allows), green otherwise."""
    if rate is None:
        return "dim"
    if rate > FAST:
        return "bold red"
    if rate > SLOW:
        return "red"
    return "yellow" if rate > 1 else "green"


def budget_style(left: float | None) -> str:
    """Bold red when overspent, yellow under a quarter left, green otherwise."""
    if left is None:
        return "dim"
    return "bold red" if left < 0 else "yellow" if left < 0.25 else "green"


def percent(value: float | None) -> str:
    """A share as a percentage, one decimal; ``-`` when unknown (every tab's way)."""
    return "-" if value is None else f"{value * 100:.1f}%"


def _groups_text(out: Text, title: str, groups: Sequence[Group]) -> None:
    out.append(f"  {title:<9} ", style="dim")
    if not groups:
        out.append("-", style="dim")
    for i, g in enumerate(groups):
        out.append("   " if i else "")
        out.append(g.name or "(none)")
        if g.labels:
            out.append(f" ({g.labels})", style="dim")
        style = "green" if g.healthy == g.total and g.total else "yellow" if g.healthy else "red"
        out.append(f" {g.healthy}/{g.total}", style=style)
        if g.spills:
            out.append(" spills over", style="yellow")
    out.append("\n")


def _sli_text(out: Text, status: SloStatus, sli: Sli) -> None:
    slo = status.slo
    method = f" of {slo.method}" if slo.method else ""
    out.append(f"  {'SLO':<9} ", style="dim")
    out.append(f"{sli.name} {sli.target}{method} over {format_age(slo.window)}: ")
    out.append(percent(sli.budget_remaining), style=budget_style(sli.budget_remaining))
    out.append(f" budget left, {status.requests} requests\n")
    out.append(f"  {'':<9} burn")
    for name in BURN_ORDER:
        rate = sli.burn.get(name)
        out.append(f"  {name} ")
        out.append("-" if rate is None else f"{rate:.2f}", style=burn_style(rate))
    alert = worst_alert(sli.alerts)
    if alert is not None:
        out.append(f"  {alert} burn", style=ALERT_STYLE[alert])
    out.append("\n")


def service_text(r: ServiceRouting, *, groups: bool = True) -> Text:
    """A service's block: its table and rules, its subsets, versions and zones (without
    ``groups``, only the table's subsets) and each SLO's budget and burn rates."""
    out = Text()
    out.append(r.service, style="bold")
    out.append_text(marks(r))
    if r.table is None:
        out.append("  no route table: any instance serves\n", style="dim")
    else:
        fallback = "any instance" if r.table.fallback else "none"
        out.append(f"  route table rev {r.table.revision}, fallback {fallback}\n")
        for line in describe(r.table):
            out.append(f"  {'rule':<9} ", style="dim")
            out.append(f"{line}\n", style="cyan")
        _groups_text(out, "subsets", r.subsets)
    if groups:
        _groups_text(out, "versions", r.versions)
        _groups_text(out, "zones", r.zones)
    for status in r.slos:
        for sli in status.slis:
            _sli_text(out, status, sli)
    if not r.slos:
        out.append(f"  {'SLO':<9} -\n", style="dim")
    return out


def routing_text(views: Sequence[ServiceRouting], problems: Sequence[str] = ()) -> Text:
    """The Routing tab: every service's block, then the records that could not be used."""
    out = Text()
    for i, r in enumerate(views):
        if i:
            out.append("\n")
        out.append_text(service_text(r))
    for line in problems:
        out.append(f"\nskipped: {line}", style="yellow")
    if not views:
        out.append("No service, route table or SLO yet.", style="dim")
    return out


def once_text(views: Sequence[ServiceRouting]) -> str:
    """``top --once``'s routing section: the services with a route table or an SLO; empty
    when none has."""
    shown = [r for r in views if r.table is not None or r.slos]
    return "\n".join(service_text(r, groups=False).plain.rstrip("\n") for r in shown)


def details_line(r: ServiceRouting | None) -> str | None:
    """The services tab's details line about routing; None with no table and no SLO."""
    if r is None or (r.table is None and not r.slos):
        return None
    route = "-" if r.table is None else f"rev {r.table.revision}, {len(r.table.rules)} rules"
    slos = "   ".join(
        f"{slo_label(s.slo)} {sli.target} {percent(sli.budget_remaining)} left"
        + (f", {alert} burn" if (alert := worst_alert(sli.alerts)) else "")
        for s in r.slos
        for sli in s.slis
    )
    return f"route table: {route}   SLO: {slos or '-'}   (routing: 6)"
