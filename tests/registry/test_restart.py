"""A Redis restarted empty: clients hold their views while the services register again."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from pathlib import Path

import pytest
import redis

from meshctl.core.endpoint import ServiceEndpoint
from meshctl.errors import RegistryUnavailableError
from meshctl.registry import RegistryWatcher, ServiceInstances, ServiceRegistry
from meshctl.testing import free_port

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server")


class RedisServer:
    """A redis-server without persistence on a fixed port, so a restart comes back empty."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._directory = directory
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        argv = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
        argv += ["--save", "", "--appendonly", "no", "--dir", str(self._directory)]
        self._process = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)  # waiting for a process to listen, not for a state change
        client.close()

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)
            self._process = None


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


async def record_views(watcher: RegistryWatcher, name: str, seen: list[ServiceInstances]) -> None:
    view = watcher.peek(name)
    while True:
        view = await watcher.wait_changed(name, view)
        seen.append(view)


async def refreshed(watcher: RegistryWatcher, name: str) -> None:
    """Re-read ``name`` as soon as the restarted server answers."""
    while True:
        try:
            return await watcher.refresh(name)
        except RegistryUnavailableError:
            await asyncio.sleep(0.05)


@pytest.fixture
async def registry(server: RedisServer) -> AsyncIterator[ServiceRegistry]:
    registry = ServiceRegistry(server.url, prefix="restart")
    yield registry
    await registry.aclose()


async def test_views_are_held_while_services_register_again(
    server: RedisServer, registry: ServiceRegistry
):
    eps = [ServiceEndpoint("analytics", "127.0.0.1", 20000 + i) for i in range(3)]
    seen: list[ServiceInstances] = []
    async with AsyncExitStack() as stack:
        for ep in eps:
            await stack.enter_async_context(registry.keep_alive(ep, ttl=3))  # beats every 1 s
        watcher = await stack.enter_async_context(RegistryWatcher(registry, retry_interval=0.1))
        view = await watcher.get("analytics")
        assert set(view) == set(eps)
        recorder = asyncio.create_task(record_views(watcher, "analytics", seen))

        server.stop()
        await asyncio.sleep(0.5)  # a real outage: the subscription and the client lose Redis
        server.start()
        restarted = time.monotonic()
        await refreshed(watcher, "analytics")
        assert watcher.peek("analytics") is view  # the empty answer did not replace it

        while set(watcher.peek("analytics") or ()) != set(eps) or watcher.held:
            await watcher.wait_changed("analytics", watcher.peek("analytics"))
        recovered = time.monotonic() - restarted
        recorder.cancel()

    # each keepalive finds its record gone at its next beat and registers again
    assert recovered < 2.5, f"took {recovered:.1f} s to register again"
    assert all(seen_view for seen_view in seen), "a view went empty"
