"""Issue 12's fault drills on a real ``meshctl up``, as docs/operations.md tells operators to run
them: load that rides out half the analytics instances killed, the registry restarted empty,
and one of two instances paused, under every balancer strategy."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from meshctl.core.balancer import LoadBalancingStrategy
from meshctl.errors import RegistryUnavailableError
from meshctl.registry.control import read_reports
from tests.embedded.test_up_cli import context_file, descendants, instances, meshctl

TIMEOUT = 1.0  # the paused-instance drill's --timeout
MARGIN = 0.1  # how far past it the slowest call may end


def command_line(pid: int) -> bytes:
    """The process's command line; empty once it has exited."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


@dataclass
class Mesh:
    """A detached ``meshctl up`` with a state directory of its own."""

    env: dict[str, str]
    context: dict[str, Any]
    seen: dict[int, bytes] = field(default_factory=dict)  # every process it ran: command line

    @property
    def redis_url(self) -> str:
        url: str = self.context["settings"]["redis_url"]
        return url

    def scan(self) -> None:
        """Note up and the processes it runs now (restarted ones have new pids)."""
        daemon = self.context["pid"]
        for pid in {daemon, *descendants(daemon)}:
            self.seen.setdefault(pid, command_line(pid))

    def live(self, needle: bytes = b"") -> list[int]:
        """Noted processes still running whose command line holds ``needle``, oldest first.

        A pid counts only while it runs the command it was noted with: never another's.
        """
        return [
            pid
            for pid, line in sorted(self.seen.items())
            if needle in line and line and command_line(pid) == line
        ]

    def processes(self, needle: bytes = b"") -> list[int]:
        """``live`` after a ``scan``."""
        self.scan()
        return self.live(needle)

    @contextmanager
    def loadtest(self, *args: str) -> Iterator[subprocess.Popen[str]]:
        """``meshctl loadtest analytics GetTrafficMetrics ARGS -o json`` for the block."""
        load = subprocess.Popen(
            [sys.executable, "-m", "meshctl", "loadtest", "analytics", "GetTrafficMetrics",
             *args, "-o", "json"],
            env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            yield load
        finally:
            if load.poll() is None:
                load.kill()
            load.communicate()


@contextmanager
def mesh_up(state: Path, *args: str) -> Iterator[Mesh]:
    """``meshctl up --detach ARGS``; ``meshctl down`` and no process left behind afterwards."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MESH_")}
    env = {**clean, "XDG_STATE_HOME": str(state), "NO_COLOR": "1"}
    started = meshctl(env, "up", "--detach", *args)
    assert started.returncode == 0, started.stderr
    mesh = Mesh(env, json.loads(context_file(env).read_text()))
    mesh.scan()
    try:
        yield mesh
    finally:
        for pid in mesh.processes():  # a paused one would hold up the shutdown
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
        down = meshctl(env, "down")
        for pid in mesh.live():
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        assert down.returncode == 0, down.stderr


def finish(load: subprocess.Popen[str]) -> dict[str, Any]:
    """The load's JSON summary once it ends."""
    out, err = load.communicate(timeout=60)
    assert load.returncode == 0, err
    summary: dict[str, Any] = json.loads(out)["summary"]
    return summary


def wait_until_loading(mesh: Mesh, load: subprocess.Popen[str]) -> None:
    """Until the load's mesh client reports answered calls (its first report is ~1 s in)."""

    async def answered() -> bool:
        client = aioredis.Redis.from_url(mesh.redis_url)
        try:
            reports = await read_reports(client, mesh.context["settings"]["prefix"])
        finally:
            await client.aclose()
        return any(
            r.get("pid") == load.pid and any(b.get("total_successes") for b in r["breakers"])
            for r in reports
        )

    deadline = time.monotonic() + 30
    while not asyncio.run(answered()):
        assert load.poll() is None, load.communicate()[1]
        assert time.monotonic() < deadline, "the load never got going"
        time.sleep(0.1)


def figures(drill: str, summary: dict[str, Any], note: str = "") -> str:
    """One line of what a drill measured (shown with -rP; the docs quote them)."""
    share = 100 * summary["ok"] / summary["requests"]
    line = (
        f"{drill}: {summary['requests']} calls, {summary['failed']} failed, {share:.3f}% ok, "
        f"max {summary['latency_ms']['max']:.0f} ms{note}"
    )
    if summary["failed"]:
        line += f"; {summary['status']}"
    print(line)
    return line


def test_killing_half_the_analytics_instances_under_load_fails_no_call(tmp_path: Path):
    with mesh_up(tmp_path / "state", "--replicas", "analytics=8") as mesh:
        analytics = mesh.processes(b"serve\0analytics\0")
        assert len(analytics) == 8
        with mesh.loadtest("-c", "16", "--duration", "12s") as load:
            wait_until_loading(mesh, load)
            time.sleep(2)  # the drill: ~3 s into the load
            for pid in analytics[:4]:
                os.kill(pid, signal.SIGKILL)
            summary = finish(load)
    line = figures("4 of 8 killed", summary)
    assert summary["failed"] == 0 and summary["ok"] > 0, line


@pytest.mark.skipif(not shutil.which("redis-server"), reason="fakeredis runs in process")
def test_the_registry_restarted_empty_under_load_fails_no_call(tmp_path: Path):
    with mesh_up(tmp_path / "state") as mesh:
        (registry,) = mesh.processes(b"redis-server")
        with mesh.loadtest("--rps", "50", "--duration", "20s") as load:
            wait_until_loading(mesh, load)
            time.sleep(2)
            killed_at = time.time()
            os.kill(registry, signal.SIGKILL)
            deadline = time.monotonic() + 30
            while True:  # the supervisor starts another on the same port
                try:
                    after = instances(mesh.redis_url).get("analytics", [])
                    break
                except RegistryUnavailableError:
                    assert time.monotonic() < deadline, "the registry never came back"
                    time.sleep(0.05)
            assert registry not in mesh.processes(b"redis-server")
            # No persistence: what is registered now has registered again since the kill.
            assert all(ep.registered_at and ep.registered_at >= killed_at for ep in after), after
            summary = finish(load)
    line = figures("registry restarted", summary, f"; {len(after)} analytics instance(s) on return")
    assert summary["failed"] == 0 and summary["ok"] > 0, line


@pytest.fixture(scope="module")
def two_analytics(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    """One ``meshctl up`` with two analytics instances for every strategy's drill."""
    with mesh_up(tmp_path_factory.mktemp("drills") / "state", "-r", "analytics=2") as mesh:
        yield mesh


def wait_until_both_healthy(mesh: Mesh) -> None:
    """Until up's health monitor (every 10 s) has seen both analytics instances answer."""
    deadline = time.monotonic() + 30
    while True:
        seen = [ep.health_status.value for ep in instances(mesh.redis_url).get("analytics", [])]
        if seen == ["healthy", "healthy"]:
            return
        assert time.monotonic() < deadline, seen
        time.sleep(0.2)


@pytest.mark.parametrize("strategy", list(LoadBalancingStrategy))
def test_a_paused_instance_costs_no_call_and_no_more_than_the_timeout(
    two_analytics: Mesh, strategy: LoadBalancingStrategy
):
    """Paused while the registry still calls it healthy: each strategy meets it afresh."""
    mesh = two_analytics
    paused = mesh.processes(b"serve\0analytics\0")[0]
    wait_until_both_healthy(mesh)
    os.kill(paused, signal.SIGSTOP)
    args = ("-c", "8", "--duration", "10s", "--timeout", f"{TIMEOUT:g}", "--strategy", strategy)
    try:
        with mesh.loadtest(*args) as load:
            summary = finish(load)
    finally:
        os.kill(paused, signal.SIGCONT)
    line = figures(f"paused, {strategy}", summary)
    assert summary["ok"] >= 0.999 * summary["requests"] > 0, line
    assert summary["latency_ms"]["max"] <= (TIMEOUT + MARGIN) * 1000, line
