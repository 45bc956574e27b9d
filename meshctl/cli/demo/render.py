"""The demo's report as text for people: one titled block per step, then the verdict.

Pure: the report dict in, text out (tables through ``meshctl.cli.output.render``,
coloured only when asked). ``-o json`` prints the dict itself instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from meshctl.cli.output import Column, format_cell, render

STEP_COLUMNS = (
    Column("camera_id", "CAMERA"),
    Column("name", "STEP"),
    Column("call"),
    Column("outcome"),
    Column("endpoint"),
    Column("duration_ms", "MS"),
)
PHASE_COLUMNS = (
    Column("phase"),
    Column("calls"),
    Column("ok"),
    Column("failed"),
    Column("served_by", "SERVED BY"),
    Column("victim_breaker", "VICTIM BREAKER"),
)
EVENT_COLUMNS = (Column("occurred_at", "TIME"), Column("event_type", "TYPE"), Column("source"))


def _title(n: int, text: str, section: Mapping[str, Any]) -> str:
    verdict = "ok" if section["ok"] else "FAILED"
    line = f"{n}. {text} [{verdict}]"
    if section.get("error"):
        line += f"\n   {section['error']}"
    return line


def _workflows(section: Mapping[str, Any], color: bool) -> list[str]:
    runs = section.get("runs") or []
    rows = [{**step, "camera_id": run["camera_id"]} for run in runs for step in run["steps"]]
    lines = [render(rows, "table", columns=STEP_COLUMNS, color=color)] if rows else []
    lines += [
        f"{run['camera_id']}: {run['status']}, {run['violations']} violations, "
        f"{run['alerts_sent']} alerts sent, correlation id {run['correlation_id']}"
        for run in runs
    ]
    return lines


def _breaker(section: Mapping[str, Any], color: bool) -> list[str]:
    if "victim" not in section:
        return []
    config = section["config"]
    lines = [
        f"killed analytics {section['victim']['address']} "
        f"(instance {section['victim']['instance_id']}) with SIGKILL; the sibling kept answering",
        f"demo breaker settings: open after {config['failure_threshold']} failures, "
        f"half-open after {config['timeout_duration']:g}s (60s by default), "
        f"closed after {config['success_threshold']} successes",
        render(section["phases"], "table", columns=PHASE_COLUMNS, color=color).rstrip("\n"),
        "victim breaker: "
        + (" → ".join(f"{t['to']} ({t['at_s']:.1f}s)" for t in section["transitions"]) or "-"),
    ]
    return lines


def _loadtest(section: Mapping[str, Any]) -> list[str]:
    if "rps" not in section:
        return []
    lat = section["latency_ms"]
    total = sum(section["endpoints"].values()) or 1
    split = ", ".join(
        f"{instance} {100 * n / total:.0f}%" for instance, n in section["endpoints"].items()
    )
    return [
        f"{section['service']}/{section['method']}: {section['concurrency']} callers, "
        f"{section['duration_s']:g}s",
        f"{section['requests']} requests, {section['failed']} failed, {section['rps']:g} rps",
        f"latency p50 {lat['p50']:.2f} ms, p99 {lat['p99']:.2f} ms, max {lat['max']:.2f} ms",
        f"per endpoint: {split or '-'}",
    ]


def _events(section: Mapping[str, Any], color: bool) -> list[str]:
    if "events" not in section:
        return []
    return [
        f"correlation id {section['correlation_id']}: {section['count']} events, "
        f"{'in order' if section['in_order'] else 'OUT OF ORDER'}",
        render(section["events"], "table", columns=EVENT_COLUMNS, color=color).rstrip("\n"),
    ]


def render_report(report: Mapping[str, Any], *, color: bool = False) -> str:
    """The report as text, ending with a newline."""
    mesh = report["mesh"]
    instances = {
        name: format_cell([ep["address"] for ep in eps])
        for name, eps in mesh.get("instances", {}).items()
    }
    blocks = [
        "\n".join(
            [
                f"mesh: registry {mesh.get('registry')}, broker {mesh.get('broker')}",
                "services: " + ", ".join(f"{k} {v}" for k, v in instances.items()),
                f"alerts delivered to the demo's webhook: {mesh.get('webhook_deliveries', 0)}",
            ]
        ),
        "\n".join(
            [
                _title(1, "Camera-frame workflows", report["workflows"]),
                *_workflows(report["workflows"], color),
            ]
        ),  # fmt: skip
        "\n".join(
            [
                _title(2, "Circuit breaker: crash and recovery", report["breaker"]),
                *_breaker(report["breaker"], color),
            ]
        ),  # fmt: skip
        "\n".join(
            [
                _title(3, "Load test through the mesh", report["loadtest"]),
                *_loadtest(report["loadtest"]),
            ]
        ),  # fmt: skip
        "\n".join(
            [
                _title(4, "Events of one workflow, by correlation id", report["events"]),
                *_events(report["events"], color),
            ]
        ),  # fmt: skip
        f"demo {'succeeded' if report['ok'] else 'FAILED'} in {report['elapsed_s']:.1f}s",
    ]
    return "\n\n".join(block.rstrip("\n") for block in blocks) + "\n"
