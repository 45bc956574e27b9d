"""``meshctl demo``: the whole story as a real subprocess, and its pure report and rendering."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis

from meshctl.cli.demo.mesh import bound_port
from meshctl.cli.demo.render import render_report
from meshctl.cli.demo.report import (
    CallTally,
    breaker_section,
    build_report,
    events_section,
    failed_section,
    is_subsequence,
)
from meshctl.core.breaker import CircuitBreakerConfig
from meshctl.core.endpoint import ServiceEndpoint
from meshctl.events import Event

DEMO_TIMEOUT = 110


def processes_mentioning(text: str) -> list[str]:
    """Command lines of live processes that contain ``text``."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in args and str(os.getpid()) != cmdline.parent.name:
            found.append(args)
    return found


def run_demo(tmp_path: Path, prefix: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MESH_")}
    env.update(
        XDG_STATE_HOME=str(tmp_path / "state"),
        MESH_REDIS_URL=os.environ.get("MESH_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"),
        MESH_PREFIX=prefix,
    )
    env.pop("NO_COLOR", None)  # colour must stay off because stdout is a pipe
    return subprocess.run(
        [sys.executable, "-m", "meshctl", "demo", *args],
        env=env, capture_output=True, text=True, timeout=DEMO_TIMEOUT,
    )  # fmt: skip


@pytest.mark.redis
@pytest.mark.kafka
def test_demo_json_report_tells_the_whole_story_and_leaves_nothing(
    tmp_path: Path, key_prefix: str, redis_url: str
):
    done = run_demo(tmp_path, key_prefix, "-o", "json", "--cameras", "2")
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["ok"] is True
    assert 0 < report["elapsed_s"] < 60

    workflows = report["workflows"]
    assert [r["camera_id"] for r in workflows["runs"]] == ["cam001", "cam002"]
    for run in workflows["runs"]:
        assert run["status"] == "completed"
        assert run["violations"] >= 1 and run["alerts_sent"] == run["violations"]
        assert [s["call"] for s in run["steps"]][0] == "streaming/ProcessDetections"
        assert all(s["endpoint"] for s in run["steps"])
    assert report["mesh"]["webhook_deliveries"] >= workflows["alerts_sent"]

    breaker = report["breaker"]
    assert breaker["opened"] and breaker["closed_again"] and breaker["failed_calls"] == 0
    states = [t["to"] for t in breaker["transitions"]]
    assert states[0] == "open" and states[-1] == "closed" and "half_open" in states
    crashed, recovered = breaker["phases"]
    assert crashed["victim_breaker"] == "open" and crashed["ok"] == crashed["calls"] > 0
    assert breaker["victim"]["instance_id"] not in crashed["served_by"]  # the sibling answered
    assert recovered["victim_breaker"] == "closed"
    assert breaker["victim"]["instance_id"] in recovered["served_by"]  # trial calls went through

    load = report["loadtest"]
    assert load["rps"] > 0 and load["requests"] > 0 and load["failed"] == 0
    assert 0 < load["latency_ms"]["p50"] <= load["latency_ms"]["p99"]
    assert sum(load["endpoints"].values()) == load["requests"]
    assert breaker["victim"]["instance_id"] not in load["endpoints"]  # its stale record is gone

    events = report["events"]
    assert events["correlation_id"] == workflows["runs"][0]["correlation_id"]
    assert events["in_order"] and events["count"] >= 3
    assert [e["event_type"] for e in events["events"]][:2] == [
        "frame.processed",
        "violation.detected",
    ]
    stamps = [e["occurred_at"] for e in events["events"]]
    assert stamps == sorted(stamps)

    broker_port = report["mesh"]["broker"].split()[0].rsplit(":", 1)[1]
    assert processes_mentioning(key_prefix) == []
    assert processes_mentioning(f"tcp://127.0.0.1:{broker_port}") == []
    client = redis.Redis.from_url(redis_url)
    try:
        assert client.keys(f"{key_prefix}:*") == []
    finally:
        client.close()


@pytest.mark.redis
@pytest.mark.kafka
def test_demo_in_a_pipe_prints_plain_text(tmp_path: Path, key_prefix: str):
    done = run_demo(tmp_path, key_prefix, "--cameras", "1")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "\x1b" not in done.stdout and "\x1b" not in done.stderr
    assert done.stderr == ""  # progress lines are for terminals only
    for title in ("1. Camera-frame workflows [ok]", "2. Circuit breaker", "4. Events"):
        assert title in done.stdout
    assert "demo succeeded in" in done.stdout
    assert processes_mentioning(key_prefix) == []


def test_bad_camera_count_is_a_usage_error(tmp_path: Path, key_prefix: str):
    done = run_demo(tmp_path, key_prefix, "--cameras", "0")
    assert done.returncode == 2
    assert "--cameras" in done.stderr


def endpoint(port: int, instance_id: str) -> ServiceEndpoint:
    return ServiceEndpoint("analytics", "127.0.0.1", port, instance_id=instance_id)


def transitions(*states: str) -> list[dict[str, object]]:
    pairs = zip(("closed", *states), states, strict=False)
    return [{"from": a, "to": b, "at_s": float(i)} for i, (a, b) in enumerate(pairs)]


def test_breaker_story_is_ok_only_when_opened_closed_and_no_call_failed():
    config = CircuitBreakerConfig(failure_threshold=3, timeout_duration=2.0)
    victim, back = endpoint(5001, "v"), endpoint(5001, "r")
    tally = CallTally()
    tally.record("s")
    tally.record("v")
    phase = tally.to_dict("crashed", "open")
    assert phase["served_by"] == {"s": 1, "v": 1} and phase["ok"] == 2
    whole = transitions("open", "half_open", "closed")
    assert breaker_section(config, victim, back, [phase], whole)["ok"] is True
    still_open = breaker_section(config, victim, back, [phase], transitions("open", "half_open"))
    assert still_open["ok"] is False and still_open["opened"] and not still_open["closed_again"]
    never = breaker_section(config, victim, None, [phase], [])
    assert never["ok"] is False and never["restarted"] is None
    tally.record(None, "ConnectionFailedError")
    failing = breaker_section(config, victim, back, [tally.to_dict("crashed", "open")], whole)
    assert failing["ok"] is False and failing["failed_calls"] == 1


def event(event_type: str, at: datetime) -> Event:
    return Event("id", event_type, "demo", at, "cid", "tid", {})


def test_events_must_all_arrive_in_publishing_order():
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    published = ["frame.processed", "violation.detected", "alert.sent"]
    good = [event(t, t0 + timedelta(seconds=i)) for i, t in enumerate(published)]
    assert events_section("cid", good, published)["ok"] is True
    swapped = [good[1], good[0], good[2]]
    assert events_section("cid", swapped, published)["in_order"] is False
    assert events_section("cid", good[:2], published)["ok"] is False
    assert events_section("cid", [], [])["ok"] is False


@pytest.mark.parametrize(
    ("wanted", "seen", "expected"),
    [
        (["a", "b"], ["a", "x", "b"], True),
        (["b", "a"], ["a", "b"], False),
        (["a", "a"], ["a"], False),
        ([], [], True),
    ],
)
def test_is_subsequence(wanted: list[str], seen: list[str], expected: bool):
    assert is_subsequence(wanted, seen) is expected


def test_report_fails_when_a_step_failed_or_is_missing_and_renders_it_plainly():
    sections = {"workflows": {"ok": True, "runs": []}, "breaker": failed_section(OSError("boom"))}
    report = build_report(sections, mesh={"registry": "r", "broker": "b"}, elapsed=1.234)
    assert report["ok"] is False and report["elapsed_s"] == 1.23
    assert report["breaker"]["error"] == "OSError: boom"
    assert report["loadtest"] == {"ok": False, "error": "not run"}
    text = render_report(report)
    assert "2. Circuit breaker: crash and recovery [FAILED]\n   OSError: boom" in text
    assert "3. Load test through the mesh [FAILED]" in text
    assert text.endswith("demo FAILED in 1.2s\n") and "\x1b" not in text


def test_bound_port_reads_the_serve_log_line():
    log = "starting\nanalytics listening on 127.0.0.1:40123\n"
    assert bound_port(log) == 40123
    assert bound_port("nothing here") is None
