"""What workflows are made of: the commands a flow yields and the results it gets back.

A flow is a generator. It yields a command (call a service, call several at
once, publish an event, sleep, read the clock) and is sent the command's
result; it returns an :class:`Outcome`. The flow holds the workflow's
rules and does no I/O, so it can be stepped by hand in tests; the runner in
``runner.py`` drives it against a real mesh.

    Call          → Reply               one service call, recorded as a step
    Concurrently  → tuple[Reply, ...]   several calls at once, in order
    Publish       → Event | None        None when the event could not be published
    Sleep         → None
    Now           → float               the runner's monotonic clock
    Record        → None                a step the flow judged itself (a wait)
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

StepOutcome = Literal["ok", "failed", "skipped", "degraded"]
WorkflowStatus = Literal["completed", "degraded", "failed"]


@dataclass(frozen=True, slots=True)
class Verdict:
    """How a flow judges a reply: the step's outcome, a short summary, and why if not ok."""

    outcome: StepOutcome = "ok"
    summary: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


def accept(data: Mapping[str, Any]) -> Verdict:
    """The default judgement: an answer is a success."""
    return Verdict()


@dataclass(frozen=True, slots=True)
class Call:
    """Call ``service``/``method``; ``judge`` turns the reply into the step's verdict."""

    step: str
    service: str
    method: str
    request: Mapping[str, Any]
    key: str | None = None
    judge: Callable[[Mapping[str, Any]], Verdict] = accept
    quiet: bool = False  # a poll: not a step of its own, the flow records a summary


@dataclass(frozen=True, slots=True)
class Concurrently:
    """Run ``calls`` at the same time; the flow receives their replies in the same order."""

    calls: tuple[Call, ...]


@dataclass(frozen=True, slots=True)
class Publish:
    """Publish an event under the workflow's correlation context."""

    event_type: str
    data: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Sleep:
    seconds: float


@dataclass(frozen=True, slots=True)
class Now:
    """Ask for the runner's monotonic clock."""


@dataclass(slots=True)
class StepResult:
    """One step of a run: what was called, where, how long it took and how it went."""

    name: str
    service: str
    method: str
    outcome: StepOutcome
    duration: float = 0.0
    endpoint: str | None = None  # host:port
    instance_id: str | None = None
    error: str | None = None
    error_kind: str | None = None  # the MeshError class name, e.g. "NoEndpointsError"
    exit_code: int | None = None  # the error's CLI exit code (3: infrastructure)
    attempts: int = 0
    summary: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "service": self.service,
            "method": self.method,
            "outcome": self.outcome,
            "duration": round(self.duration, 6),
            "endpoint": self.endpoint,
            "instance_id": self.instance_id,
            "error": self.error,
            "error_kind": self.error_kind,
            "attempts": self.attempts,
            "summary": self.summary,
        }


@dataclass(frozen=True, slots=True)
class Record:
    """A step the flow judged itself, such as a wait made of several quiet polls."""

    step: StepResult


@dataclass(frozen=True, slots=True)
class Reply:
    """What a call gave back: its step and the reply (None when the call failed)."""

    step: StepResult
    data: Mapping[str, Any] | None

    @property
    def ok(self) -> bool:
        return self.data is not None


@dataclass(frozen=True, slots=True)
class Outcome:
    """How a flow ended: the workflow's status, one line saying why, and its output."""

    status: WorkflowStatus
    detail: str = ""
    output: dict[str, Any] = field(default_factory=dict)


Command = Call | Concurrently | Publish | Sleep | Now | Record
Flow = Generator[Command, Any, Outcome]


@dataclass(slots=True)
class WorkflowResult:
    """The structured result of one run, ready for JSON with :meth:`to_dict`."""

    workflow: str
    correlation_id: str
    trace_id: str
    status: WorkflowStatus
    detail: str
    started_at: float  # unix seconds
    finished_at: float
    duration: float
    steps: list[StepResult]
    events: list[dict[str, Any]]
    output: dict[str, Any] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        """0 completed; 3 when a step failed for unreachable infrastructure; else 1."""
        if self.status == "completed":
            return 0
        if any(step.exit_code == 3 for step in self.steps):
            return 3
        return 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "workflow": self.workflow,
            "correlation_id": self.correlation_id,
            "trace_id": self.trace_id,
            "status": self.status,
            "detail": self.detail,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "duration": round(self.duration, 6),
            "steps": [step.to_dict() for step in self.steps],
            "events": self.events,
            "output": self.output,
        }
