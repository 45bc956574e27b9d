"""The alert-escalation workflow, and the GetAlert method it reads acknowledgements with."""

from __future__ import annotations

import asyncio

import pytest

from meshctl.errors import InvalidRequestError, RemoteCallError
from meshctl.mesh import ServiceMeshClient
from meshctl.orchestrator import EscalationPolicy, ServiceOrchestrator
from meshctl.testing import Platform, WebhookReceiver

from .conftest import events_of

pytestmark = pytest.mark.kafka


async def test_get_alert_returns_the_stored_alert_or_not_found(
    platform: Platform, kafka_mesh: ServiceMeshClient
):
    await platform.start("alert")
    request = {"severity": "SEVERITY_LOW", "title": "t", "message": "m"}
    sent = (await kafka_mesh.call_service("alert", "SendAlert", request))["alert"]
    got = await kafka_mesh.call_service("alert", "GetAlert", {"alert_id": sent["alert_id"]})
    assert got["alert"]["alert_id"] == sent["alert_id"]
    assert got["alert"]["status"] == "ALERT_STATUS_OPEN"
    assert got["alert"]["deliveries"][0]["status"] == "DELIVERY_STATUS_SENT"
    with pytest.raises(RemoteCallError, match="NOT_FOUND"):
        await kafka_mesh.call_service("alert", "GetAlert", {"alert_id": "nope"})
    with pytest.raises(RemoteCallError, match="alert_id: required"):
        await kafka_mesh.call_service("alert", "GetAlert", {})


async def test_an_alert_acknowledged_in_time_ends_the_escalation(
    platform: Platform,
    kafka_mesh: ServiceMeshClient,
    orchestrator: ServiceOrchestrator,
    webhook: WebhookReceiver,
):
    await platform.start("alert")
    run = asyncio.create_task(orchestrator.alert_escalation_workflow(None, "low"))
    (delivered,) = await webhook.wait_for(1)
    alert_id = delivered.body["alert_id"]
    ack = {"alert_id": alert_id, "acknowledged_by": "op-7"}
    await kafka_mesh.call_service("alert", "AcknowledgeAlert", ack)
    result = await run

    assert result.status == "completed" and result.detail == "acknowledged by op-7"
    assert result.output["final_status"] == "acknowledged"
    assert result.output["alert_id"] == alert_id and result.output["tier"] == 0
    assert [s.name for s in result.steps] == ["send alert (low)", "await acknowledgement (tier 0)"]
    assert result.steps[1].summary["acknowledged_by"] == "op-7"
    events = await events_of(kafka_mesh, result.correlation_id)
    assert [e.event_type for e in events] == ["alert.acknowledged"]
    assert events[0].data["acknowledged_by"] == "op-7"


async def test_an_unacknowledged_alert_escalates_to_more_channels(
    platform: Platform,
    kafka_mesh: ServiceMeshClient,
    orchestrator: ServiceOrchestrator,
    unused_tcp_port: int,
):
    # E-mail goes to a closed port: the medium tier's e-mail delivery fails and is retried.
    await platform.start("alert", alert_recipients=["ops@example.com"], smtp_port=unused_tcp_port)
    policy = EscalationPolicy(ack_timeout=0.2, poll_interval=0.05, ladder=("low", "medium"))
    result = await orchestrator.alert_escalation_workflow(None, "low", policy=policy)

    assert result.status == "degraded", result.to_dict()
    assert result.output["final_status"] == "escalated" and result.output["tier"] == 1
    assert [(s.name, s.outcome) for s in result.steps] == [
        ("send alert (low)", "ok"),
        ("await acknowledgement (tier 0)", "degraded"),
        ("escalate to medium", "degraded"),
        ("await acknowledgement (tier 1)", "degraded"),
        ("retry failed deliveries (tier 1)", "skipped"),
    ]
    assert result.steps[0].summary["sent"] == ["webhook"]
    assert result.steps[2].summary["sent"] == ["webhook"]
    assert result.steps[2].summary["failed"] == ["email"]
    assert result.steps[1].duration >= 0.2
    events = await events_of(kafka_mesh, result.correlation_id)
    assert [e.event_type for e in events] == ["alert.escalated"]
    escalated = events[0].data
    assert escalated["alert_id"] == result.output["alert_id"] and escalated["tier"] == 1
    assert escalated["severity"] == "medium" and escalated["channels"] == ["webhook", "email"]
    second = await kafka_mesh.call_service(
        "alert", "GetAlert", {"alert_id": escalated["escalation_id"]}
    )
    assert second["alert"]["metadata"] == {"escalation_of": escalated["alert_id"], "tier": "1"}


async def test_an_unknown_severity_is_refused_before_anything_runs(
    orchestrator: ServiceOrchestrator,
):
    with pytest.raises(InvalidRequestError, match="unknown severity 'urgent'"):
        await orchestrator.alert_escalation_workflow(None, "urgent")


async def test_a_missing_alert_fails_the_run(platform: Platform, orchestrator: ServiceOrchestrator):
    await platform.start("alert")
    result = await orchestrator.alert_escalation_workflow("no-such-alert", None)
    assert result.status == "failed" and "NOT_FOUND" in result.detail
    assert result.steps[0].error_kind == "RemoteCallError"
