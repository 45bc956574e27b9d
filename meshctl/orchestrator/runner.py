"""Drive a flow against a mesh client: execute what it yields, time it, record every step."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from meshctl.core.context import CorrelationContext, use_context
from meshctl.errors import MeshError
from meshctl.orchestrator.model import (
    Call,
    Command,
    Concurrently,
    Flow,
    Now,
    Outcome,
    Publish,
    Record,
    Reply,
    Sleep,
    StepResult,
    WorkflowResult,
)

if TYPE_CHECKING:
    from meshctl.events import Event
    from meshctl.mesh import ServiceMeshClient

StepListener = Callable[[StepResult], None]


def describe_error(exc: MeshError) -> str:
    """The error as one line."""
    return " ".join(str(exc).split()) or type(exc).__name__


def failed_step(
    name: str, service: str, method: str, exc: MeshError, duration: float
) -> StepResult:
    """A step that ended in ``exc``."""
    return StepResult(
        name,
        service,
        method,
        "failed",
        duration=duration,
        error=describe_error(exc),
        error_kind=type(exc).__name__,
        exit_code=exc.exit_code,
    )


def event_summary(event: Event) -> dict[str, Any]:
    """An event as a run's result lists it; ``spooled`` when the broker did not take it yet."""
    return {
        "event_type": event.event_type,
        "event_id": event.event_id,
        "correlation_id": event.correlation_id,
        "occurred_at": event.occurred_at.isoformat(),
        "topic": event.topic,
        "spooled": event.topic is not None and event.offset is None,
    }


class FlowRunner:
    """Executes one flow's commands through ``mesh`` under one correlation context.

    Args:
        mesh: a started mesh client (with an event bus for ``Publish``).
        call_timeout: seconds each call may take, retries included.
        on_step: told about every step as soon as it is recorded.
        clock: monotonic seconds, for durations and ``Now``.
        wall: unix seconds, for the result's start and finish times.
        sleep: what ``Sleep`` awaits.
    """

    def __init__(
        self,
        mesh: ServiceMeshClient,
        *,
        call_timeout: float = 10.0,
        on_step: StepListener | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.mesh = mesh
        self.call_timeout = call_timeout
        self.on_step = on_step
        self.clock = clock
        self.wall = wall
        self.sleep = sleep

    async def run(self, workflow: str, flow: Flow, ctx: CorrelationContext) -> WorkflowResult:
        """Run ``flow`` to its end; MeshErrors become failed steps, never exceptions."""
        steps: list[StepResult] = []
        events: list[dict[str, Any]] = []
        started_at, started = self.wall(), self.clock()
        value: Any = None
        with use_context(ctx):
            while True:
                try:
                    command = flow.send(value)
                except StopIteration as stop:
                    outcome: Outcome = stop.value
                    break
                except MeshError as exc:  # a flow refusing what it was given
                    outcome = Outcome("failed", f"failed: {describe_error(exc)}")
                    break
                value = await self._execute(command, ctx, steps, events)
        if outcome.status == "completed" and any(s.service == "events" for s in steps):
            outcome = Outcome("degraded", "degraded: events not published", outcome.output)
        return WorkflowResult(
            workflow=workflow,
            correlation_id=ctx.correlation_id,
            trace_id=ctx.trace_id,
            status=outcome.status,
            detail=outcome.detail,
            started_at=started_at,
            finished_at=self.wall(),
            duration=self.clock() - started,
            steps=steps,
            events=events,
            output=outcome.output,
        )

    async def _execute(
        self,
        command: Command,
        ctx: CorrelationContext,
        steps: list[StepResult],
        events: list[dict[str, Any]],
    ) -> Any:
        if isinstance(command, Call):
            reply = await self._call(command, ctx)
            self._record(steps, reply.step, command.quiet)
            return reply
        if isinstance(command, Concurrently):
            replies = await asyncio.gather(*(self._call(c, ctx) for c in command.calls))
            for call, reply in zip(command.calls, replies, strict=True):
                self._record(steps, reply.step, call.quiet)
            return tuple(replies)
        if isinstance(command, Publish):
            return await self._publish(command, ctx, steps, events)
        if isinstance(command, Sleep):
            await self.sleep(command.seconds)
            return None
        if isinstance(command, Now):
            return self.clock()
        if isinstance(command, Record):
            self._record(steps, command.step, quiet=False)
            return None
        raise TypeError(f"a flow yielded {command!r}, which is no command")

    def _record(self, steps: list[StepResult], step: StepResult, quiet: bool) -> None:
        if quiet and step.outcome == "ok":
            return
        steps.append(step)
        if self.on_step is not None:
            self.on_step(step)

    async def _call(self, call: Call, ctx: CorrelationContext) -> Reply:
        started = self.clock()
        try:
            result = await self.mesh.call(
                call.service,
                call.method,
                dict(call.request),
                timeout=self.call_timeout,
                correlation_context=ctx,
                key=call.key,
            )
        except MeshError as exc:
            step = failed_step(call.step, call.service, call.method, exc, self.clock() - started)
            return Reply(step, None)
        verdict = call.judge(result.data)
        step = StepResult(
            call.step,
            call.service,
            call.method,
            verdict.outcome,
            duration=result.latency,
            endpoint=result.endpoint.address,
            instance_id=result.endpoint.instance_id,
            error=verdict.error,
            attempts=result.attempts,
            summary=verdict.summary,
        )
        return Reply(step, result.data)

    async def _publish(
        self,
        command: Publish,
        ctx: CorrelationContext,
        steps: list[StepResult],
        events: list[dict[str, Any]],
    ) -> Event | None:
        started = self.clock()
        try:
            event = await self.mesh.publish_event(command.event_type, dict(command.data), ctx)
        except MeshError as exc:
            name = f"publish {command.event_type}"
            duration = self.clock() - started
            self._record(
                steps, failed_step(name, "events", command.event_type, exc, duration), False
            )
            return None
        events.append(event_summary(event))
        return event
