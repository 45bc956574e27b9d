"""The registry, the control plane and the CLI through Redis Sentinel, and through a failover.

Each test starts its own primary, replica and three sentinels on loopback
(``SentinelGroup``) and reaches them only by the ``redis+sentinel://`` URL.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from typer.testing import CliRunner

from meshctl.cli.app import app
from meshctl.core.endpoint import ServiceEndpoint
from meshctl.errors import MeshError, RegistryUnavailableError
from meshctl.mesh import ServiceMeshClient, open_mesh
from meshctl.registry import ServiceRegistry
from meshctl.registry.control import read_reports, send_command
from meshctl.registry.keys import service_keys
from meshctl.services import streaming
from meshctl.services.base import ServiceSettings
from meshctl.testing import SentinelGroup, served
from meshctl.testing.sentinel import have_redis_server

pytestmark = pytest.mark.skipif(
    not have_redis_server(), reason="needs redis-server to run a primary, a replica and sentinels"
)

PREFIX = "sentinel"
TTL = 10.0  # longer than a failover takes, as it must be: a lapsed instance is dropped
RECOVERY = 20.0  # seconds a failover and the re-registration may take, at most


@pytest.fixture
def group(tmp_path: Path) -> Iterator[SentinelGroup]:
    with SentinelGroup(tmp_path / "redis") as group:
        yield group


@pytest.fixture
async def registry(group: SentinelGroup) -> AsyncIterator[ServiceRegistry]:
    registry = ServiceRegistry(group.url, prefix=PREFIX)
    yield registry
    await registry.aclose()


@pytest.fixture
def settings(group: SentinelGroup, tmp_path: Path) -> ServiceSettings:
    return ServiceSettings.model_validate(
        {
            "redis_url": group.url,
            "prefix": PREFIX,
            "database_url": f"sqlite+aiosqlite:///{tmp_path / 'mesh.db'}",
            "metrics": False,
            "sli": False,
        }
    )


async def test_the_registry_works_through_the_sentinels(
    group: SentinelGroup, registry: ServiceRegistry
):
    # named by its sentinels (in a stable order) and service, never by a password
    sentinels = ",".join(sorted(f"127.0.0.1:{port}" for port in group.sentinel_ports))
    assert registry.url == f"redis+sentinel://{sentinels}/{group.service}/0"
    endpoint = ServiceEndpoint("analytics", "127.0.0.1", 50052)
    instance_id = await registry.register_service("analytics", endpoint, ttl=30)
    assert await registry.discover_services("analytics") == [endpoint]
    assert await registry.heartbeat("analytics", instance_id, ttl=30)

    # the records are on the primary, and replicated to the replica
    expiry = service_keys(PREFIX, "analytics").expiry
    primary, replica = group.data_client(group.primary_port), group.data_client(group.replica_port)
    assert primary.zscore(expiry, instance_id) is not None
    assert primary.wait(1, 5000) == 1  # the replica has everything written so far
    assert replica.zscore(expiry, instance_id) is not None
    assert group.primary() == group.primary_port

    assert await registry.deregister_service("analytics", instance_id)
    assert await registry.discover_services("analytics") == []
    assert not await registry.heartbeat("analytics", instance_id, ttl=30)


async def test_the_control_plane_works_through_the_sentinels(
    registry: ServiceRegistry, settings: ServiceSettings
):
    mesh = open_mesh(settings, name="sentinel-client", registry=registry, events=False,
                     report_interval=0.2)  # fmt: skip
    async with mesh:
        deadline = time.monotonic() + 10
        while "sentinel-client" not in {
            c["name"] for c in (await read_reports(registry.redis, PREFIX)).clients
        }:
            assert time.monotonic() < deadline, "the client's report never arrived"
            await asyncio.sleep(0.05)
        # a command goes out by pub/sub and the answer comes back on a list
        answers = await send_command(registry.redis, PREFIX, "reset", service="analytics", wait=5)
    assert [a["name"] for a in answers] == ["sentinel-client"]


def test_the_cli_works_through_the_sentinels(
    group: SentinelGroup, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))  # no config file applies
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))  # nor a `meshctl up` context

    async def seed() -> None:
        registry = ServiceRegistry(group.url, prefix=PREFIX)
        try:
            await registry.register_service("alert", ServiceEndpoint("alert", "127.0.0.1", 50053))
        finally:
            await registry.aclose()

    asyncio.run(seed())
    runner = CliRunner()
    flag = runner.invoke(app, ["--redis-url", group.url, "--prefix", PREFIX, "services", "list",
                               "-o", "json"])  # fmt: skip
    monkeypatch.setenv("MESH_REDIS_URL", group.url)
    env = runner.invoke(app, ["--prefix", PREFIX, "services", "list", "-o", "json"])
    for result in (flag, env):
        assert result.exit_code == 0, result.output
        [row] = json.loads(result.stdout)
        assert (row["service"], row["instances"]) == ("alert", 1)


@dataclass
class Calls:
    """What a caller saw: when each call ended well, and what failed."""

    succeeded: list[float] = field(default_factory=list)
    failed: list[MeshError] = field(default_factory=list)


async def keep_calling(mesh: ServiceMeshClient, calls: Calls) -> None:
    while True:
        try:
            await mesh.call_service("streaming", "HealthCheck", {}, timeout=2)
            calls.succeeded.append(time.monotonic())
        except MeshError as exc:
            calls.failed.append(exc)
        await asyncio.sleep(0.05)


async def until(condition: Callable[[], Awaitable[bool]], what: str) -> float:
    """Poll ``condition`` until it holds (AssertionError naming ``what`` after RECOVERY
    seconds); returns when it first held (monotonic)."""
    deadline = time.monotonic() + RECOVERY
    while not await condition():
        assert time.monotonic() < deadline, f"{what} within {RECOVERY} s"
        await asyncio.sleep(0.05)
    return time.monotonic()


async def test_calls_go_on_through_a_failover_and_registrations_resume(
    group: SentinelGroup, registry: ServiceRegistry, settings: ServiceSettings
):
    async with AsyncExitStack() as stack:
        first = await stack.enter_async_context(
            served(streaming.build(settings), registry=registry, ttl=TTL, sli=False)
        )
        mesh = await stack.enter_async_context(
            open_mesh(settings, name="caller", registry=registry, events=False)
        )
        [endpoint] = await registry.discover_services("streaming")
        assert endpoint.port == first
        await mesh.call_service("streaming", "HealthCheck", {})
        calls = Calls()
        caller = asyncio.create_task(keep_calling(mesh, calls))

        killed_wall, killed = time.time(), time.monotonic()
        old = group.kill_primary()
        # an instance starting while there is no primary registers once there is one again
        second = await stack.enter_async_context(
            served(streaming.build(settings), registry=registry, ttl=TTL, sli=False)
        )
        new = await asyncio.to_thread(group.wait_for_failover, old)
        promoted = time.monotonic()
        assert new == group.replica_port

        direct = ServiceRegistry(f"redis://127.0.0.1:{new}/0", prefix=PREFIX)
        stack.push_async_callback(direct.aclose)
        expiry = service_keys(PREFIX, "streaming").expiry

        async def renewed() -> bool:  # only a heartbeat after the kill gives this expiry
            score = await direct.redis.zscore(expiry, endpoint.instance_id)
            return score is not None and score > killed_wall + TTL

        async def both_registered() -> bool:
            ports = {ep.port for ep in await direct.discover_services("streaming")}
            return ports == {first, second}

        recovered = max(
            await until(renewed, "the first instance's heartbeats did not resume"),
            await until(both_registered, "the second instance did not register"),
        )

        async def both_called() -> bool:  # the mesh client's view follows the new primary
            assert mesh.watcher is not None
            return {ep.port for ep in mesh.watcher.peek("streaming") or ()} == {first, second}

        await until(both_called, "the caller did not see the second instance")
        caller.cancel()
        await asyncio.gather(caller, return_exceptions=True)

    assert not calls.failed, calls.failed[:3]
    during = [t for t in calls.succeeded if killed < t < promoted]
    assert len(during) >= 10, f"only {len(during)} calls while there was no primary"
    assert recovered - killed < RECOVERY


async def test_a_service_the_sentinels_do_not_monitor_is_a_registry_outage(group: SentinelGroup):
    registry = ServiceRegistry(group.url.replace(group.service, "elsewhere"), prefix=PREFIX)
    try:
        with pytest.raises(
            RegistryUnavailableError, match=r"'elsewhere' \(no sentinel knows it up\)"
        ):
            await registry.discover_services("analytics")
    finally:
        await registry.aclose()
