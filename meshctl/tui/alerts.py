"""How the alerts pane of ``meshctl top`` reads: rows, the statistics line, details (pure).

Alerts arrive as ListAlerts' reply dicts (proto field and enum names); the
pane shows them newest first with short names, only the columns that fit,
and a line of GetAlertStatistics. The I/O is behind ``AlertsClient``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from rich.text import Text

from meshctl.core.alerts import delivery_cells, one_line, parse_time, short
from meshctl.core.units import format_age

Alert = Mapping[str, Any]
Cells = tuple[str | Text, ...]

COLUMNS = (
    "TIME", "AGE", "SEVERITY", "STATUS", "CAMERA", "TYPE", "DELIVERIES", "ALERT", "TITLE",
)  # fmt: skip
#: Which columns stay when the pane is too narrow: the first ones.
PRIORITY = (
    "AGE", "SEVERITY", "STATUS", "DELIVERIES", "CAMERA", "ALERT", "TYPE", "TIME", "TITLE",
)  # fmt: skip
SHORT_ID = 8
"""Characters of an alert id the table shows; the details show it whole."""

SEVERITY_STYLE = {"critical": "bold red", "high": "red", "medium": "yellow", "low": "dim"}
STATUS_STYLE = {"open": "bold yellow", "acknowledged": "green", "resolved": "dim"}
DELIVERY_STYLE = {"sent": "green", "failed": "bold red", "pending": "yellow"}


class AlertsClient(Protocol):
    """The alert service's RPCs the pane uses; each raises MeshError when it cannot answer."""

    operator: str
    """Who acknowledges: the login name."""

    async def list(self) -> Mapping[str, Any]:
        """ListAlerts' reply: the recent alerts."""
        ...

    async def stats(self) -> Mapping[str, Any]:
        """GetAlertStatistics' reply over every alert known."""
        ...

    async def ack(self, alert_id: str) -> Mapping[str, Any]:
        """AcknowledgeAlert by ``operator``; returns the alert."""
        ...

    async def retry(self, alert_id: str) -> Mapping[str, Any]:
        """RetryFailedAlerts for this one alert: its deliveries due for a retry, now."""
        ...


def severity(alert: Alert) -> str:
    return short(alert.get("severity"), "SEVERITY_")


def status(alert: Alert) -> str:
    return short(alert.get("status"), "ALERT_STATUS_")


def created(alert: Alert) -> float:
    """The alert's creation as epoch seconds; 0 when the reply has none."""
    stamp = parse_time(alert.get("created_at"))
    return stamp.timestamp() if stamp is not None else 0.0


def deliveries_text(alert: Alert) -> Text:
    """``webhook:sent email:failed``, each status in its colour."""
    text = Text()
    for channel, state in delivery_cells(alert):
        if text:
            text.append(" ")
        text.append(f"{channel}:")
        text.append(state, style=DELIVERY_STYLE.get(state, ""))
    return text or Text("-")


def alert_cells(alert: Alert, now: float) -> Cells:
    """One alert's cells, in ``COLUMNS`` order; ``now`` is epoch seconds (for the age)."""
    at = created(alert)
    when = datetime.fromtimestamp(at, UTC).strftime("%H:%M:%S") if at else "-"
    sev, state = severity(alert), status(alert)
    return (
        when,
        format_age(now - at) if at else "-",
        Text(sev, style=SEVERITY_STYLE.get(sev, "")),
        Text(state, style=STATUS_STYLE.get(state, "")),
        one_line(alert.get("camera_id")) or "-",
        one_line(alert.get("source")) or "-",
        deliveries_text(alert),
        str(alert.get("alert_id") or "-")[:SHORT_ID],
        one_line(alert.get("title")),
    )


def newest_first(alerts: Sequence[Alert]) -> list[Alert]:
    return sorted(alerts, key=created, reverse=True)


def matches(alert: Alert, needle: str) -> bool:
    """Whether the filter text is in the alert's id, camera, severity, status, type, title or
    deliveries (case-insensitive; empty matches all)."""
    if not needle:
        return True
    fields = (
        alert.get("alert_id"), alert.get("camera_id"), severity(alert), status(alert),
        alert.get("source"), alert.get("title"), deliveries_text(alert).plain,
    )  # fmt: skip
    return any(needle.lower() in str(f or "").lower() for f in fields)


def rows(
    alerts: Sequence[Alert], needle: str, now: float
) -> list[tuple[str, tuple[str | Text, ...]]]:
    """(alert id, cells) of the alerts that match ``needle``, newest first."""
    return [
        (str(a.get("alert_id")), alert_cells(a, now))
        for a in newest_first(alerts)
        if matches(a, needle)
    ]


def stats_parts(reply: Mapping[str, Any]) -> list[str]:
    """GetAlertStatistics as phrases: totals, by severity, then each channel's deliveries
    (counts that are zero left out; the success rate once any delivery finished)."""
    parts = [
        f"{reply.get('total_alerts', 0)} alerts, {reply.get('unacknowledged', 0)} unacknowledged"
    ]
    by_severity = reply.get("alerts_by_severity") or {}
    order = list(SEVERITY_STYLE)
    ranked = sorted(by_severity.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else 9)
    if ranked:
        parts.append(" ".join(f"{name} {count}" for name, count in ranked))
    for channel in reply.get("by_channel") or ():
        counts = [(channel.get(k) or 0, k) for k in ("sent", "failed", "pending")]
        said = " ".join(f"{n} {k}" for n, k in counts if n) or "none"
        if counts[0][0] or counts[1][0]:
            said += f" ({float(channel.get('success_rate') or 0) * 100:.0f}%)"
        parts.append(f"{short(channel.get('channel'), 'ALERT_CHANNEL_')} {said}")
    return parts


def pack(parts: Sequence[str], width: int, separator: str = " · ") -> str:
    """``parts`` joined into lines of at most ``width`` cells, broken only between parts."""
    lines: list[str] = []
    for part in parts:
        if lines and len(lines[-1]) + len(separator) + len(part) <= width:
            lines[-1] += separator + part
        else:
            lines.append(part)
    return "\n".join(lines)


def status_line(shown: int, total: int, needle: str, error: str | None, age: float | None) -> str:
    """What the pane's first line says: how many alerts, or why they are not fresh."""
    if error is not None:
        since = "nothing fetched yet" if age is None else f"list fetched {format_age(age)} ago"
        return f"Alert service unavailable: {one_line(error)} ({since}; retrying)"
    if age is None:
        return "Loading alerts…"
    where = f" matching {needle!r}" if needle else ""
    return f"{shown} of {total} recent alerts{where}, newest first"


def details(alert: Alert) -> Text:
    """Every field of one alert and each delivery with its last error, for the details screen."""
    text = Text()
    text.append(f"Alert {alert.get('alert_id')}\n", style="bold")
    sev, state = severity(alert), status(alert)
    text.append("severity ").append(sev, style=SEVERITY_STYLE.get(sev, ""))
    text.append(" · status ").append(state, style=STATUS_STYLE.get(state, ""))
    text.append(f" · camera {one_line(alert.get('camera_id')) or '-'}\n")
    text.append(f"{one_line(alert.get('title'))}\n", style="bold")
    text.append(f"{one_line(alert.get('message'))}\n\n")
    fields = [
        ("created", alert.get("created_at")),
        ("source", f"{alert.get('source') or '-'} {alert.get('source_id') or ''}".strip()),
        ("correlation id", alert.get("correlation_id")),
        ("channels", " ".join(short(c, "ALERT_CHANNEL_") for c in alert.get("channels") or ())),
    ]
    if alert.get("acknowledged_by"):
        note = alert.get("acknowledgement_note")
        fields.append(
            ("acknowledged", f"by {alert['acknowledged_by']} at {alert.get('acknowledged_at')}"
             + (f": {note}" if note else ""))
        )  # fmt: skip
    fields.extend((f"metadata {k}", v) for k, v in sorted((alert.get("metadata") or {}).items()))
    for name, value in fields:
        text.append(f"{name:<15} ", style="dim").append(f"{one_line(value) or '-'}\n")
    deliveries = alert.get("deliveries") or ()
    text.append(f"\nDeliveries ({len(deliveries)})\n", style="bold")
    for d in deliveries:
        state = short(d.get("status"), "DELIVERY_STATUS_")
        text.append(f"  {short(d.get('channel'), 'ALERT_CHANNEL_'):<8} ")
        text.append(f"{state:<8}", style=DELIVERY_STYLE.get(state, ""))
        attempts = d.get("attempts") or 0
        text.append(f" {one_line(d.get('recipient'))} · {attempts} attempt")
        text.append("" if attempts == 1 else "s")
        if d.get("last_attempt_at"):
            text.append(f" · last {d['last_attempt_at']}")
        text.append("\n")
        if d.get("last_error"):
            text.append(f"    {one_line(d['last_error'])}\n", style="red")
    return text


def acked(alert: Alert, operator: str) -> str:
    """The notification after AcknowledgeAlert (the first acknowledgement is kept)."""
    kept = alert.get("acknowledged_by")
    earlier = f" (already, by {kept})" if kept and kept != operator else ""
    return f"Alert {alert.get('alert_id')} acknowledged{earlier}"


def retried(alert_id: str, reply: Mapping[str, Any]) -> str:
    """The notification after RetryFailedAlerts for one alert."""
    if not reply.get("retried"):
        return f"Alert {alert_id}: no failed delivery is due for a retry"
    return (
        f"Alert {alert_id}: retried {reply['retried']} deliveries, "
        f"{reply.get('succeeded', 0)} delivered, {reply.get('still_failing', 0)} still failing"
    )
