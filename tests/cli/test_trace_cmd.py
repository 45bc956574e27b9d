"""``meshctl trace``: stored spans as a waterfall table, JSON and YAML; unknown ids; exit codes."""

from __future__ import annotations

import json

import pytest
import yaml

from meshctl.cli.trace import render_trace
from meshctl.core.spans import SpanRecord
from meshctl.registry.spanstore import SpanStore
from tests.cli.conftest import invoke

MS = 1_000_000
T0 = 1_700_000_000_000 * MS
TRACE = "ab" * 16


def span(span_id: str, parent: str | None, name: str, kind: str, service: str, start: float,
         ms: float, **extra) -> SpanRecord:  # fmt: skip
    return SpanRecord(
        trace_id=TRACE,
        span_id=span_id * 16,
        parent_id=parent * 16 if parent else None,
        name=name,
        kind=kind,
        service=service,
        start_ns=T0 + int(start * MS),
        duration_ns=int(ms * MS),
        correlation_id="corr-7",
        **extra,
    )


RECORDS = [
    span("1", None, "streaming/ProcessDetections", "client", "meshctl", 0, 40,
         attributes={"mesh.endpoint.instance_id": "streaming-1", "mesh.attempts": 1}),
    span("2", "1", "its.v1.StreamingService/ProcessDetections", "server", "streaming", 2, 36),
    span("3", "2", "analytics/ProcessDetections", "client", "streaming", 4, 30,
         status="error", error="UNAVAILABLE"),
    span("4", "2", "frame.processed publish", "producer", "streaming", 35, 2,
         attributes={"messaging.message.id": "ev-1"}),
]  # fmt: skip


def test_the_table_is_the_tree_with_times_and_bars():
    text = render_trace("corr-7", RECORDS, "table")
    lines = text.splitlines()
    assert lines[0].split()[:7] == ["SPAN", "SERVICE", "ENDPOINT", "START", "MS", "MS", "STATUS"]
    assert lines[1].startswith("streaming/ProcessDetections [client]")
    assert lines[2].startswith("  its.v1.StreamingService/ProcessDetections [server]")
    assert lines[3].startswith("    analytics/ProcessDetections [client]")
    assert "error: UNAVAILABLE" in lines[3] and "streaming-1" in lines[1]
    assert lines[1].endswith("█" * 32)  # the root spans the whole trace
    assert lines[4].split()[-1] == "██"  # 2 ms of 40 in 32 columns: 1.6, rounded
    assert lines[-2] == "trace corr-7: 4 span(s), 40.0 ms"
    assert lines[-1] == "events: frame.processed (streaming)"


def test_json_and_yaml_hold_every_span_in_waterfall_order():
    data = json.loads(render_trace("corr-7", RECORDS, "json"))
    assert data["trace_ids"] == [TRACE] and data["duration_ms"] == 40
    assert [(s["span_id"][0], s["depth"]) for s in data["spans"]] == [
        ("1", 0), ("2", 1), ("3", 2), ("4", 2),
    ]  # fmt: skip
    assert data["spans"][2]["offset_ms"] == 4 and data["spans"][2]["status"] == "error"
    assert data["spans"][0]["endpoint"] == "streaming-1"
    assert data["events"] == [
        {"event_type": "frame.processed", "service": "streaming", "event_id": "ev-1",
         "status": "ok"},
    ]  # fmt: skip
    assert yaml.safe_load(render_trace("corr-7", RECORDS, "yaml")) == data


@pytest.mark.redis
async def test_trace_reads_the_store_by_correlation_or_trace_id(meshctl, redis_url, key_prefix):
    async with SpanStore(redis_url, key_prefix) as store:
        for record in RECORDS:
            store.add(record)

    table = await invoke(meshctl, "trace", "corr-7")
    assert table.exit_code == 0, table.output
    assert table.stdout == render_trace("corr-7", RECORDS, "table")
    by_trace = await invoke(meshctl, "trace", TRACE, "-o", "json")
    assert by_trace.exit_code == 0, by_trace.output
    assert len(json.loads(by_trace.stdout)["spans"]) == 4


@pytest.mark.redis
async def test_an_unknown_id_exits_1_with_one_line(meshctl):
    result = await invoke(meshctl, "trace", "no-such-request", "--wait", "0.3")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == "error: no spans kept for no-such-request"
    assert "Traceback" not in result.output


def test_an_unreachable_registry_exits_3(meshctl_without_redis):
    result = meshctl_without_redis("trace", "corr-7")
    assert result.exit_code == 3
    assert result.stderr.startswith("error: Cannot reach the registry at redis://127.0.0.1:")


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (("trace", " "), "error: CORRELATION_ID must not be empty"),
        (("trace", "c", "--wait", "-1"), "error: invalid --wait -1: must not be negative"),
        (("trace", "c\x01"), "error: invalid CORRELATION_ID: '\\x01' is not allowed"),
    ],
)
def test_bad_input_exits_2(meshctl_without_redis, args, error):
    result = meshctl_without_redis(*args)
    assert result.exit_code == 2
    assert result.stderr.startswith(error)


@pytest.mark.kafka
async def test_call_trace_prints_the_waterfall_from_the_commands_own_span(platform, cli):
    await platform.start("analytics")

    result = await invoke(
        cli, "call", "analytics", "GetTrafficMetrics", "--correlation-id", "corr-call",
        "--trace", "--trace-wait", "3",
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    assert "metrics" in json.loads(result.stdout)
    lines = result.stderr.splitlines()
    assert lines[0] == "trace corr-call: 0 event(s)"
    assert lines[1].startswith("SPAN")
    assert lines[2].startswith("analytics/GetTrafficMetrics [client]")
    assert lines[2].split()[2] == "meshctl"
    assert lines[3].startswith("  its.v1.AnalyticsService/GetTrafficMetrics [server]")
    assert lines[-1].startswith("trace corr-call: 2 span(s)")


@pytest.mark.kafka
async def test_a_workflow_run_is_traced_through_every_service(platform, cli):
    for name in ("analytics", "streaming", "alert"):
        await platform.start(name)

    ran = await invoke(cli, "workflow", "run", "camera-frame", "-o", "json", "--trace")
    assert ran.exit_code == 0, ran.output
    run = json.loads(ran.stdout)
    assert "workflow camera-frame [internal]" in ran.stderr

    shown = await invoke(cli, "trace", run["correlation_id"], "-o", "json", "--wait", "3")
    assert shown.exit_code == 0, shown.output
    trace = json.loads(shown.stdout)
    assert trace["trace_ids"] == [run["trace_id"]]
    spans = {(s["service"], s["name"]): s for s in trace["spans"]}
    root = spans[("meshctl-workflow", "workflow camera-frame")]
    assert root["depth"] == 0 and root["parent_id"] is None
    assert {service for service, _ in spans} >= {"streaming", "analytics", "alert"}
    streaming = spans[("streaming", "its.v1.StreamingService/ProcessDetections")]
    forwarded = spans[("streaming", "analytics/ProcessDetections")]
    analytics = spans[("analytics", "its.v1.AnalyticsService/ProcessDetections")]
    assert forwarded["parent_id"] == streaming["span_id"]
    assert analytics["parent_id"] == forwarded["span_id"]
    assert spans[("alert", "its.v1.AlertService/ProcessViolationAlert")]["depth"] == 2
    published = [e["event_type"] for e in trace["events"]]
    assert published == ["frame.processed", "violation.detected", "alert.sent"]
    assert [e["event_id"] for e in trace["events"]] == [e["event_id"] for e in run["events"]]
