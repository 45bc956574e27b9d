"""How a MeshView reads on screen: table cells, the topology, the details panel (pure).

The services table shows one metrics source at a time (``SOURCES``: as served,
or as callers see it) and only the columns that fit the terminal, dropped in
``COLUMN_PRIORITY`` order from the last.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text

from meshctl.core.units import format_age
from meshctl.tui import graph
from meshctl.tui.model import (
    BreakerView,
    Edge,
    InstanceView,
    MeshView,
    Metrics,
    ServiceView,
    condition,
    flow_order,
)
from meshctl.tui.routing import details_line, marks, percent

SERVICE_COLUMNS = (
    "NAME", "ADDRESS", "HEALTH", "BREAKER", "WEIGHT", "VERSION", "ZONE",
    "RPS", "SUCCESS", "P50", "P95", "P99", "ACTIVE", "ERRORS",
)  # fmt: skip
#: Which columns stay when the table is too narrow: the first ones.
COLUMN_PRIORITY = (
    "NAME", "HEALTH", "BREAKER", "RPS", "SUCCESS", "P99", "ERRORS", "ADDRESS",
    "ACTIVE", "P50", "P95", "VERSION", "ZONE", "WEIGHT",
)  # fmt: skip
CELL_PADDING = 2
"""A DataTable cell's padding, one column each side."""

#: Where the services table's metrics come from, and how the screen names that.
SOURCES = {"served": "served", "callers": "as callers see it"}

BREAKER_COLUMNS = (
    "CLIENT", "TARGET", "SCOPE", "ADDRESS", "STATE", "FAILURES", "ERROR %", "TRIPS", "HALF-OPEN IN",
)  # fmt: skip
EVENT_COLUMNS = ("TIME", "TYPE", "SOURCE", "CORRELATION ID", "DATA")

BREAKER_STYLE = {
    "closed": "green",
    "open": "bold red",
    "forced_open": "bold magenta",
    "half_open": "yellow",
    "disabled": "dim",
}
HEALTH_STYLE = {"healthy": "green", "unhealthy": "red", "unknown": "yellow"}
#: How a node or edge of the topology graph shows its condition: a colour, and a mark
#: that still tells without colour (NO_COLOR).
CONDITION_STYLE = {"down": "bold red", "degraded": "yellow", "ok": "green"}
CONDITION_MARK = {"down": "✖", "degraded": "▲", "ok": "●"}
CLIENT_STYLE = "cyan"
SPARK = "▁▂▃▄▅▆▇█"


def rate(value: float) -> str:
    return f"{value:.1f}"


def millis(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}ms"


def errors(counts: dict[str, int]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(counts.items())) or "-"


def top_errors(counts: dict[str, int]) -> str:
    """The most frequent error kind and how many other kinds there are, for a table cell."""
    if not counts:
        return "-"
    kind, count = max(sorted(counts.items()), key=lambda item: item[1])
    others = len(counts) - 1
    return f"{kind}={count}" + (f" +{others}" if others else "")


def fit_columns(
    widths: Sequence[int],
    available: int,
    names: Sequence[str] = SERVICE_COLUMNS,
    priority: Sequence[str] = COLUMN_PRIORITY,
) -> list[int]:
    """Indexes into ``names`` (default ``SERVICE_COLUMNS``) of the columns to show, in
    table order.

    ``widths`` are the columns' content widths (padding excluded); columns are
    taken in ``priority`` order while they fit in ``available`` cells. The
    first of ``priority`` (NAME) is always shown.
    """
    chosen: list[int] = []
    used = 0
    for name in priority:
        index = names.index(name)
        width = widths[index] + CELL_PADDING
        if chosen and used + width > available:
            continue  # a narrower, lower-priority column may still fit
        chosen.append(index)
        used += width
    return sorted(chosen)


def cell_width(cell: str | Text) -> int:
    return cell.cell_len if isinstance(cell, Text) else Text(cell).cell_len


def styled(value: str, styles: dict[str, str]) -> Text:
    return Text(value, style=styles.get(value, ""))


def _metric_cells(m: Metrics) -> tuple[str, ...]:
    return (
        rate(m.rps), percent(m.success_rate), millis(m.p50_ms), millis(m.p95_ms),
        millis(m.p99_ms), str(m.active), top_errors(m.errors),
    )  # fmt: skip


def service_cells(s: ServiceView, source: str = "served") -> tuple[str | Text, ...]:
    health = f"{s.healthy}/{len(s.instances)}"
    shown = s.served if source == "served" else s.metrics
    name = Text(s.name, style="bold") + marks(s.routing)
    return (
        name, "", health, styled(s.breaker, BREAKER_STYLE), "", "", "",
        *_metric_cells(shown),
    )  # fmt: skip


def instance_cells(i: InstanceView, source: str = "served") -> tuple[str | Text, ...]:
    ep = i.endpoint
    shown = i.served if source == "served" else i.metrics
    return (
        f"  └ {ep.instance_id}", ep.address, styled(ep.health_status.value, HEALTH_STYLE),
        styled(i.breaker, BREAKER_STYLE), f"{ep.weight:g}", ep.version or "-", ep.zone or "-",
        *_metric_cells(shown),
    )  # fmt: skip


def breaker_cells(b: BreakerView) -> tuple[str | Text, ...]:
    half_open = "-" if b.half_open_in is None else f"{b.half_open_in:.0f}s"
    return (
        b.client, b.target, b.scope, b.address or "-", styled(b.state, BREAKER_STYLE),
        str(b.failures), f"{b.error_percentage:.1f}", str(b.trips), half_open,
    )  # fmt: skip


def topology_key(view: MeshView) -> tuple[object, ...]:
    """What the topology depends on: it is redrawn only when this changes."""
    return tuple(
        (s.name, s.breaker, tuple(s.callees), tuple(s.callers),
         tuple((id(i.endpoint), i.endpoint.health_status, i.breaker) for i in s.instances))
        for s in view.services
    )  # fmt: skip


def topology(view: MeshView) -> Text:
    """Services in flow order with their call edges and instances, one line each."""
    out = Text()
    names = [s.name for s in view.services]
    clients = sorted({e.caller for e in view.edges} - set(names))
    out.append("flow  ", style="dim")
    out.append(" → ".join(names) or "-", style="bold")
    out.append("\n")
    for client in clients:
        callees = ", ".join(e.callee for e in view.edges if e.caller == client)
        out.append(f"client {client} → {callees}\n", style="cyan")
    for s in view.services:
        out.append("\n")
        out.append(s.name, style="bold")
        out.append(f" [{s.breaker}]", style=BREAKER_STYLE.get(s.breaker, "dim"))
        if s.callees:
            out.append(f" → {', '.join(s.callees)}", style="cyan")
        out.append("\n")
        for i in s.instances:
            ep = i.endpoint
            out.append("  ● ", style=HEALTH_STYLE.get(ep.health_status.value, ""))
            out.append(f"{ep.address} ")
            out.append(i.breaker, style=BREAKER_STYLE.get(i.breaker, "dim"))
            out.append(" " + " ".join(x for x in (f"w{ep.weight:g}", ep.version, ep.zone) if x))
            out.append("\n")
    return out


def summary(m: Metrics) -> str:
    """One line of golden metrics: rate, success, p99 and the total."""
    return (
        f"{rate(m.rps)}/s, {percent(m.success_rate)} ok, p99 {millis(m.p99_ms)}, "
        f"{m.requests} requests, errors {errors(m.errors)}"
    )


def service_details(s: ServiceView) -> str:
    methods = "   ".join(
        f"{name} {rate(m.rps)}/s {percent(m.success_rate)}" for name, m in s.methods.items()
    )
    routing = details_line(s.routing)
    return "\n".join(
        [
            f"[b]{s.name}[/b]  {s.healthy}/{len(s.instances)} healthy, breaker {s.breaker}; "
            f"callers: {', '.join(s.callers) or '-'}   callees: {', '.join(s.callees) or '-'}",
            f"served: {summary(s.served)}",
            f"as callers see it: {summary(s.metrics)}",
            f"methods: {methods or '-'}",
            *([routing] if routing else []),
        ]
    )


def instance_details(i: InstanceView, now: float) -> str:
    ep = i.endpoint
    registered = None if ep.registered_at is None else now - ep.registered_at
    checked = None if ep.last_check is None else now - ep.last_check
    meta = ", ".join(f"{k}={v}" for k, v in sorted(ep.metadata.items())) or "-"
    return "\n".join(
        [
            f"[b]{ep.service_name}/{ep.instance_id}[/b]  {ep.address} ({ep.protocol})",
            f"health {ep.health_status.value}, last check {format_age(checked)} ago; "
            f"registered {format_age(registered)} ago; zone {ep.zone or '-'}",
            f"breaker {i.breaker}   weight {ep.weight:g}   version {ep.version or '-'}; "
            f"metadata: {meta}",
            f"served: {summary(i.served)}",
            f"as callers see it: {summary(i.metrics)}",
        ]
    )


# -- the topology graph -----------------------------------------------------------


def short_rate(value: float) -> str:
    return f"{value:.0f}" if value >= 100 else f"{value:.1f}"


def edge_label(e: Edge) -> str:
    """An edge's rate, success and p99, as the caller's clients saw them."""
    p99 = "-" if e.p99_ms is None else f"{e.p99_ms:.0f}ms"
    return f"{short_rate(e.rps)}/s {percent(e.success_rate)} {p99}"


def graph_names(view: MeshView) -> list[str]:
    """Every service and caller, callers first: the graph's nodes in order."""
    return flow_order(
        [*(e.caller for e in view.edges), *(s.name for s in view.services)], view.edges
    )


def graph_node(view: MeshView, name: str) -> graph.Node:
    """A service's box: its condition, healthy/total instances and served rate; a caller
    that is not a registered service (a gateway, a CLI) is a ``client``."""
    s = view.service(name)
    if s is None:
        return graph.Node(name, (f"{CONDITION_MARK['ok']} {name}", "client"), CLIENT_STYLE)
    state = condition(view, name)
    return graph.Node(
        name,
        (
            f"{CONDITION_MARK[state]} {name}",
            f"{s.healthy}/{len(s.instances)} up {short_rate(s.served.rps)}/s",
        ),
        CONDITION_STYLE[state],
    )


def graph_link(view: MeshView, e: Edge) -> graph.Link:
    state = condition(view, e.callee, e.caller)
    mark = "" if state == "ok" else f"{CONDITION_MARK[state]} "
    return graph.Link(e.caller, e.callee, mark + edge_label(e), CONDITION_STYLE[state])


def neighbourhood(view: MeshView, needle: str) -> set[str] | None:
    """The nodes whose name contains ``needle`` and those they call or are called by;
    None (every node) for no needle."""
    text = needle.strip().lower()
    if not text:
        return None
    hits = {name for name in graph_names(view) if text in name.lower()}
    return hits | {
        other
        for e in view.edges
        for end, other in ((e.caller, e.callee), (e.callee, e.caller))
        if end in hits
    }


def _shown_edges(view: MeshView, only: set[str] | None) -> list[Edge]:
    return [
        e
        for e in view.edges
        if e.caller != e.callee and (only is None or {e.caller, e.callee} <= only)
    ]


def topology_graph(
    view: MeshView, width: int, selected: str | None = None, only: set[str] | None = None
) -> graph.Drawing:
    """The topology tab's graph of ``view`` (of the nodes ``only``), no wider than ``width``."""
    names = [n for n in graph_names(view) if only is None or n in only]
    links = [graph_link(view, e) for e in _shown_edges(view, only)]
    return graph.draw([graph_node(view, n) for n in names], links, width, selected)


def topology_items(view: MeshView, only: set[str] | None = None) -> list[str]:
    """What the cursor steps through: each node, then the edges it calls along."""
    edges = _shown_edges(view, only)
    items = []
    for name in graph_names(view):
        if only is None or name in only:
            items.append(name)
            items.extend(graph.link_key(e.caller, e.callee) for e in edges if e.caller == name)
    return items


def find_edge(view: MeshView, key: str) -> Edge | None:
    return next((e for e in view.edges if graph.link_key(e.caller, e.callee) == key), None)


def spark(values: Sequence[float], width: int = 30) -> str:
    """The last ``width`` values as unicode blocks, scaled to the largest of them."""
    shown = list(values)[-width:]
    top = max(shown, default=0.0)
    if top <= 0:
        return SPARK[0] * len(shown)
    return "".join(SPARK[round(v / top * (len(SPARK) - 1))] for v in shown)


def trends(rps: Sequence[float], errors: Sequence[float], p99: Sequence[float]) -> str:
    """One line of sparklines: rate, error rate and p99, each with its latest figure."""
    last = [series[-1] if series else 0.0 for series in (rps, errors, p99)]
    return (
        f"rps {spark(rps)} {rate(last[0])}/s   errors {spark(errors)} {percent(last[1])}   "
        f"p99 {spark(p99)} {millis(last[2])}"
    )


def edge_details(view: MeshView, e: Edge) -> str:
    """An edge's figures and the breakers its callers hold on the callee."""
    held = [b for b in view.breakers if b.service == e.callee and b.client == e.caller]
    breakers = ", ".join(f"{b.target} {b.state}" for b in held) or "-"
    state = condition(view, e.callee, e.caller)
    return "\n".join(
        [
            f"[b]{e.caller} → {e.callee}[/b]  {state}",
            f"as {e.caller}'s clients see it: {rate(e.rps)}/s, {percent(e.success_rate)} ok, "
            f"p99 {millis(e.p99_ms)}",
            f"breakers {e.caller} holds on {e.callee}: {breakers}",
        ]
    )


def client_details(view: MeshView, name: str) -> str:
    """A caller that is not a registered service: what it calls."""
    calls = "   ".join(f"→ {e.callee} {edge_label(e)}" for e in view.edges if e.caller == name)
    return "\n".join(
        [
            f"[b]{name}[/b]  a mesh client, not a registered service",
            f"calls: {calls or '-'}",
            "[dim]Enter: the breakers it holds[/dim]",
        ]
    )


def drill(view: MeshView, key: str) -> tuple[str, list[BreakerView]]:
    """What Enter on a topology node or edge shows: text, and the breakers that matter.

    A service: its details, every instance's, and every breaker on it. A client: what
    it calls and the breakers it holds. An edge: its figures and every breaker on its
    callee, the caller's first.
    """
    edge = find_edge(view, key)
    if edge is not None:
        on_callee = [b for b in view.breakers if b.service == edge.callee]
        on_callee.sort(key=lambda b: b.client != edge.caller)
        return edge_details(view, edge), on_callee
    service = view.service(key)
    if service is None:
        return client_details(view, key), [b for b in view.breakers if b.client == key]
    parts = [service_details(service), *(instance_details(i, view.at) for i in service.instances)]
    return "\n\n".join(parts), [b for b in view.breakers if b.service == key]
