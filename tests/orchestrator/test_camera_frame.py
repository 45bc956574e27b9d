"""The camera-frame workflow against the real services, Redis and the Kafka broker."""

from __future__ import annotations

import pytest

from meshctl.mesh import ServiceMeshClient
from meshctl.orchestrator import ServiceOrchestrator
from meshctl.samples import sample_frame
from meshctl.testing import Platform, WebhookReceiver

from .conftest import events_of

pytestmark = pytest.mark.kafka


async def start_all(platform: Platform, *names: str) -> dict[str, int]:
    return {name: await platform.start(name) for name in names}


async def test_a_frame_with_a_violation_runs_every_step_under_one_correlation_id(
    platform: Platform,
    kafka_mesh: ServiceMeshClient,
    orchestrator: ServiceOrchestrator,
    webhook: WebhookReceiver,
):
    ports = await start_all(platform, "analytics", "streaming", "alert")
    result = await orchestrator.process_camera_frame_workflow("cam007", sample_frame("cam007"))

    assert result.status == "completed", result.to_dict()
    assert [(s.service, s.method, s.outcome) for s in result.steps] == [
        ("streaming", "ProcessDetections", "ok"),
        ("alert", "ProcessViolationAlert", "ok"),
    ]
    ingest, alert = result.steps
    assert ingest.endpoint == f"127.0.0.1:{ports['streaming']}" and ingest.instance_id
    assert alert.endpoint == f"127.0.0.1:{ports['alert']}"
    assert ingest.summary["violations"] == 1 and alert.summary["sent"] == ["webhook"]
    assert result.output["alerts"] == [alert.summary["alert_id"]]
    (received,) = await webhook.wait_for(1)
    assert received.headers["x-correlation-id"] == result.correlation_id

    events = await events_of(kafka_mesh, result.correlation_id)
    assert [e.event_type for e in events] == ["frame.processed", "violation.detected", "alert.sent"]
    assert {e.correlation_id for e in events} == {result.correlation_id}
    assert {e.trace_id for e in events} == {result.trace_id}
    assert events[0].data["frame_id"] == result.output["frame_id"]
    assert events[1].data["violation_id"] == result.output["violations"][0]
    assert events[2].data["alert_id"] == alert.summary["alert_id"]
    assert [e["event_type"] for e in result.events] == [e.event_type for e in events]
    json_form = result.to_dict()
    assert json_form["status"] == "completed" and len(json_form["steps"]) == 2


async def test_a_frame_without_violations_raises_no_alert(
    platform: Platform, kafka_mesh: ServiceMeshClient, orchestrator: ServiceOrchestrator
):
    await start_all(platform, "analytics", "streaming", "alert")
    frame = sample_frame("cam002", speed_kmh=30.0)
    result = await orchestrator.process_camera_frame_workflow("cam002", frame)

    assert result.status == "completed" and result.detail == "no violations"
    assert [s.method for s in result.steps] == ["ProcessDetections"]
    events = await events_of(kafka_mesh, result.correlation_id)
    assert [e.event_type for e in events] == ["frame.processed"]
    assert events[0].data["violations"] == 0


async def test_analytics_down_leaves_the_frame_queued_and_the_run_degraded(
    platform: Platform, kafka_mesh: ServiceMeshClient, orchestrator: ServiceOrchestrator
):
    ports = await start_all(platform, "analytics", "streaming", "alert")
    await platform.stop(ports["analytics"])
    result = await orchestrator.process_camera_frame_workflow("cam001", sample_frame())

    assert result.status == "degraded"
    assert result.detail == "degraded: frame queued in streaming"
    (ingest,) = result.steps
    assert ingest.outcome == "degraded" and ingest.summary["status"] == "queued"
    assert ingest.error and "analytics" in ingest.error
    assert result.events == [] and result.exit_code == 1
    assert await events_of(kafka_mesh, result.correlation_id) == []


async def test_an_alert_the_webhook_refuses_fails_its_step_and_publishes_alert_failed(
    platform: Platform,
    kafka_mesh: ServiceMeshClient,
    orchestrator: ServiceOrchestrator,
    webhook: WebhookReceiver,
):
    webhook.status = 500
    await start_all(platform, "analytics", "streaming", "alert")
    result = await orchestrator.process_camera_frame_workflow("cam003", sample_frame("cam003"))

    assert result.status == "degraded"
    assert result.detail == "degraded: 1 of 1 alerts not delivered"
    alert = result.steps[-1]
    assert alert.outcome == "failed" and alert.summary["failed"] == ["webhook"]
    assert alert.error is not None and "HTTP 500" in alert.error
    events = await events_of(kafka_mesh, result.correlation_id)
    assert [e.event_type for e in events] == [
        "frame.processed",
        "violation.detected",
        "alert.failed",
    ]
    assert "HTTP 500" in events[-1].data["error"]


async def test_streaming_missing_fails_the_run_with_the_error_text(
    platform: Platform, orchestrator: ServiceOrchestrator
):
    result = await orchestrator.process_camera_frame_workflow("cam001", sample_frame())

    assert result.status == "failed"
    (step,) = result.steps
    assert step.outcome == "failed" and step.error_kind == "NoEndpointsError"
    assert result.detail == "failed: streaming: No endpoints found for service streaming"
