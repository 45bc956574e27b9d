"""The flows stepped by hand: no services, no event loop, the clock is whatever we send."""

from __future__ import annotations

from typing import Any, TypeVar

import pytest

from meshctl.errors import InvalidRequestError
from meshctl.orchestrator import EscalationPolicy, alert_escalation_flow, camera_frame_flow
from meshctl.orchestrator.model import (
    Call,
    Concurrently,
    Now,
    Outcome,
    Publish,
    Record,
    Reply,
    Sleep,
    StepResult,
)
from meshctl.orchestrator.registry import get_workflow, parse_duration

C = TypeVar("C")


def expect(command: object, kind: type[C]) -> C:
    """The command, checked to be of ``kind``."""
    assert isinstance(command, kind), command
    return command


def reply(call: Call, data: dict[str, Any] | None) -> Reply:
    verdict = call.judge(data) if data is not None else None
    outcome = verdict.outcome if verdict else "failed"
    step = StepResult(call.step, call.service, call.method, outcome)
    if verdict:
        step.summary, step.error = verdict.summary, verdict.error
    return Reply(step, data)


def alert(alert_id: str, *statuses: str, status: str = "ALERT_STATUS_OPEN") -> dict[str, Any]:
    deliveries = [{"channel": "ALERT_CHANNEL_WEBHOOK", "status": s} for s in statuses]
    return {"alert_id": alert_id, "status": status, "severity": "SEVERITY_LOW",
            "channels": ["ALERT_CHANNEL_WEBHOOK"], "deliveries": deliveries}  # fmt: skip


def test_two_violations_alert_concurrently_then_report_each_alert():
    flow = camera_frame_flow("cam1", {"detections": []})
    ingest = next(flow)
    assert isinstance(ingest, Call) and ingest.request["frame"]["camera_id"] == "cam1"
    violations = [{"violation_id": "v1"}, {"violation_id": "v2"}]
    analysis = {"violations": violations, "vehicle_count": 2}
    data = {"frame_id": "f1", "status": "FRAME_STATUS_FORWARDED", "analysis": analysis}
    published = [expect(flow.send(reply(ingest, data)), Publish)]
    published += [expect(next(flow), Publish), expect(next(flow), Publish)]
    assert [p.event_type for p in published] == [
        "frame.processed", "violation.detected", "violation.detected"
    ]  # fmt: skip
    together = next(flow)
    assert isinstance(together, Concurrently) and len(together.calls) == 2
    sent = {"alert": alert("a1", "DELIVERY_STATUS_SENT")}
    refused = {"alert": alert("a2", "DELIVERY_STATUS_FAILED")}
    replies = (reply(together.calls[0], sent), reply(together.calls[1], refused))
    first = expect(flow.send(replies), Publish)
    second = expect(next(flow), Publish)
    assert (first.event_type, second.event_type) == ("alert.sent", "alert.failed")
    with pytest.raises(StopIteration) as done:
        next(flow)
    outcome: Outcome = done.value.value
    assert outcome.status == "degraded" and outcome.output["alerts"] == ["a1", "a2"]


def test_a_frame_of_another_camera_is_refused_at_once():
    with pytest.raises(InvalidRequestError, match="from camera 'cam2'"):
        camera_frame_flow("cam1", {"camera_id": "cam2"})


def test_escalation_polls_until_the_deadline_then_escalates():
    policy = EscalationPolicy(ack_timeout=10, poll_interval=4, ladder=("low", "medium"))
    flow = alert_escalation_flow(None, "low", policy)
    send = expect(next(flow), Call)
    assert send.request["severity"] == "SEVERITY_LOW"
    assert isinstance(flow.send(reply(send, {"alert": alert("a1", "DELIVERY_STATUS_SENT")})), Now)
    sleeps = []
    command = flow.send(100.0)
    for now in (104.0, 108.0, 110.0):
        assert isinstance(command, Concurrently)
        assert isinstance(flow.send((reply(command.calls[0], {"alert": alert("a1")}),)), Now)
        command = flow.send(now)
        if isinstance(command, Sleep):
            sleeps.append(command.seconds)
            command = next(flow)
    assert sleeps == [4, 2]  # the last sleep stops at the deadline
    assert isinstance(command, Record) and command.step.outcome == "degraded"
    assert command.step.summary["polls"] == 3
    escalate = expect(next(flow), Call)
    assert escalate.request["severity"] == "SEVERITY_MEDIUM"
    assert escalate.request["metadata"] == {"escalation_of": "a1", "tier": "1"}


def test_registry_parses_text_parameters():
    spec = get_workflow("alert-escalation")
    params = spec.parse({"severity": "HIGH", "ack-timeout": "500ms"})
    assert params["severity"] == "high" and params["ack-timeout"] == 0.5
    assert params["alert-id"] is None and params["poll-interval"] == 1.0
    assert [parse_duration(t) for t in ("2m", "1.5", "1h")] == [120.0, 1.5, 3600.0]
    for bad in ("0s", "-1", "soon", ""):
        with pytest.raises(ValueError):
            parse_duration(bad)
