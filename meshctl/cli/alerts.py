"""``meshctl alerts``: list, show, acknowledge and retry the platform's alerts; their statistics.

Every command calls the alert service's own RPCs through the mesh (discovery,
balancing, breakers), so it works against any alert instance the registry
knows. Replies are shown with short names (``high``, ``open``,
``webhook:sent``) in tables; JSON and YAML keep them whole.
"""

from __future__ import annotations

import getpass
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import typer

from meshctl.cli.output import Column, OutputFormat, OutputOption, emit
from meshctl.cli.requestdata import parse_moment
from meshctl.cli.runner import run, state
from meshctl.core.alerts import deliveries_cell, one_line, parse_time, short
from meshctl.core.units import format_age
from meshctl.errors import InvalidRequestError

if TYPE_CHECKING:
    from meshctl.config import MeshSettings

app = typer.Typer(
    help="List, acknowledge and retry alerts; alert statistics.", no_args_is_help=True
)

SERVICE = "alert"
CLIENT_NAME = "meshctl-alerts"


class Severity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class Status(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"


def _age(now: datetime) -> Any:
    def age(created: Any) -> str:
        stamp = parse_time(created)
        return "-" if stamp is None else format_age((now - stamp).total_seconds())

    return age


def alert_row(alert: Mapping[str, Any]) -> dict[str, Any]:
    """One alert as ``alerts list`` shows it (the JSON keeps the whole reply)."""
    return {
        "alert_id": alert.get("alert_id"),
        "created_at": alert.get("created_at"),
        "severity": short(alert.get("severity"), "SEVERITY_"),
        "status": short(alert.get("status"), "ALERT_STATUS_"),
        "camera_id": alert.get("camera_id") or "-",
        "title": one_line(alert.get("title")),
        "deliveries": deliveries_cell(alert),
    }


def list_columns(now: datetime) -> tuple[Column, ...]:
    return (
        Column("alert_id", "ALERT"),
        Column("created_at", "AGE", _age(now)),
        Column("severity"),
        Column("status"),
        Column("camera_id", "CAMERA"),
        Column("deliveries"),
        Column("title"),
    )


def list_request(
    severities: Sequence[Severity],
    camera: str | None,
    status: Status | None,
    since: str | None,
    until: str | None,
    failed: bool,
    limit: int,
    now: datetime,
) -> dict[str, Any]:
    """ListAlerts' request from the command line's filters."""
    request: dict[str, Any] = {"limit": limit, "failed_only": failed}
    if severities:
        request["severities"] = [f"SEVERITY_{s.value.upper()}" for s in severities]
    if camera:
        request["camera_id"] = camera
    if status is not None:
        request["status"] = f"ALERT_STATUS_{status.value.upper()}"
    window = {}
    if since is not None:
        window["start"] = _rfc3339(parse_moment("--since", since, now))
    if until is not None:
        window["end"] = _rfc3339(parse_moment("--until", until, now))
    if window:
        request["window"] = window
    return request


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def stats_rows(reply: Mapping[str, Any]) -> list[dict[str, Any]]:
    """GetAlertStatistics as one row per channel, a totals row first."""
    by_severity = reply.get("alerts_by_severity") or {}
    rows = [
        {
            "channel": "(all)",
            "alerts": reply.get("total_alerts", 0),
            "acknowledged": reply.get("acknowledged", 0),
            "unacknowledged": reply.get("unacknowledged", 0),
            "by_severity": " ".join(f"{k}={v}" for k, v in sorted(by_severity.items())) or "-",
            "failed": reply.get("failed_deliveries", 0),
        }
    ]
    for channel in reply.get("by_channel") or ():
        rows.append(
            {
                "channel": short(channel.get("channel"), "ALERT_CHANNEL_"),
                "sent": channel.get("sent", 0),
                "failed": channel.get("failed", 0),
                "pending": channel.get("pending", 0),
                "success_rate": f"{float(channel.get('success_rate') or 0) * 100:.1f}%",
            }
        )
    return rows


STATS_COLUMNS = (
    "channel", "alerts", "acknowledged", "unacknowledged", "by_severity",
    "sent", "failed", "pending", Column("success_rate", "SUCCESS"),
)  # fmt: skip


async def call_alert(settings: MeshSettings, method: str, request: dict[str, Any]) -> Any:
    """One call of the alert service through a one-shot mesh client."""
    from meshctl.cli.lookup import explain_no_endpoints
    from meshctl.errors import NoEndpointsError
    from meshctl.mesh import open_mesh

    mesh = open_mesh(settings, name=CLIENT_NAME, events=False, control=False, watch=False)
    async with mesh:
        try:
            return await mesh.call_service(SERVICE, method, request)
        except NoEndpointsError:
            await explain_no_endpoints(mesh.registry, SERVICE)
            raise


def _call(ctx: typer.Context, method: str, request: dict[str, Any]) -> Any:
    return run(call_alert(state(ctx).resolve().settings, method, request))


def _alert_id(value: str) -> str:
    text = value.strip()
    if not text:
        raise InvalidRequestError("ALERT_ID must not be empty")
    return text


@app.command("list")
def list_alerts(
    ctx: typer.Context,
    severity: Annotated[
        list[Severity] | None,
        typer.Option("--severity", help="Only this severity (repeatable).", show_default=False),
    ] = None,
    camera: Annotated[str | None, typer.Option("--camera", help="Only this camera's.")] = None,
    status: Annotated[Status | None, typer.Option(help="Only open or acknowledged ones.")] = None,
    since: Annotated[
        str | None, typer.Option(help="Created since: -10m/-2h/-1d or a timestamp (UTC).")
    ] = None,
    until: Annotated[str | None, typer.Option(help="Created before: like --since.")] = None,
    failed: Annotated[
        bool, typer.Option("--failed", help="Only alerts with a failed delivery.")
    ] = False,
    limit: Annotated[int, typer.Option(help="At most this many (1-1000).", min=1, max=1000)] = 50,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """List recent alerts, newest first, with each delivery's channel and status."""
    now = datetime.now(UTC)
    request = list_request(severity or [], camera, status, since, until, failed, limit, now)
    reply = _call(ctx, "ListAlerts", request)
    alerts = reply.get("alerts") or []
    if output is OutputFormat.TABLE:
        emit([alert_row(a) for a in alerts], output, columns=list_columns(now))
        if reply.get("truncated"):
            typer.echo(f"(more alerts match; showing the newest {limit}: raise --limit)", err=True)
    else:
        emit(reply, output)


@app.command("show")
def show(
    ctx: typer.Context,
    alert_id: Annotated[str, typer.Argument(metavar="ALERT_ID", help="The alert's id.")],
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """One alert with every delivery: recipient, status, attempts, last error."""
    alert = _call(ctx, "GetAlert", {"alert_id": _alert_id(alert_id)})["alert"]
    if output is not OutputFormat.TABLE:
        emit(alert, output)
        return
    row = alert_row(alert)
    typer.echo(
        f"alert {row['alert_id']}: {row['severity']}, {row['status']}, camera {row['camera_id']}\n"
        f"  {row['title']}\n  {one_line(alert.get('message'))}\n"
        f"  created {alert.get('created_at')}, correlation id {alert.get('correlation_id') or '-'}"
    )
    if alert.get("acknowledged_by"):
        typer.echo(
            f"  acknowledged by {alert['acknowledged_by']} at {alert.get('acknowledged_at')}"
            + (f": {alert['acknowledgement_note']}" if alert.get("acknowledgement_note") else "")
        )
    deliveries = [
        {
            "channel": short(d.get("channel"), "ALERT_CHANNEL_"),
            "recipient": d.get("recipient"),
            "status": short(d.get("status"), "DELIVERY_STATUS_"),
            "attempts": d.get("attempts"),
            "last_error": one_line(d.get("last_error")) or None,
        }
        for d in alert.get("deliveries") or ()
    ]
    emit(deliveries, output, columns=("channel", "recipient", "status", "attempts", "last_error"))


@app.command("ack")
def ack(
    ctx: typer.Context,
    alert_id: Annotated[str, typer.Argument(metavar="ALERT_ID", help="The alert's id.")],
    by: Annotated[
        str | None, typer.Option(help="Who acknowledges (default: the login name).")
    ] = None,
    note: Annotated[str, typer.Option(help="A note kept with the acknowledgement.")] = "",
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Acknowledge an alert (the first acknowledgement is kept)."""
    who = (by or getpass.getuser()).strip()
    request = {"alert_id": _alert_id(alert_id), "acknowledged_by": who, "note": note}
    alert = _call(ctx, "AcknowledgeAlert", request)["alert"]
    if output is not OutputFormat.TABLE:
        emit(alert, output)
        return
    kept = alert.get("acknowledged_by")
    earlier = f" (already, by {kept})" if kept != who else ""
    typer.echo(f"alert {alert['alert_id']} acknowledged{earlier}")


@app.command("retry")
def retry(
    ctx: typer.Context,
    alert_id: Annotated[
        str | None,
        typer.Argument(metavar="[ALERT_ID]", help="The alert whose deliveries to retry."),
    ] = None,
    every: Annotated[
        bool, typer.Option("--all", help="Retry every alert with a delivery due.")
    ] = False,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Retry failed deliveries now: one alert's, or with --all every alert's."""
    if (alert_id is None) == (not every):
        raise InvalidRequestError("give an ALERT_ID or --all (not both)")
    request = {"alert_id": _alert_id(alert_id) if alert_id is not None else ""}
    reply = _call(ctx, "RetryFailedAlerts", request)
    if output is not OutputFormat.TABLE:
        emit(reply, output)
        return
    typer.echo(
        f"retried {reply.get('retried', 0)} alerts: {reply.get('succeeded', 0)} delivered, "
        f"{reply.get('still_failing', 0)} still failing"
    )


@app.command("stats")
def stats(
    ctx: typer.Context,
    camera: Annotated[str | None, typer.Option("--camera", help="Only this camera's.")] = None,
    since: Annotated[
        str | None, typer.Option(help="Created since: -10m/-2h/-1d or a timestamp (UTC).")
    ] = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Alerts by severity and acknowledgement; deliveries by channel and status."""
    request: dict[str, Any] = {"camera_id": camera or ""}
    if since is not None:
        request["window"] = {"start": _rfc3339(parse_moment("--since", since, datetime.now(UTC)))}
    reply = _call(ctx, "GetAlertStatistics", request)
    if output is OutputFormat.TABLE:
        emit(stats_rows(reply), output, columns=STATS_COLUMNS)
    else:
        emit(reply, output)
