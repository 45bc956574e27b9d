"""ServiceOrchestrator: run the platform's workflows through a mesh client."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from opentelemetry.trace import SpanKind

from meshctl.core.context import CorrelationContext, current_context
from meshctl.orchestrator.camera_frame import CAMERA_FRAME, camera_frame_flow
from meshctl.orchestrator.escalation import (
    ALERT_ESCALATION,
    EscalationPolicy,
    alert_escalation_flow,
)
from meshctl.orchestrator.model import Flow, WorkflowResult
from meshctl.orchestrator.registry import get_workflow
from meshctl.orchestrator.runner import FlowRunner, StepListener
from meshctl.transport.tracing import PROCESS_TRACING, SERVICE, end_span, start_span

if TYPE_CHECKING:
    from meshctl.mesh import ServiceMeshClient


class ServiceOrchestrator:
    """Runs multi-service workflows; every run is one correlation id and one result.

    Args:
        mesh: a started mesh client; its event bus receives the workflows' events.
        call_timeout: seconds each service call may take, retries included.
        escalation: timings and tiers of ``alert_escalation_workflow``.
        clock: monotonic seconds (durations, acknowledgement deadlines).
        sleep: what waiting between acknowledgement polls awaits.
    """

    def __init__(
        self,
        mesh: ServiceMeshClient,
        *,
        call_timeout: float = 10.0,
        escalation: EscalationPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.mesh = mesh
        self.call_timeout = call_timeout
        self.escalation = escalation or EscalationPolicy()
        self._clock = clock
        self._sleep = sleep

    async def process_camera_frame_workflow(
        self,
        camera_id: str,
        frame_data: Mapping[str, Any],
        correlation_context: CorrelationContext | None = None,
        *,
        on_step: StepListener | None = None,
    ) -> WorkflowResult:
        """Streaming → analytics → alerts for one frame, with frame/violation/alert events.

        Args:
            camera_id: the camera the frame comes from.
            frame_data: the frame as a dict (an ``its.v1.Frame`` in JSON form).
            correlation_context: the caller's context; default the current one or a new one.
            on_step: told about each step as it completes.

        Returns:
            The run's result; ``degraded`` when streaming could only queue the
            frame or an alert was not delivered, ``failed`` when streaming failed.

        Raises:
            InvalidRequestError: an empty camera id, or a frame of another camera.
        """
        flow = camera_frame_flow(camera_id, frame_data)
        return await self._run(CAMERA_FRAME.name, flow, correlation_context, on_step)

    async def alert_escalation_workflow(
        self,
        alert_id: str | None,
        severity: str | None,
        correlation_context: CorrelationContext | None = None,
        *,
        policy: EscalationPolicy | None = None,
        on_step: StepListener | None = None,
    ) -> WorkflowResult:
        """Deliver, await acknowledgement, retry and escalate an alert tier by tier.

        Args:
            alert_id: the alert to escalate; None raises a new one with SendAlert.
            severity: the starting tier (default: the alert's own, else ``high``).
            correlation_context: the caller's context; default the current one or a new one.
            policy: timings and tiers for this run (default: the orchestrator's).
            on_step: told about each step as it completes.

        Returns:
            The run's result; ``output["final_status"]`` is ``acknowledged``,
            ``escalated`` or ``unacknowledged``.

        Raises:
            InvalidRequestError: an unknown severity.
        """
        flow = alert_escalation_flow(alert_id, severity, policy or self.escalation)
        return await self._run(ALERT_ESCALATION.name, flow, correlation_context, on_step)

    async def run(
        self,
        name: str,
        params: Mapping[str, str],
        correlation_context: CorrelationContext | None = None,
        *,
        on_step: StepListener | None = None,
    ) -> WorkflowResult:
        """Run the registered workflow ``name`` with text parameters (as the CLI gives them).

        Raises:
            InvalidRequestError: an unknown workflow or a bad parameter.
        """
        spec = get_workflow(name)
        flow = spec.build(spec.parse(params))
        return await self._run(spec.name, flow, correlation_context, on_step)

    async def _run(
        self,
        name: str,
        flow: Flow,
        ctx: CorrelationContext | None,
        on_step: StepListener | None,
    ) -> WorkflowResult:
        runner = FlowRunner(
            self.mesh,
            call_timeout=self.call_timeout,
            on_step=on_step,
            clock=self._clock,
            sleep=self._sleep,
        )
        parent = ctx or current_context()
        tracer = PROCESS_TRACING.tracer
        if tracer is None:
            return await runner.run(name, flow, parent or CorrelationContext.new())
        # The run is a span: its steps' calls and events are its children in one tree.
        attributes: dict[str, str | int | bool] = {SERVICE: self.mesh.name}
        span, context = start_span(
            tracer, f"workflow {name}", SpanKind.INTERNAL, parent, attributes
        )
        try:
            result = await runner.run(name, flow, context)
        except BaseException as exc:
            end_span(span, exc)
            raise
        span.set_attribute("mesh.workflow.status", result.status)
        end_span(span, None if result.status == "completed" else f"workflow {result.status}")
        return result
