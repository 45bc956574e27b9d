"""``meshctl workflow`` against the real services, Redis and the Kafka broker."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from meshctl.cli.workflow import render_result, step_line
from meshctl.orchestrator import StepResult
from meshctl.samples import sample_frame
from meshctl.testing import Platform, WebhookReceiver

from .conftest import Meshctl, invoke


def test_list_shows_every_workflow_with_its_parameters(meshctl: Meshctl):
    table = meshctl("workflow", "list")
    assert table.exit_code == 0
    assert "camera-frame" in table.stdout and "--ack-timeout" in table.stdout
    rows = json.loads(meshctl("workflow", "list", "-o", "json").stdout)
    by_name = {row["name"]: row for row in rows}
    assert [p["name"] for p in by_name["camera-frame"]["parameters"]] == ["camera", "frame"]
    assert yaml.safe_load(meshctl("workflow", "list", "-o", "yaml").stdout) == rows


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope"], "unknown workflow 'nope'"),
        (["camera-frame", "--frame", "{bad"], "invalid --frame: invalid JSON"),
        (["camera-frame", "--frame", "[1]"], "expected a JSON object, not list"),
        (["camera-frame", "--frame", "@/no/such/file"], "cannot read /no/such/file"),
        (["alert-escalation", "--severity", "urgent"], "'urgent' is not one of"),
        (["alert-escalation", "--ack-timeout", "soon"], "not a positive duration"),
        (["alert-escalation", "--colour", "red"], "takes no --colour"),
        (["alert-escalation", "--severity"], "--severity needs a value"),
        (["camera-frame", "stray"], "unexpected argument 'stray'"),
    ],
)
def test_bad_parameters_exit_2_before_connecting(meshctl: Meshctl, args, message):
    result = meshctl("--redis-url", "redis://127.0.0.1:1/0", "workflow", "run", *args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr and "Traceback" not in result.output


def test_unreachable_redis_exits_3(meshctl: Meshctl):
    result = meshctl("--redis-url", "redis://127.0.0.1:1/0", "workflow", "run", "camera-frame")
    assert result.exit_code == 3
    assert "Cannot reach the registry" in result.stdout


@pytest.mark.kafka
async def test_camera_frame_runs_and_prints_the_result_in_every_format(
    platform: Platform, cli: Meshctl, tmp_path: Path
):
    for name in ("analytics", "streaming", "alert"):
        await platform.start(name)
    frame_file = tmp_path / "frame.json"
    frame_file.write_text(json.dumps(sample_frame("cam042")))

    result = await invoke(
        cli, "workflow", "run", "camera-frame", "--frame", f"@{frame_file}", "-o", "json"
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["status"] == "completed" and data["output"]["camera_id"] == "cam042"
    assert [s["method"] for s in data["steps"]] == ["ProcessDetections", "ProcessViolationAlert"]
    assert [e["event_type"] for e in data["events"]] == [
        "frame.processed",
        "violation.detected",
        "alert.sent",
    ]
    assert not any(e["spooled"] for e in data["events"])

    table = await invoke(cli, "workflow", "run", "camera-frame", "--camera=cam043")
    assert table.exit_code == 0, table.output
    assert "streaming/ProcessDetections" in table.stdout
    assert "workflow camera-frame: completed" in table.stdout
    assert table.stderr == ""  # no progress lines in a pipe

    as_yaml = await invoke(cli, "workflow", "run", "camera-frame", "-o", "yaml")
    assert yaml.safe_load(as_yaml.stdout)["workflow"] == "camera-frame"


@pytest.mark.kafka
async def test_short_lived_callers_show_in_what_the_services_served(
    platform: Platform, cli: Meshctl
):
    for name in ("analytics", "streaming", "alert"):
        await platform.start(name)
    for camera in ("cam001", "cam002"):
        ran = await invoke(cli, "workflow", "run", "camera-frame", f"--camera={camera}")
        assert ran.exit_code == 0, ran.output

    async def served(service: str) -> dict[str, Any]:
        """``top --once``'s served view of ``service``, once both runs are reported."""
        async with asyncio.timeout(10):
            while True:
                top = await invoke(cli, "top", "--once", "--interval", "0.05", "-o", "json")
                assert top.exit_code == 0, top.output
                services: list[dict[str, Any]] = json.loads(top.stdout)["services"]
                view = next(s for s in services if s["service"] == service)
                if view["served"]["requests"] >= 2:
                    return view
                await asyncio.sleep(0.2)

    streaming = await served("streaming")
    assert streaming["served"]["methods"]["ProcessDetections"]["requests"] == 2
    assert streaming["instances"][0]["served"]["requests"] == 2
    assert streaming["requests"] == 0  # no long-lived client called it: only the served view knows
    alert = await served("alert")
    assert alert["served"]["methods"]["ProcessViolationAlert"]["requests"] >= 2

    listed = json.loads((await invoke(cli, "services", "list", "-o", "json")).stdout)
    by_name = {row["service"]: row for row in listed}
    assert by_name["streaming"]["served"]["requests"] == 2
    checked = json.loads((await invoke(cli, "check", "-o", "json")).stdout)
    line = next(c for c in checked["checks"] if c["check"] == "service:streaming")
    assert line["served"]["requests"] == 2 and "served 2 requests, 0 failed" in line["detail"]


@pytest.mark.kafka
async def test_a_degraded_run_exits_1(platform: Platform, cli: Meshctl):
    await platform.start("streaming")
    result = await invoke(cli, "workflow", "run", "camera-frame", "-o", "json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["status"] == "degraded" and data["detail"] == "degraded: frame queued in streaming"


@pytest.mark.kafka
async def test_alert_escalation_escalates_an_unacknowledged_alert(
    platform: Platform, cli: Meshctl, webhook: WebhookReceiver
):
    await platform.start("alert")
    args = ["--severity", "high", "--ack-timeout", "100ms", "--poll-interval", "50ms"]
    result = await invoke(cli, "workflow", "run", "alert-escalation", *args, "-o", "json")
    assert result.exit_code == 1, result.output
    data = json.loads(result.stdout)
    assert data["output"]["final_status"] == "escalated"
    assert data["output"]["severity"] == "critical"
    assert [e["event_type"] for e in data["events"]] == ["alert.escalated"]
    assert len(webhook.requests) == 2


def test_a_progress_line_names_the_step_its_endpoint_and_outcome():
    step = StepResult(
        "process detections",
        "streaming",
        "ProcessDetections",
        "degraded",
        duration=0.0125,
        endpoint="127.0.0.1:5001",
        error="analytics unreachable",
    )
    assert step_line(step) == (
        "degraded  process detections  streaming/ProcessDetections @ 127.0.0.1:5001"
        "  12.5ms  analytics unreachable"
    )


RESULT = {
    "workflow": "camera-frame",
    "status": "completed",
    "detail": None,
    "correlation_id": "corr-1",
    "trace_id": "t" * 32,
    "duration": 0.0421,
    "events": [{"event_type": "alert.sent", "spooled": False}],
    "steps": [
        {
            "name": "send alert",
            "service": "alert",
            "method": "ProcessViolationAlert",
            "outcome": "ok",
            "endpoint": "127.0.0.1:5003",
            "duration": 0.0125,
            "error": None,
            "summary": {"deduplicated": False, "failed": [], "sent": ["webhook"]},
        }
    ],
}


def test_the_result_table_reads_without_python_reprs():
    table = render_result(RESULT, "table")
    assert 'deduplicated=no,failed=[],sent=["webhook"]' in table
    assert "False" not in table and "['" not in table
    assert table.splitlines()[-3:] == [
        "workflow camera-frame: completed",
        f"correlation id: corr-1  trace id: {'t' * 32}",
        "duration: 42.1ms  events: alert.sent",
    ]


def test_steps_shown_as_they_ran_are_not_repeated():
    once = render_result(RESULT, "table", steps=False)
    assert once.splitlines()[0] == "workflow camera-frame: completed"
    assert "send alert" not in once and "send alert" in render_result(RESULT, "table")
