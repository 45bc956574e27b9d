"""``meshctl up`` and ``meshctl down`` as an operator runs them, in subprocesses."""

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from meshctl._version import __version__
from meshctl.cli.up import memory_only_warning, planned_infra
from meshctl.config import pid_alive
from meshctl.core.endpoint import ServiceEndpoint
from meshctl.embedded.plan import InfraPlan
from meshctl.registry import ServiceRegistry


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """A clean environment: own state dir, no MESH_* settings inherited."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MESH_")}
    return {**clean, "XDG_STATE_HOME": str(tmp_path / "state"), "NO_COLOR": "1"}


def context_file(env: dict[str, str]) -> Path:
    return Path(env["XDG_STATE_HOME"]) / "meshctl" / "up.json"


def meshctl(
    env: dict[str, str], *args: str, timeout: float = 90
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "meshctl", *args],
        env=env, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def descendants(pid: int) -> set[int]:
    """Every process below ``pid``, read from /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def test_up_warns_when_the_spool_would_be_the_only_copy_on_disk():
    embedded = memory_only_warning(InfraPlan(None, None, None))
    assert embedded is not None and embedded.startswith("warning: the embedded Kafka broker")
    assert "in memory only" in embedded and len(embedded.splitlines()) == 1
    assert memory_only_warning(planned_infra({"kafka_bootstrap": "kafka:9092"})) is None


def test_bad_replica_spec_is_a_usage_error(env: dict[str, str]):
    result = meshctl(env, "up", "--replicas", "analytics=many")
    assert result.returncode == 2
    assert "error: bad replica spec 'analytics=many': expected NAME=N" in result.stderr
    assert "Traceback" not in result.stderr


def test_down_with_nothing_running_is_a_clear_error(env: dict[str, str]):
    result = meshctl(env, "down")
    assert result.returncode == 1
    assert "error: no mesh is running (no context file at" in result.stderr


def test_a_stale_context_is_detected_and_removed(env: dict[str, str]):
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    path = context_file(env)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"version": 1, "pid": gone.pid, "settings": {}}))
    result = meshctl(env, "down")
    assert result.returncode == 1
    assert f"removing a stale context file (pid {gone.pid} is gone)" in result.stderr
    assert not path.exists()


def test_up_refuses_to_start_a_second_mesh(env: dict[str, str]):
    path = context_file(env)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"version": 1, "pid": os.getpid(), "settings": {}}))
    result = meshctl(env, "up")
    assert result.returncode == 1
    assert f"error: a mesh is already running (pid {os.getpid()}" in result.stderr
    assert path.exists()


def instances(url: str, prefix: str = "mesh") -> dict[str, list[ServiceEndpoint]]:
    async def snapshot() -> dict[str, list[ServiceEndpoint]]:
        reg = ServiceRegistry(url, prefix=prefix)
        try:
            return await reg.snapshot()
        finally:
            await reg.aclose()

    return asyncio.run(snapshot())


def registered(url: str, prefix: str = "mesh") -> dict[str, int]:
    return {name: len(eps) for name, eps in instances(url, prefix).items()}


def health_of(url: str) -> set[tuple[str, str, str | None]]:
    """(service, health, version) of every instance, once the health monitor has run."""
    deadline = time.monotonic() + 15
    while True:
        seen = {
            (name, ep.health_status.value, ep.version)
            for name, eps in instances(url).items()
            for ep in eps
        }
        if all(health != "unknown" for _, health, _ in seen) or time.monotonic() > deadline:
            return seen
        time.sleep(0.2)


def test_up_runs_the_real_mesh_and_sigint_leaves_nothing_behind(env: dict[str, str]):
    proc = subprocess.Popen(
        [sys.executable, "-m", "meshctl", "up", "--replicas", "analytics=2"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None and proc.stderr is not None
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("mesh ready"):
                break
        else:
            pytest.fail(f"up never got ready: {''.join(lines)} {proc.stderr.read()}")
        context = json.loads(context_file(env).read_text())
        assert context["pid"] == proc.pid
        url = context["settings"]["redis_url"]
        assert registered(url) == {"alert": 1, "analytics": 2, "auth": 1, "streaming": 1}
        # up runs the health monitor: every instance answers its health check.
        assert health_of(url) == {
            (name, "healthy", __version__) for name in ("alert", "analytics", "auth", "streaming")
        }
        assert any(line.startswith("broker: ") and "(embedded)" in line for line in lines)
        # A generated admin password: where it is is told, never the password itself.
        password_file = context_file(env).parent / "admin-password"
        assert f"admin password: in {password_file}\n" in lines
        password = password_file.read_text().strip()
        assert password not in "".join(lines)
        login = meshctl(env, "call", "auth", "login", "-o", "json")  # the sample has it
        assert login.returncode == 0, login.stderr
        assert json.loads(login.stdout)["token_type"] == "bearer"
        children = descendants(proc.pid)
        assert len(children) >= 6, "four services plus a replica, registry and broker"
        # logs, databases and the context hold secrets: the user's alone
        [run_dir] = (context_file(env).parent / "runs").iterdir()
        private = [run_dir, context_file(env), password_file, *run_dir.rglob("*")]
        assert private[2:], "the services wrote logs and databases"
        assert {p.name: oct(p.stat().st_mode & 0o077) for p in private} == {
            p.name: "0o0" for p in private
        }
        assert not [
            p for p in run_dir.rglob("*") if p.is_file() and password.encode() in p.read_bytes()
        ]

        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        assert err.count("embedded Kafka broker keeps events in memory only") == 1
        assert not context_file(env).exists()
        assert not [pid for pid in children if pid_alive(pid)]
        with pytest.raises(redis.ConnectionError):
            redis.Redis.from_url(url, socket_connect_timeout=0.5, retry_on_error=[]).ping()
    finally:  # a failed assertion must not leave the mesh running
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()


def test_detach_returns_when_ready_and_down_stops_it(env: dict[str, str]):
    result = meshctl(env, "up", "--detach", "-r", "streaming=1,analytics=1,alert=0,auth=1")
    assert result.returncode == 0, result.stderr
    assert "mesh ready" in result.stdout and "running in the background" in result.stdout
    context = json.loads(context_file(env).read_text())
    daemon = context["pid"]
    assert pid_alive(daemon)
    assert registered(context["settings"]["redis_url"]) == {
        "analytics": 1, "auth": 1, "streaming": 1,
    }  # fmt: skip
    children = descendants(daemon)

    down = meshctl(env, "down")
    assert down.returncode == 0, down.stderr
    assert f"mesh stopped (pid {daemon})" in down.stdout
    assert not pid_alive(daemon)
    deadline = time.monotonic() + 10  # orphans of a killed daemon would linger; none should
    while [p for p in children if pid_alive(p)] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [p for p in children if pid_alive(p)]
    assert not context_file(env).exists()
    again = meshctl(env, "down")
    assert again.returncode == 1 and "no mesh is running" in again.stderr


@pytest.mark.skipif(not shutil.which("redis-server"), reason="fakeredis runs in process")
def test_up_restarts_its_registry_and_broker_when_they_die(env: dict[str, str]):
    """SIGKILL of the embedded redis-server and broker: both come back on their ports,
    empty, the log says so, and the services register again."""
    from meshctl.embedded.broker import kafka_ready

    result = meshctl(env, "up", "--detach", "-r", "streaming=0,analytics=1,alert=0,auth=0")
    assert result.returncode == 0, result.stderr
    context = json.loads(context_file(env).read_text())
    redis_url, bootstrap = context["settings"]["redis_url"], context["settings"]["kafka_bootstrap"]
    log = next(Path(env["XDG_STATE_HOME"]).glob("meshctl/runs/*/up.log"))
    try:
        infra = {}
        for pid in descendants(context["pid"]):
            try:
                argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"redis-server" in argv[0]:  # it rewrites its title: "redis-server host:port"
                infra["registry"] = pid
            elif b"--listener-url" in argv:
                infra["broker"] = pid
        assert sorted(infra) == ["broker", "registry"], infra
        for pid in infra.values():
            os.kill(pid, signal.SIGKILL)
        host, port = bootstrap.rsplit(":", 1)

        def back() -> bool:
            try:
                return kafka_ready(host, int(port)) and registered(redis_url) == {"analytics": 1}
            except redis.RedisError:
                return False  # not restarted yet

        deadline = time.monotonic() + 30
        while not back():
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        text = log.read_text()
        for name in ("registry", "broker"):
            assert f"{name} at " in text and f"{name} restarted at " in text, text
    finally:
        down = meshctl(env, "down")
        assert down.returncode == 0, down.stderr


def test_up_serves_mtls_and_commands_dial_with_its_client_certificate(env: dict[str, str]):
    result = meshctl(env, "up", "--detach", "-r", "streaming=0,analytics=1,alert=0,auth=1")
    assert result.returncode == 0, result.stderr
    assert "mTLS: mesh CA" in result.stdout
    try:
        settings = json.loads(context_file(env).read_text())["settings"]
        assert settings["tls_cert"].endswith("meshctl.pem")
        found = instances(settings["redis_url"])
        assert {name: eps[0].metadata.get("tls") for name, eps in found.items()} == {
            "analytics": "1",
            "auth": "1",
        }
        assert found["auth"][0].metadata["scheme"] == "https"
        call = meshctl(env, "call", "analytics", "GetTrafficMetrics", "-d", "{}")
        assert call.returncode == 0, call.stderr
        assert meshctl(env, "call", "auth", "login").returncode == 0
        # Without a certificate a command is told so; it does not fall back to plain text.
        bare = meshctl({**env, "MESH_TLS": "off"}, "call", "analytics", "GetTrafficMetrics")
        assert bare.returncode != 0 and "MESH_TLS_CERT" in bare.stderr
    finally:
        assert meshctl(env, "down").returncode == 0
