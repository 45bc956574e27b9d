"""For the alerts pane's tests: alert replies as the mesh returns them, and a scripted client.

The alerts are stamped relative to ``T0`` (tests/support/top.py), the clock
the snapshots freeze.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from meshctl.errors import MeshError
from tests.support.top import T0


def stamp(seconds_before_t0: float) -> str:
    """An RFC 3339 timestamp as ListAlerts' JSON carries it."""
    moment = datetime.fromtimestamp(T0 - seconds_before_t0, UTC)
    return moment.isoformat().replace("+00:00", "Z")


def delivery(channel: str, status: str, error: str = "", attempts: int = 1) -> dict[str, Any]:
    return {
        "delivery_id": f"d-{channel}",
        "channel": f"ALERT_CHANNEL_{channel.upper()}",
        "recipient": {"webhook": "https://ops.example/hooks", "email": "ops@example.org"}.get(
            channel, "+15550100"
        ),
        "status": f"DELIVERY_STATUS_{status.upper()}",
        "attempts": attempts,
        "last_error": error,
        "last_attempt_at": stamp(5),
    }


def alert(
    alert_id: str,
    age: float,
    severity: str,
    camera: str,
    source: str,
    title: str,
    *deliveries: dict[str, Any],
    status: str = "open",
    **extra: Any,
) -> dict[str, Any]:
    return {
        "alert_id": alert_id,
        "severity": f"SEVERITY_{severity.upper()}",
        "status": f"ALERT_STATUS_{status.upper()}",
        "title": title,
        "message": f"{title}: evidence attached",
        "source": source,
        "source_id": f"{source[:3]}-{alert_id[:4]}",
        "camera_id": camera,
        "channels": [d["channel"] for d in deliveries],
        "recipients": [],
        "deliveries": list(deliveries),
        "created_at": stamp(age),
        "acknowledged_by": extra.get("acknowledged_by", ""),
        "acknowledgement_note": "",
        "correlation_id": f"corr-{alert_id[:6]}",
        "metadata": extra.get("metadata", {}),
    }


def alerts() -> list[dict[str, Any]]:
    """Four alerts, deliberately not in time order: the pane sorts them."""
    return [
        alert(
            "5b1e0c7d9a2f4e6b8c0d1e2f3a4b5c6d", 190, "high", "cam-north-2", "violation",
            "red light violation at camera cam-north-2",
            delivery("webhook", "sent"), delivery("email", "sent"),
            status="acknowledged", acknowledged_by="dana",
        ),
        alert(
            "9f3c2a1b7e6d4c5b8a9f0e1d2c3b4a59", 12, "critical", "cam-east-1", "violation",
            "wrong way violation at camera cam-east-1",
            delivery("webhook", "sent"),
            delivery("email", "failed", "SMTP 451: mailbox busy, try later", attempts=3),
            delivery("sms", "pending"),
        ),
        alert(
            "0a1b2c3d4e5f60718293a4b5c6d7e8f9", 3 * 3600, "low", "cam-south-7", "manual",
            "camera cleaning scheduled", delivery("webhook", "sent"),
            metadata={"ticket": "OPS-1729"},
        ),
        alert(
            "7c6b5a49382716a5b4c3d2e1f0a9b8c7", 75, "medium", "cam-west-3", "anomaly",
            "speed drop anomaly at camera cam-west-3",
            delivery("webhook", "failed", "HTTP 503 from https://ops.example/hooks", attempts=2),
        ),
    ]  # fmt: skip


def stats() -> dict[str, Any]:
    return {
        "total_alerts": 4,
        "alerts_by_severity": {"critical": 1, "high": 1, "low": 1, "medium": 1},
        "by_channel": [
            {"channel": "ALERT_CHANNEL_EMAIL", "sent": 1, "failed": 1, "pending": 0,
             "success_rate": 0.5},
            {"channel": "ALERT_CHANNEL_SMS", "sent": 0, "failed": 0, "pending": 1,
             "success_rate": 0.0},
            {"channel": "ALERT_CHANNEL_WEBHOOK", "sent": 3, "failed": 1, "pending": 0,
             "success_rate": 0.75},
        ],
        "acknowledged": 1,
        "unacknowledged": 3,
        "failed_deliveries": 2,
    }  # fmt: skip


class FakeAlerts:
    """An AlertsClient answering from memory; ``down`` makes every call fail like a dead
    service; ``acked`` and ``retried`` record the commands."""

    operator = "ops"

    def __init__(self, listed: list[dict[str, Any]] | None = None) -> None:
        self.alerts = alerts() if listed is None else listed
        self.down: MeshError | None = None
        self.acked: list[str] = []
        self.retried: list[str] = []

    def _check(self) -> None:
        if self.down is not None:
            raise self.down

    async def list(self) -> Mapping[str, Any]:
        self._check()
        return {"alerts": [dict(a) for a in self.alerts], "truncated": False}

    async def stats(self) -> Mapping[str, Any]:
        self._check()
        return stats()

    async def ack(self, alert_id: str) -> Mapping[str, Any]:
        self._check()
        self.acked.append(alert_id)
        [found] = [a for a in self.alerts if a["alert_id"] == alert_id]
        found["status"] = "ALERT_STATUS_ACKNOWLEDGED"
        found["acknowledged_by"] = found["acknowledged_by"] or self.operator
        return found

    async def retry(self, alert_id: str) -> Mapping[str, Any]:
        self._check()
        self.retried.append(alert_id)
        return {"retried": 1, "succeeded": 1, "still_failing": 0, "alerts": []}
