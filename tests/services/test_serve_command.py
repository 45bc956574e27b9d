"""``meshctl serve`` as a real process, and every catalogued service under the host."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from meshctl.catalog import SERVICE_NAMES, builder
from meshctl.registry import ServiceRegistry
from meshctl.testing import served
from tests.support.services import T0, cars, frame, settings

pytestmark = pytest.mark.redis


async def _wait_for(registry: ServiceRegistry, name: str, present: bool) -> list[Any]:
    for _ in range(1500):
        found = await registry.discover_services(name)
        if bool(found) == present:
            return found
        await asyncio.sleep(0.02)
    raise AssertionError(f"{name} {'never registered' if present else 'still registered'}")


@pytest.mark.parametrize(
    "command", [("meshctl", "serve", "analytics"), ("meshctl.services.analytics",)]
)
async def test_serve_registers_and_deregisters_on_sigterm(
    command: tuple[str, ...], redis_client: Any, redis_url: str, key_prefix: str, tmp_path: Path
) -> None:
    """``meshctl serve NAME`` and ``python -m meshctl.services.NAME`` alike."""
    registry = ServiceRegistry(redis_client, prefix=key_prefix)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", *command, "--port", "0",
        "--registry", redis_url, "--prefix", key_prefix,
        "--database-url", f"sqlite:///{tmp_path / 'analytics.db'}",
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        [endpoint] = await _wait_for(registry, "analytics", present=True)
        async with grpc.aio.insecure_channel(endpoint.address) as channel:
            reply = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service="its.v1.AnalyticsService")
            )
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), 30)
        assert process.returncode == 0, stderr.decode()
        assert f"analytics listening on 127.0.0.1:{endpoint.port}" in stderr.decode()
        assert await registry.discover_services("analytics") == []
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


@pytest.mark.parametrize("name", SERVICE_NAMES)
async def test_every_catalogued_service_runs_under_the_host(
    name: str, redis_client: Any, key_prefix: str, tmp_path: Path
) -> None:
    from meshctl.services.host import serve

    registry = ServiceRegistry(redis_client, prefix=key_prefix)
    db = f"sqlite+aiosqlite:///{tmp_path / 'db'}"
    app = builder(name)(settings(db, jwt_secret="s" * 40, admin_password="a-long-password-1"))
    stop = asyncio.Event()
    task = asyncio.create_task(serve(app, registry=registry, stop_event=stop))
    try:
        [endpoint] = await _wait_for(registry, name, present=True)
        if endpoint.protocol == "http":
            path = endpoint.metadata["health_path"]
            async with httpx.AsyncClient() as client:
                reply = await client.get(f"http://{endpoint.address}{path}")
            assert reply.status_code == 200
        else:
            async with grpc.aio.insecure_channel(endpoint.address) as channel:
                check = await health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest()
                )
            assert check.status == health_pb2.HealthCheckResponse.SERVING
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
    assert await registry.discover_services(name) == []


async def test_streaming_reaches_analytics_through_the_mesh(
    redis_client: Any, redis_url: str, key_prefix: str, tmp_path: Path
) -> None:
    from meshctl.core.context import CorrelationContext
    from meshctl.proto.its.v1 import streaming_pb2 as spb
    from meshctl.proto.its.v1 import streaming_pb2_grpc

    registry = ServiceRegistry(redis_client, prefix=key_prefix)
    config = settings(
        f"sqlite+aiosqlite:///{tmp_path / 'db'}",
        redis_url=redis_url,
        prefix=key_prefix,
    )
    async with (
        served(builder("analytics")(config), registry=registry),
        served(builder("streaming")(config), registry=registry) as port,
        grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel,
    ):
        stub = streaming_pb2_grpc.StreamingServiceStub(channel)
        ctx = CorrelationContext.new("corr-mesh")
        reply = await stub.ProcessDetections(
            frame("cam-m", T0, *cars(2)), metadata=tuple(ctx.to_headers().items())
        )
    assert reply.status == spb.FRAME_STATUS_FORWARDED, reply.error
    assert reply.analysis.correlation_id == "corr-mesh"
    assert reply.analysis.vehicle_count == 2


@pytest.mark.parametrize(
    ("env", "says"),
    [
        (
            {"MESH_JWT_SECRET": "s" * 40},
            "admin user 'admin' has no password; set MESH_ADMIN_PASSWORD",
        ),
        ({"MESH_JWT_SECRET": "short", "MESH_ADMIN_PASSWORD": "pw"}, "at least 32 are needed"),
    ],
    ids=["no-password", "short-secret"],
)
async def test_serve_auth_refuses_to_start_without_a_password_or_with_a_weak_secret(
    env: dict[str, str], says: str, tmp_path: Path
) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MESH_")}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "meshctl", "serve", "auth", "--port", "0",
        "--database-url", f"sqlite:///{tmp_path / 'auth.db'}",
        env={**clean, **env, "XDG_STATE_HOME": str(tmp_path)},
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, stderr = await asyncio.wait_for(process.communicate(), 30)
    lines = stderr.decode().strip().splitlines()
    assert process.returncode == 2
    assert len(lines) == 1 and lines[0].startswith("error: auth: ") and says in lines[0]
