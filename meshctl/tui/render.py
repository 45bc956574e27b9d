"""How a MeshView reads on screen: table cells, the topology and the details panel (pure)."""

from __future__ import annotations

from rich.text import Text

from meshctl.core.units import format_age
from meshctl.tui.model import BreakerView, InstanceView, MeshView, Metrics, ServiceView

SERVICE_COLUMNS = (
    "NAME", "ADDRESS", "HEALTH", "BREAKER", "WEIGHT", "VERSION",
    "RPS", "SUCCESS", "P50", "P95", "P99", "ACTIVE", "ERRORS",
)  # fmt: skip
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


def styled(value: str, styles: dict[str, str]) -> Text:
    return Text(value, style=styles.get(value, ""))


def _metric_cells(m: Metrics) -> tuple[str, ...]:
    return (
        rate(m.rps), percent(m.success_rate), millis(m.p50_ms), millis(m.p95_ms),
        millis(m.p99_ms), str(m.active), errors(m.errors),
    )  # fmt: skip


def service_cells(s: ServiceView) -> tuple[str | Text, ...]:
    health = f"{s.healthy}/{len(s.instances)}"
    return (
        Text(s.name, style="bold"), "", health, styled(s.breaker, BREAKER_STYLE), "", "",
        *_metric_cells(s.metrics),
    )  # fmt: skip


def instance_cells(i: InstanceView) -> tuple[str | Text, ...]:
    ep = i.endpoint
    return (
        f"  └ {ep.instance_id}", ep.address, styled(ep.health_status.value, HEALTH_STYLE),
        styled(i.breaker, BREAKER_STYLE), f"{ep.weight:g}", ep.version or "-",
        *_metric_cells(i.metrics),
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


def service_details(s: ServiceView) -> str:
    m = s.metrics
    return "\n".join(
        [
            f"[b]{s.name}[/b]  {s.healthy}/{len(s.instances)} healthy, breaker {s.breaker}",
            f"callers: {', '.join(s.callers) or '-'}   callees: {', '.join(s.callees) or '-'}",
            f"requests: {m.requests}   errors: {errors(m.errors)}",
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
            f"breaker {i.breaker}   weight {ep.weight:g}   version {ep.version or '-'}",
            f"metadata: {meta}",
        ]
    )
