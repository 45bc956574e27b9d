"""The demo's report: one JSON-ready section per step, each judged ok or not.

Pure: results in, dicts out. The sections' keys are the ``-o json`` contract
(documented in ``docs/commands.md``); a step that raised becomes a section
with ``ok: false`` and its ``error``, so the report is always complete.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from meshctl.core.breaker import CircuitBreakerConfig
from meshctl.core.endpoint import ServiceEndpoint
from meshctl.events import Event
from meshctl.orchestrator import WorkflowResult

SECTIONS = ("workflows", "breaker", "loadtest", "events")


def failed_section(error: BaseException) -> dict[str, Any]:
    """The section of a step that raised."""
    text = " ".join(str(error).split()) or type(error).__name__
    return {"ok": False, "error": f"{type(error).__name__}: {text}"}


def workflow_run(result: WorkflowResult) -> dict[str, Any]:
    """One camera-frame run: its outcome, steps with endpoints, violations and alerts."""
    output = result.output
    camera = output.get("camera_id")
    return {
        "camera_id": camera,
        "correlation_id": result.correlation_id,
        "status": result.status,
        "detail": result.detail,
        "duration_ms": round(result.duration * 1000, 1),
        "violations": len(output.get("violations") or []),
        "alerts_sent": sum(1 for e in result.events if e.get("event_type") == "alert.sent"),
        "events": [e.get("event_type") for e in result.events],
        "steps": [
            {
                "name": s.name,
                "call": f"{s.service}/{s.method}",
                "outcome": s.outcome,
                "endpoint": s.endpoint,
                "duration_ms": round(s.duration * 1000, 1),
            }
            for s in result.steps
        ],
    }


def workflows_section(results: Sequence[WorkflowResult]) -> dict[str, Any]:
    """Every run; ok when each one completed."""
    runs = [workflow_run(r) for r in results]
    return {
        "ok": bool(runs) and all(r["status"] == "completed" for r in runs),
        "runs": runs,
        "violations": sum(r["violations"] for r in runs),
        "alerts_sent": sum(r["alerts_sent"] for r in runs),
    }


@dataclass(slots=True)
class CallTally:
    """Calls of one phase of the breaker story: how many, how they went, who answered."""

    calls: int = 0
    ok: int = 0
    failed: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    served_by: dict[str, int] = field(default_factory=dict)

    def record(self, instance_id: str | None, error: str | None = None) -> None:
        self.calls += 1
        if error is None:
            self.ok += 1
        else:
            self.failed += 1
            self.errors[error] = self.errors.get(error, 0) + 1
        if instance_id is not None:
            self.served_by[instance_id] = self.served_by.get(instance_id, 0) + 1

    def to_dict(self, phase: str, breaker: str) -> dict[str, Any]:
        return {
            "phase": phase,
            "calls": self.calls,
            "ok": self.ok,
            "failed": self.failed,
            "errors": dict(sorted(self.errors.items())),
            "served_by": dict(sorted(self.served_by.items())),
            "victim_breaker": breaker,
        }


def endpoint_ref(endpoint: ServiceEndpoint) -> dict[str, str]:
    return {"instance_id": endpoint.instance_id, "address": endpoint.address}


def breaker_section(
    config: CircuitBreakerConfig,
    victim: ServiceEndpoint,
    restarted: ServiceEndpoint | None,
    phases: Sequence[dict[str, Any]],
    transitions: Sequence[Mapping[str, Any]],
) -> dict[str, Any]:
    """The breaker story; ok when the victim's breaker opened, closed again and no call failed.

    ``transitions`` are the victim endpoint breaker's changes, in order.
    """
    states = [t["to"] for t in transitions]
    opened = "open" in states
    closed_again = opened and states[-1] == "closed" and "half_open" in states
    failed = sum(p["failed"] for p in phases)
    return {
        "ok": opened and closed_again and failed == 0,
        "config": {
            "failure_threshold": config.failure_threshold,
            "timeout_duration": config.timeout_duration,
            "success_threshold": config.success_threshold,
        },
        "victim": endpoint_ref(victim),
        "restarted": endpoint_ref(restarted) if restarted is not None else None,
        "opened": opened,
        "closed_again": closed_again,
        "failed_calls": failed,
        "phases": list(phases),
        "transitions": [dict(t) for t in transitions],
    }


def loadtest_section(
    summary: Mapping[str, Any], *, service: str, method: str, concurrency: int, duration: float
) -> dict[str, Any]:
    """A load test's headline figures; ok when requests went through with no error."""
    latency = summary["latency_ms"]
    return {
        "ok": summary["ok"] > 0 and summary["failed"] == 0 and summary["not_started"] == 0,
        "service": service,
        "method": method,
        "concurrency": concurrency,
        "duration_s": duration,
        "requests": summary["requests"],
        "failed": summary["failed"],
        "rps": summary["rps"],
        "latency_ms": {k: round(latency[k], 3) for k in ("p50", "p90", "p99", "max")},
        "endpoints": dict(summary["endpoints"]),
    }


def is_subsequence(wanted: Iterable[str], seen: Iterable[str]) -> bool:
    """Whether ``wanted`` appears in ``seen`` in the same order (gaps allowed)."""
    rest = iter(seen)
    return all(any(item == s for s in rest) for item in wanted)


def events_section(
    correlation_id: str, events: Sequence[Event], published: Sequence[str]
) -> dict[str, Any]:
    """One run's events read back from the bus; ok when all arrived, in publishing order."""
    rows = [
        {
            "event_type": e.event_type,
            "source": e.source,
            "occurred_at": e.occurred_at.isoformat(),
            "topic": e.topic,
            "offset": e.offset,
        }
        for e in events
    ]
    stamps = [e.occurred_at for e in events]
    types = [e.event_type for e in events]
    in_order = stamps == sorted(stamps) and is_subsequence(published, types)
    return {
        "ok": bool(rows) and in_order and not any(e.malformed for e in events),
        "correlation_id": correlation_id,
        "count": len(rows),
        "published": list(published),
        "in_order": in_order,
        "events": rows,
    }


def build_report(
    sections: Mapping[str, dict[str, Any]],
    *,
    mesh: Mapping[str, Any],
    elapsed: float,
) -> dict[str, Any]:
    """The whole report; ``ok`` when every step's section is ok (a missing one is not)."""
    complete = {name: sections.get(name) or {"ok": False, "error": "not run"} for name in SECTIONS}
    return {
        "ok": all(section["ok"] for section in complete.values()),
        "elapsed_s": round(elapsed, 2),
        "mesh": dict(mesh),
        **complete,
    }
