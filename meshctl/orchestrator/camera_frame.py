"""The camera-frame workflow: streaming → analytics → alert, with the platform's events.

Rules: streaming ingests the frame and forwards it to analytics itself. A
frame streaming could only queue (analytics unreachable) ends the run as
degraded, with no alert steps. Otherwise ``frame.processed`` is published,
then one ``violation.detected`` per violation, then every violation's alert
is raised at the same time and each ends in ``alert.sent`` or
``alert.failed``; any alert that did not reach its recipients degrades the run.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from meshctl.errors import InvalidRequestError
from meshctl.orchestrator.model import Call, Concurrently, Flow, Outcome, Publish, Reply, Verdict
from meshctl.orchestrator.registry import Parameter, WorkflowSpec, parse_json_object, register

FORWARDED = "FRAME_STATUS_FORWARDED"
SENT = "DELIVERY_STATUS_SENT"
FAILED = "DELIVERY_STATUS_FAILED"


def judge_ingest(data: Mapping[str, Any]) -> Verdict:
    """Forwarded is ok; queued is degraded, with streaming's reason."""
    analysis = data.get("analysis") or {}
    summary = {
        "frame_id": data.get("frame_id"),
        "status": "forwarded" if data.get("status") == FORWARDED else "queued",
        "queue_depth": data.get("queue_depth", 0),
        "violations": len(analysis.get("violations") or []),
        "vehicle_count": analysis.get("vehicle_count", 0),
    }
    if data.get("status") == FORWARDED:
        return Verdict("ok", summary)
    return Verdict("degraded", summary, data.get("error") or "frame queued in streaming")


def delivery_channels(alert: Mapping[str, Any], status: str) -> list[str]:
    """Channels of the alert's deliveries in ``status`` (e.g. ``["webhook"]``)."""
    return sorted(
        {
            str(d.get("channel", "")).removeprefix("ALERT_CHANNEL_").lower()
            for d in alert.get("deliveries") or []
            if d.get("status") == status
        }
    )


def judge_alert(data: Mapping[str, Any]) -> Verdict:
    """Ok when every delivery went out, degraded when some did, failed when none did."""
    alert = data.get("alert") or {}
    sent, failed = delivery_channels(alert, SENT), delivery_channels(alert, FAILED)
    summary = {
        "alert_id": alert.get("alert_id"),
        "severity": str(alert.get("severity", "")).removeprefix("SEVERITY_").lower(),
        "sent": sent,
        "failed": failed,
        "deduplicated": bool(data.get("deduplicated")),
    }
    if not alert.get("deliveries"):
        return Verdict("degraded", summary, "no channel has a recipient")
    errors = sorted({d["last_error"] for d in alert["deliveries"] if d.get("last_error")})
    if not failed:
        return Verdict("ok", summary)
    return Verdict("failed" if not sent else "degraded", summary, "; ".join(errors) or None)


def violation_event(violation: Mapping[str, Any], frame_id: str) -> dict[str, Any]:
    """What ``violation.detected`` says about one violation."""
    return {
        "violation_id": violation.get("violation_id"),
        "type": violation.get("type"),
        "severity": violation.get("severity"),
        "camera_id": violation.get("camera_id"),
        "track_id": violation.get("track_id"),
        "frame_id": frame_id,
    }


def alert_event(violation: Mapping[str, Any], reply: Reply) -> tuple[str, dict[str, Any]]:
    """``alert.sent`` when some delivery went out, else ``alert.failed``, with its data."""
    step = reply.step
    data = {
        "violation_id": violation.get("violation_id"),
        "camera_id": violation.get("camera_id"),
        **step.summary,
        "error": step.error,
    }
    return ("alert.sent" if step.outcome in ("ok", "degraded") else "alert.failed"), data


def camera_frame_flow(camera_id: str, frame: Mapping[str, Any]) -> Flow:
    """Process one frame; see the module docstring for the rules.

    Raises:
        InvalidRequestError: the camera id is empty or the frame names another camera.
    """
    if not camera_id.strip():
        raise InvalidRequestError("camera id must not be empty")
    if frame.get("camera_id", camera_id) != camera_id:
        raise InvalidRequestError(
            f"the frame is from camera {frame['camera_id']!r}, not {camera_id!r}"
        )
    return _process(camera_id, {**frame, "camera_id": camera_id})


def _process(camera_id: str, frame: Mapping[str, Any]) -> Flow:
    ingest: Reply = yield Call(
        "process detections",
        "streaming",
        "ProcessDetections",
        {"frame": frame},
        key=camera_id,
        judge=judge_ingest,
    )
    if ingest.data is None:
        return Outcome("failed", f"failed: streaming: {ingest.step.error}")
    frame_id = str(ingest.data.get("frame_id", ""))
    output: dict[str, Any] = {"camera_id": camera_id, "frame_id": frame_id}
    if ingest.step.outcome != "ok":
        output["queue_depth"] = ingest.step.summary["queue_depth"]
        return Outcome("degraded", "degraded: frame queued in streaming", output)
    analysis = ingest.data.get("analysis") or {}
    violations: list[Mapping[str, Any]] = list(analysis.get("violations") or [])
    yield Publish(
        "frame.processed",
        {
            **output,
            "vehicle_count": analysis.get("vehicle_count", 0),
            "average_speed_kmh": analysis.get("average_speed_kmh", 0.0),
            "violations": len(violations),
        },
    )
    for violation in violations:
        yield Publish("violation.detected", violation_event(violation, frame_id))
    output["violations"] = [v.get("violation_id") for v in violations]
    if not violations:
        output["alerts"] = []
        return Outcome("completed", "no violations", output)
    replies: tuple[Reply, ...] = yield Concurrently(
        tuple(
            Call(
                f"alert {v.get('violation_id')}",
                "alert",
                "ProcessViolationAlert",
                {"violation": v},
                key=camera_id,
                judge=judge_alert,
            )
            for v in violations
        )
    )
    for violation, reply in zip(violations, replies, strict=True):
        yield Publish(*alert_event(violation, reply))
    output["alerts"] = [r.step.summary.get("alert_id") for r in replies]
    missed = sum(r.step.outcome != "ok" for r in replies)
    if missed:
        return Outcome(
            "degraded", f"degraded: {missed} of {len(replies)} alerts not delivered", output
        )
    return Outcome("completed", f"{len(replies)} alerts sent", output)


def _build(params: Mapping[str, Any]) -> Flow:
    frame = params["frame"]
    camera = params["camera"] or (frame or {}).get("camera_id") or "cam001"
    if frame is None:
        # Sample data, not service code: the layering rule is about behaviour.
        from meshctl.samples import sample_frame

        frame = sample_frame(camera)
    return camera_frame_flow(camera, frame)


CAMERA_FRAME = register(
    WorkflowSpec(
        name="camera-frame",
        description="Process one camera frame: streaming → analytics → alerts, with events.",
        parameters=(
            Parameter("camera", "Camera id (default: the frame's, else cam001)."),
            Parameter(
                "frame",
                "The frame as JSON or @FILE (default: a sample frame with one speeding car).",
                parse_json_object,
            ),
        ),
        build=_build,
    )
)
