"""The AlertService gRPC methods: validate, store, deliver, answer."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from typing import Any

import grpc

from meshctl.core.context import current_context
from meshctl.errors import InvalidRequestError
from meshctl.proto.its.v1 import alert_pb2 as apb
from meshctl.proto.its.v1 import common_pb2 as pb
from meshctl.services.alert import validation as v
from meshctl.services.alert.dispatch import Dispatcher
from meshctl.services.alert.outbound import OutboundPolicy
from meshctl.services.alert.rules import (
    SEVERITY_VALUES,
    SeverityRules,
    anomaly_severity,
    severity_name,
    violation_severity,
)
from meshctl.services.alert.storage import ACKNOWLEDGED, OPEN, AlertRow, AlertStore, DeliveryRow
from meshctl.services.frames import enum_name, to_seconds, to_timestamp

Context = grpc.aio.ServicerContext[Any, Any]
_DELIVERY_STATUS = {
    "pending": apb.DELIVERY_STATUS_PENDING,
    "sent": apb.DELIVERY_STATUS_SENT,
    "failed": apb.DELIVERY_STATUS_FAILED,
}


def _delivery_proto(row: DeliveryRow) -> apb.Delivery:
    message = apb.Delivery(
        delivery_id=row.delivery_id,
        channel=v.CHANNEL_VALUES[row.channel],  # type: ignore[arg-type]
        recipient=row.recipient,
        status=_DELIVERY_STATUS[row.status],
        attempts=row.attempts,
        last_error=row.last_error,
    )
    if row.last_attempt_at is not None:
        message.last_attempt_at.CopyFrom(to_timestamp(row.last_attempt_at))
    if row.delivered_at is not None:
        message.delivered_at.CopyFrom(to_timestamp(row.delivered_at))
    return message


def alert_proto(row: AlertRow) -> apb.Alert:
    """The wire form of a stored alert."""
    message = apb.Alert(
        alert_id=row.alert_id,
        severity=SEVERITY_VALUES[row.severity],  # type: ignore[arg-type]
        status=apb.ALERT_STATUS_ACKNOWLEDGED
        if row.status == ACKNOWLEDGED
        else apb.ALERT_STATUS_OPEN,
        title=row.title,
        message=row.message,
        source=row.source,
        source_id=row.source_id,
        camera_id=row.camera_id,
        channels=[v.CHANNEL_VALUES[c] for c in row.channels],  # type: ignore[misc]
        recipients=[
            apb.Recipient(channel=v.CHANNEL_VALUES[d.channel], address=d.recipient)  # type: ignore[arg-type]
            for d in row.deliveries
        ],
        deliveries=[_delivery_proto(d) for d in row.deliveries],
        created_at=to_timestamp(row.created_at),
        acknowledged_by=row.acknowledged_by,
        acknowledgement_note=row.acknowledgement_note,
        correlation_id=row.correlation_id,
        metadata=row.extra,
    )
    if row.acknowledged_at is not None:
        message.acknowledged_at.CopyFrom(to_timestamp(row.acknowledged_at))
    return message


DEFAULT_LIST, MAX_LIST = 50, 1000
"""Alerts ListAlerts answers when no limit is given, and at most."""

# Stored statuses by wire value; "" (unspecified) matches any. Escalated and
# resolved are wire values no alert is stored with yet: they match none.
_STATUS_NAMES = {
    apb.ALERT_STATUS_UNSPECIFIED: "",
    apb.ALERT_STATUS_OPEN: OPEN,
    apb.ALERT_STATUS_ACKNOWLEDGED: ACKNOWLEDGED,
    apb.ALERT_STATUS_ESCALATED: "escalated",
    apb.ALERT_STATUS_RESOLVED: "resolved",
}


def _window(
    request: apb.GetAlertStatisticsRequest | apb.ListAlertsRequest,
) -> tuple[float | None, float | None]:
    """The request's time window as (start, end) epoch seconds, either open."""
    start = end = None
    if request.HasField("window"):
        if request.window.HasField("start"):
            start = to_seconds(request.window.start)
        if request.window.HasField("end"):
            end = to_seconds(request.window.end)
        if start is not None and end is not None and end <= start:
            raise InvalidRequestError("window: end must be after start")
    return start, end


class AlertServicer:
    """Implements its.v1.AlertService over a store and a dispatcher."""

    def __init__(
        self,
        store: AlertStore,
        dispatcher: Dispatcher,
        rules: SeverityRules,
        default_recipients: Mapping[str, list[str]],
        clock: Callable[[], float],
        outbound: OutboundPolicy,
    ) -> None:
        self._store = store
        self._outbound = outbound
        self._dispatcher = dispatcher
        self._rules = rules
        self._defaults = default_recipients
        self._clock = clock

    async def ProcessViolationAlert(  # noqa: N802 - gRPC method names
        self, request: apb.ProcessViolationAlertRequest, context: Context
    ) -> apb.AlertResponse:
        if not request.HasField("violation"):
            raise InvalidRequestError("violation: required")
        violation = request.violation
        kind = enum_name(pb.ViolationType, violation.type, "VIOLATION_TYPE_").replace("_", " ")
        evidence = violation.evidence.description
        return await self._create(
            request,
            severity=violation_severity(violation.severity, violation.type),
            source=(
                "violation",
                v.check_text(violation.violation_id, "violation.violation_id", limit=v.MAX_ID),
            ),
            camera_id=v.check_text(
                violation.camera_id, "violation.camera_id", limit=v.MAX_ID, required=False
            ),
            title=f"{kind} violation at camera {violation.camera_id or 'unknown'}",
            message=evidence or f"{kind} violation by track {violation.track_id or 'unknown'}",
        )

    async def ProcessAnomalyAlert(  # noqa: N802
        self, request: apb.ProcessAnomalyAlertRequest, context: Context
    ) -> apb.AlertResponse:
        if not request.HasField("anomaly"):
            raise InvalidRequestError("anomaly: required")
        anomaly = request.anomaly
        kind = enum_name(pb.AnomalyType, anomaly.type, "ANOMALY_TYPE_").replace("_", " ")
        return await self._create(
            request,
            severity=anomaly_severity(anomaly.severity, anomaly.z_score),
            source=(
                "anomaly",
                v.check_text(anomaly.anomaly_id, "anomaly.anomaly_id", limit=v.MAX_ID),
            ),
            camera_id=v.check_text(
                anomaly.camera_id, "anomaly.camera_id", limit=v.MAX_ID, required=False
            ),
            title=f"{kind} anomaly at camera {anomaly.camera_id or 'unknown'}",
            message=anomaly.description or f"{anomaly.metric} at {anomaly.observed:g}",
        )

    async def SendAlert(  # noqa: N802
        self, request: apb.SendAlertRequest, context: Context
    ) -> apb.AlertResponse:
        severity = severity_name(request.severity)
        if severity is None:
            raise InvalidRequestError("severity: required (low, medium, high or critical)")
        alert_id = uuid.uuid4().hex
        return await self._create(
            request,
            severity=severity,
            source=("manual", alert_id),
            camera_id=v.check_text(request.camera_id, "camera_id", limit=v.MAX_ID, required=False),
            title=v.check_text(request.title, "title", limit=v.MAX_TITLE),
            message=v.check_text(request.message, "message", limit=v.MAX_MESSAGE),
            alert_id=alert_id,
            metadata=dict(request.metadata),
        )

    async def GetAlertStatistics(  # noqa: N802
        self, request: apb.GetAlertStatisticsRequest, context: Context
    ) -> apb.GetAlertStatisticsResponse:
        start, end = _window(request)
        camera = v.check_text(request.camera_id, "camera_id", limit=v.MAX_ID, required=False)
        stats = await self._store.statistics(start, end, camera)
        by_channel = []
        for name, counts in sorted(stats.by_channel.items()):
            finished = counts.sent + counts.failed
            by_channel.append(
                apb.ChannelStatistics(
                    channel=v.CHANNEL_VALUES[name],  # type: ignore[arg-type]
                    sent=counts.sent,
                    failed=counts.failed,
                    pending=counts.pending,
                    success_rate=counts.sent / finished if finished else 0.0,
                )
            )
        return apb.GetAlertStatisticsResponse(
            total_alerts=stats.total,
            alerts_by_severity=dict(stats.by_severity),
            by_channel=by_channel,
            acknowledged=stats.acknowledged,
            unacknowledged=stats.total - stats.acknowledged,
            failed_deliveries=stats.failed_deliveries,
            window=request.window,
        )

    async def RetryFailedAlerts(  # noqa: N802
        self, request: apb.RetryFailedAlertsRequest, context: Context
    ) -> apb.RetryFailedAlertsResponse:
        if request.max_alerts < 0:
            raise InvalidRequestError("max_alerts: must not be negative")
        alert_id = v.check_text(request.alert_id, "alert_id", limit=v.MAX_ID, required=False)
        if alert_id and await self._store.get(alert_id) is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"alert_id: no alert {alert_id!r}")
        outcome = await self._dispatcher.retry_due(alert_id or None, request.max_alerts)
        return apb.RetryFailedAlertsResponse(
            retried=outcome.retried,
            succeeded=outcome.succeeded,
            still_failing=outcome.still_failing,
            alerts=[alert_proto(a) for a in outcome.alerts],
        )

    async def AcknowledgeAlert(  # noqa: N802
        self, request: apb.AcknowledgeAlertRequest, context: Context
    ) -> apb.AcknowledgeAlertResponse:
        alert_id = v.check_text(request.alert_id, "alert_id", limit=v.MAX_ID)
        by = v.check_text(request.acknowledged_by, "acknowledged_by", limit=v.MAX_ID)
        note = v.check_text(request.note, "note", limit=v.MAX_MESSAGE, required=False)
        alert = await self._store.acknowledge(alert_id, by, note, self._clock())
        if alert is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"alert_id: no alert {alert_id!r}")
        return apb.AcknowledgeAlertResponse(alert=alert_proto(alert))

    async def GetAlert(  # noqa: N802
        self, request: apb.GetAlertRequest, context: Context
    ) -> apb.AlertResponse:
        alert_id = v.check_text(request.alert_id, "alert_id", limit=v.MAX_ID)
        alert = await self._store.get(alert_id)
        if alert is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"alert_id: no alert {alert_id!r}")
        return apb.AlertResponse(alert=alert_proto(alert))

    async def ListAlerts(  # noqa: N802
        self, request: apb.ListAlertsRequest, context: Context
    ) -> apb.ListAlertsResponse:
        if not 0 <= request.limit <= MAX_LIST:
            raise InvalidRequestError(f"limit: must be 0 (for {DEFAULT_LIST}) to {MAX_LIST}")
        severities = []
        for value in request.severities:
            name = severity_name(value)
            if name is None:
                raise InvalidRequestError(f"severities: unknown or unspecified severity {value}")
            severities.append(name)
        status = _STATUS_NAMES.get(request.status)
        if status is None:
            raise InvalidRequestError(f"status: unknown status {request.status}")
        start, end = _window(request)
        rows, truncated = await self._store.recent(
            severities=severities,
            camera_id=v.check_text(request.camera_id, "camera_id", limit=v.MAX_ID, required=False),
            status=status,
            start=start,
            end=end,
            failed_only=request.failed_only,
            limit=request.limit or DEFAULT_LIST,
        )
        return apb.ListAlertsResponse(alerts=[alert_proto(r) for r in rows], truncated=truncated)

    async def _create(
        self,
        request: apb.ProcessViolationAlertRequest
        | apb.ProcessAnomalyAlertRequest
        | apb.SendAlertRequest,
        *,
        severity: str,
        source: tuple[str, str],
        camera_id: str,
        title: str,
        message: str,
        alert_id: str | None = None,
        metadata: dict[str, str] | None = None,
    ) -> apb.AlertResponse:
        """Store the alert with pending deliveries, then deliver them (or return the duplicate)."""
        explicit = v.channel_names(request.channels, "channels")
        channels = explicit or list(self._rules.channels_for(severity))
        recipients = v.request_recipients(request.recipients)
        for n, recipient in enumerate(request.recipients):
            if recipient.channel == apb.ALERT_CHANNEL_WEBHOOK:  # the caller's own URL
                await self._outbound.check(recipient.address.strip(), f"recipients[{n}].address")
        targets = v.resolve_targets(channels, recipients, self._defaults, strict=bool(explicit))
        alert_id = alert_id or uuid.uuid4().hex
        ctx = current_context()
        row = AlertRow(
            alert_id=alert_id,
            severity=severity,
            status="open",
            title=title[: v.MAX_TITLE],
            message=message,
            source=source[0],
            source_id=source[1],
            camera_id=camera_id,
            channels=sorted({channel for channel, _ in targets}, key=channels.index),
            created_at=self._clock(),
            correlation_id=ctx.correlation_id if ctx else "",
            extra=metadata or {},
            acknowledged_by="",
            acknowledgement_note="",
            deliveries=self._dispatcher.plan(alert_id, targets),
        )
        if not await self._store.insert(row):
            existing = await self._store.by_source(*source)
            if existing is None:  # the clash was on something else: report it plainly
                raise InvalidRequestError(f"{source[0]}: could not store the alert")
            return apb.AlertResponse(alert=alert_proto(existing), deduplicated=True)
        await self._dispatcher.deliver(row, row.deliveries)
        return apb.AlertResponse(alert=alert_proto(row))
