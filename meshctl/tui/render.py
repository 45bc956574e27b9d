"""How a MeshView reads on screen: table cells, the topology and the details panel (pure).

The services table shows one metrics source at a time (``SOURCES``: as served,
or as callers see it) and only the columns that fit the terminal, dropped in
``COLUMN_PRIORITY`` order from the last.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text

from meshctl.core.units import format_age
from meshctl.tui.model import BreakerView, InstanceView, MeshView, Metrics, ServiceView

SERVICE_COLUMNS = (
    "NAME", "ADDRESS", "HEALTH", "BREAKER", "WEIGHT", "VERSION",
    "RPS", "SUCCESS", "P50", "P95", "P99", "ACTIVE", "ERRORS",
)  # fmt: skip
#: Which columns stay when the table is too narrow: the first ones.
COLUMN_PRIORITY = (
    "NAME", "HEALTH", "BREAKER", "RPS", "SUCCESS", "P99", "ERRORS", "ADDRESS",
    "ACTIVE", "P50", "P95", "VERSION", "WEIGHT",
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


def rate(value: float) -> str:
    return f"{value:.1f}"


def percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


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
    return (
        Text(s.name, style="bold"), "", health, styled(s.breaker, BREAKER_STYLE), "", "",
        *_metric_cells(shown),
    )  # fmt: skip


def instance_cells(i: InstanceView, source: str = "served") -> tuple[str | Text, ...]:
    ep = i.endpoint
    shown = i.served if source == "served" else i.metrics
    return (
        f"  └ {ep.instance_id}", ep.address, styled(ep.health_status.value, HEALTH_STYLE),
        styled(i.breaker, BREAKER_STYLE), f"{ep.weight:g}", ep.version or "-",
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
            out.append(f" w{ep.weight:g} {ep.version or ''}".rstrip() + "\n")
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
    return "\n".join(
        [
            f"[b]{s.name}[/b]  {s.healthy}/{len(s.instances)} healthy, breaker {s.breaker}; "
            f"callers: {', '.join(s.callers) or '-'}   callees: {', '.join(s.callees) or '-'}",
            f"served: {summary(s.served)}",
            f"as callers see it: {summary(s.metrics)}",
            f"methods: {methods or '-'}",
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
