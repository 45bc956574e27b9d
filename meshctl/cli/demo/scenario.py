"""The demo's story, step by step, against a running demo mesh.

1. camera-frame workflows for a few cameras (streaming → analytics → alert);
2. one analytics instance crashes: its endpoint breaker opens while the
   sibling keeps answering; it comes back and the breaker closes again;
3. a short load test through the mesh;
4. the first workflow's events, tailed back by correlation id.

Each step returns its report section; a step that fails is recorded and the
story goes on, so the report always says how far things got.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from typing import Any

from meshctl.cli.demo.mesh import DemoMesh, Say
from meshctl.cli.demo.report import (
    CallTally,
    breaker_section,
    endpoint_ref,
    events_section,
    failed_section,
    loadtest_section,
    workflows_section,
)
from meshctl.core.balancer import LoadBalancingStrategy
from meshctl.core.breaker import CircuitBreaker, CircuitBreakerConfig, CircuitState
from meshctl.errors import MeshError
from meshctl.mesh import ServiceMeshClient, open_mesh
from meshctl.orchestrator import ServiceOrchestrator, WorkflowResult
from meshctl.samples import sample_frame

# Short enough that open → half-open → closed happens within the demo.
BREAKER = CircuitBreakerConfig(failure_threshold=3, timeout_duration=2.0, success_threshold=2)
PROBE = ("analytics", "GetTrafficMetrics", {"camera_id": "cam001"})
CRASH_CALLS = 12
CALL_GAP = 0.05
RECOVERY_TIMEOUT = 20.0
LOAD_DURATION = 3.0
LOAD_CONCURRENCY = 8


async def run_story(
    mesh: DemoMesh, *, cameras: int, say: Say
) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """Run every step through one mesh client; returns the sections and what the mesh was."""
    client = open_mesh(
        mesh.settings, name="meshctl-demo", registry=mesh.registry, breaker_config=BREAKER
    )
    sections: dict[str, dict[str, Any]] = {}
    results: list[WorkflowResult] = []
    async with client:
        workflows = _workflows(client, cameras, say, results)
        sections["workflows"] = await _step(say, "workflows", workflows)
        sections["breaker"] = await _step(say, "breaker", _breaker(client, mesh, say))
        sections["loadtest"] = await _step(say, "load test", _load(mesh, say))
        sections["events"] = await _step(say, "events", _events(client, results, say))
    info = {
        **mesh.infrastructure,
        "prefix": mesh.settings.prefix,
        "instances": {
            name: [endpoint_ref(ep) for ep in eps] for name, eps in sorted(mesh.endpoints.items())
        },
    }
    return sections, info


async def _step(say: Say, name: str, body: Awaitable[dict[str, Any]]) -> dict[str, Any]:
    """Run one step; an error becomes a failed section instead of ending the demo."""
    try:
        section = await body
    except (MeshError, OSError, TimeoutError) as exc:
        section = failed_section(exc)
    say(f"{name}: {'ok' if section['ok'] else 'FAILED ' + section.get('error', '')}".rstrip())
    return section


async def _workflows(
    client: ServiceMeshClient, cameras: int, say: Say, results: list[WorkflowResult]
) -> dict[str, Any]:
    orchestrator = ServiceOrchestrator(client, call_timeout=10.0)
    for n in range(1, cameras + 1):
        camera = f"cam{n:03d}"
        result = await orchestrator.process_camera_frame_workflow(camera, sample_frame(camera))
        say(f"  {camera}: {result.status} ({result.detail}) in {result.duration * 1000:.0f} ms")
        results.append(result)
    return workflows_section(results)


async def _probe(client: ServiceMeshClient, tally: CallTally) -> None:
    """One analytics call, balanced round robin so the crashed instance keeps its turn."""
    service, method, request = PROBE
    try:
        result = await client.call(
            service, method, request, timeout=5.0, strategy=LoadBalancingStrategy.ROUND_ROBIN
        )
    except MeshError as exc:
        tally.record(None, type(exc).__name__)
    else:
        tally.record(result.endpoint.instance_id)
    await asyncio.sleep(CALL_GAP)


async def _breaker(client: ServiceMeshClient, mesh: DemoMesh, say: Say) -> dict[str, Any]:
    victim = mesh.crash_victim()
    say(f"  killed analytics {victim.address} (SIGKILL: its registry record stays)")
    started = time.monotonic()
    transitions: list[dict[str, Any]] = []

    def watch(
        service: str,
        instance_id: str | None,
        old: CircuitState,
        new: CircuitState,
        _: CircuitBreaker,
    ) -> None:
        if instance_id == victim.instance_id:
            at = round(time.monotonic() - started, 3)
            transitions.append({"from": old.value, "to": new.value, "at_s": at})

    client.breakers.add_listener(watch)

    def state() -> str:
        breaker = client.breakers.peek_endpoint(victim)
        return breaker.state.value if breaker is not None else "closed"

    crashed = CallTally()
    while crashed.calls < CRASH_CALLS or (state() != "open" and crashed.calls < 4 * CRASH_CALLS):
        await _probe(client, crashed)
    phases = [crashed.to_dict("crashed", state())]
    say(f"  {crashed.ok}/{crashed.calls} calls ok; breaker of {victim.address}: {state()}")
    restarted = await mesh.restart_victim()
    say(f"  restarted analytics on {victim.address}; waiting for half-open → closed")
    recovering = CallTally()
    deadline = time.monotonic() + RECOVERY_TIMEOUT
    while state() != "closed" and time.monotonic() < deadline:
        await _probe(client, recovering)
    phases.append(recovering.to_dict("recovered", state()))
    say(f"  {recovering.ok}/{recovering.calls} calls ok; breaker of {victim.address}: {state()}")
    # The crashed instance's record would lapse with its TTL; drop it now for a clean view.
    await mesh.registry.deregister_service("analytics", victim.instance_id)
    return breaker_section(BREAKER, victim, restarted, phases, transitions)


async def _load(mesh: DemoMesh, say: Say) -> dict[str, Any]:
    from meshctl.loadtest.plan import LoadPlan
    from meshctl.loadtest.workers import run_local

    service, method, _ = PROBE
    plan = LoadPlan(
        service=service,
        method=method,
        concurrency=LOAD_CONCURRENCY,
        duration=LOAD_DURATION,
        timeout=5.0,
    )
    say(f"  {LOAD_CONCURRENCY} callers on {service}/{method} for {LOAD_DURATION:g}s")
    result = await run_local(plan, mesh.settings)
    return loadtest_section(
        result.summary(),
        service=service,
        method=method,
        concurrency=LOAD_CONCURRENCY,
        duration=LOAD_DURATION,
    )


async def _events(
    client: ServiceMeshClient, results: list[WorkflowResult], say: Say
) -> dict[str, Any]:
    if not results or client.events is None:
        raise MeshError("no workflow ran, so there are no events to tail")
    first = results[0]
    published = [str(e.get("event_type")) for e in first.events]
    say(f"  tailing correlation id {first.correlation_id}")
    events = [
        event
        async for event in client.events.tail(first.correlation_id, start="beginning", follow=False)
    ]
    return events_section(first.correlation_id, events, published)
