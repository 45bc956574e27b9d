"""The runner with a stand-in mesh: errors become steps, unpublished events degrade a run."""

from __future__ import annotations

from typing import Any

from meshctl.core.context import CorrelationContext
from meshctl.errors import BrokerUnavailableError, RegistryUnavailableError
from meshctl.orchestrator.model import Call, Flow, Outcome, Publish, StepResult
from meshctl.orchestrator.runner import FlowRunner


class StandInMesh:
    """Fails every call and every publish with the given errors."""

    def __init__(self, call_error: Exception, publish_error: Exception) -> None:
        self.call_error = call_error
        self.publish_error = publish_error

    async def call(self, *args: Any, **kwargs: Any) -> Any:
        raise self.call_error

    async def publish_event(self, *args: Any, **kwargs: Any) -> Any:
        raise self.publish_error


def flow() -> Flow:
    answer = yield Call("ask", "svc", "Ask", {})
    event = yield Publish("frame.processed", {})
    assert answer.data is None and event is None
    return Outcome("completed", "done")


async def test_errors_become_steps_and_the_worst_exit_code_wins():
    mesh = StandInMesh(RegistryUnavailableError("redis down"), BrokerUnavailableError("no kafka"))
    seen: list[StepResult] = []
    runner = FlowRunner(mesh, on_step=seen.append)  # type: ignore[arg-type]
    ctx = CorrelationContext.new("corr-1")
    result = await runner.run("test", flow(), ctx)

    assert result.status == "degraded" and result.detail == "degraded: events not published"
    assert [(s.name, s.outcome, s.error) for s in result.steps] == [
        ("ask", "failed", "redis down"),
        ("publish frame.processed", "failed", "no kafka"),
    ]
    assert seen == result.steps and result.exit_code == 3
    assert result.correlation_id == "corr-1" and result.events == []
