"""Valid sample requests for every method of the reference services.

``meshctl call SERVICE METHOD`` with no data sends these, the demo and the
load tests build on them, and they double as documentation of the shapes.
"""

from __future__ import annotations

import copy
import os
import uuid
from datetime import UTC, datetime
from typing import Any

from meshctl.config import up_state_path
from meshctl.embedded.state import admin_password_path, known_admin_password


def sample_frame(camera_id: str = "cam001", *, speed_kmh: float = 92.5) -> dict[str, Any]:
    """One frame: a car over a 50 km/h limit and a truck at the limit, signal red."""
    return {
        "camera_id": camera_id,
        "frame_id": f"{camera_id}-{uuid.uuid4().hex[:12]}",
        "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "signal_phase": "SIGNAL_PHASE_GREEN",
        "lanes": [
            {"lane": 1, "allowed_direction": "DIRECTION_NORTHBOUND"},
            {"lane": 2, "allowed_direction": "DIRECTION_NORTHBOUND"},
        ],
        "detections": [
            {
                "track_id": "t-1",
                "vehicle_class": "VEHICLE_CLASS_CAR",
                "confidence": 0.94,
                "bbox": {"x": 120, "y": 80, "width": 64, "height": 40},
                "speed_kmh": speed_kmh,
                "lane": 1,
                "direction": "DIRECTION_NORTHBOUND",
            },
            {
                "track_id": "t-2",
                "vehicle_class": "VEHICLE_CLASS_TRUCK",
                "confidence": 0.88,
                "bbox": {"x": 300, "y": 90, "width": 120, "height": 80},
                "speed_kmh": 48.0,
                "lane": 2,
                "direction": "DIRECTION_NORTHBOUND",
            },
        ],
    }


def _violation() -> dict[str, Any]:
    return {
        "violation_id": f"v-{uuid.uuid4().hex[:12]}",
        "type": "VIOLATION_TYPE_SPEEDING",
        "severity": "SEVERITY_HIGH",
        "camera_id": "cam001",
        "track_id": "t-1",
        "vehicle_class": "VEHICLE_CLASS_CAR",
        "lane": 1,
        "evidence": {"measured_value": 92.5, "limit_value": 50.0, "description": "speeding"},
    }


def _anomaly() -> dict[str, Any]:
    return {
        "anomaly_id": f"a-{uuid.uuid4().hex[:12]}",
        "type": "ANOMALY_TYPE_HIGH_VOLUME",
        "severity": "SEVERITY_MEDIUM",
        "camera_id": "cam001",
        "metric": "vehicle_count",
    }


_STATIC: dict[tuple[str, str], dict[str, Any]] = {
    ("streaming", "GetTrafficMetrics"): {"camera_id": "cam001"},
    ("streaming", "HealthCheck"): {},
    ("analytics", "GetTrafficMetrics"): {"camera_id": "cam001"},
    ("analytics", "GetActiveViolations"): {"camera_id": "cam001", "limit": 10},
    ("analytics", "GetTrafficAnomalies"): {"camera_id": "cam001", "limit": 10},
    ("analytics", "GenerateReport"): {"camera_ids": ["cam001"]},
    ("alert", "SendAlert"): {
        "severity": "SEVERITY_LOW",
        "title": "Camera cam001 check",
        "message": "Sample alert sent by meshctl",
        "camera_id": "cam001",
        "channels": ["ALERT_CHANNEL_WEBHOOK"],
    },
    ("alert", "GetAlertStatistics"): {},
    ("alert", "RetryFailedAlerts"): {},
    ("alert", "AcknowledgeAlert"): {"alert_id": "", "acknowledged_by": "operator"},
    ("auth", "health"): {},
}


def sample_request(service: str, method: str) -> dict[str, Any] | None:
    """A valid request for ``service``/``method`` (fresh ids each time), or None if unknown."""
    method = method.rsplit("/", 1)[-1]
    if method == "ProcessDetections" and service in ("streaming", "analytics"):
        return {"frame": sample_frame()}
    if (service, method) == ("alert", "ProcessViolationAlert"):
        return {"violation": _violation()}
    if (service, method) == ("alert", "ProcessAnomalyAlert"):
        return {"anomaly": _anomaly()}
    if (service, method) == ("auth", "login"):
        return _login()
    found = _STATIC.get((service, method))
    return copy.deepcopy(found) if found is not None else None


def _login() -> dict[str, Any]:
    """The administrator of a ``meshctl up`` mesh, with the password ``up`` generated for it."""
    state_dir = up_state_path().parent
    password = known_admin_password(state_dir, os.environ)
    if password is None:
        where = admin_password_path(state_dir)
        password = f"<the admin password: MESH_ADMIN_PASSWORD, or {where} once `meshctl up` ran>"
    return {"username": os.environ.get("MESH_ADMIN_USER") or "admin", "password": password}
