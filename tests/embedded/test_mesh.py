"""``run_mesh`` end to end with real registry and processes, the services faked.

The fake (``fake_serve.py``) registers like ``meshctl serve`` does, so these
run whatever state the real services are in; ``test_up_cli`` covers those.
"""

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from meshctl.config import pid_alive
from meshctl.embedded.mesh import SignalRelay

ROOT = Path(__file__).resolve().parents[2]
FAKE = Path(__file__).with_name("fake_serve.py")

DRIVER = """
import json, sys
from pathlib import Path
from meshctl.embedded.mesh import MeshOptions, run_mesh
from meshctl.embedded.plan import InfraPlan
from meshctl.errors import MeshError
a = json.loads(sys.argv[1])
options = MeshOptions(
    replicas=a["replicas"], infra=InfraPlan(None, "127.0.0.1:1", None), prefix="mesh",
    run_dir=Path(a["run_dir"]), context_path=Path(a["context"]), ready_timeout=20, grace=5,
    python=a["python"],
)
try:
    run_mesh(options, lambda line: print(line, flush=True))
except MeshError as exc:
    print(f"error: {exc}", file=sys.stderr, flush=True)
    sys.exit(exc.exit_code)
"""


class Mesh:
    def __init__(self, tmp_path: Path, replicas: dict[str, int], env: dict[str, str]) -> None:
        python = tmp_path / "python"
        python.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE}" "$@"\n')
        python.chmod(0o755)
        self.run_dir = tmp_path / "run"
        self.context = tmp_path / "state" / "up.json"
        args = {
            "replicas": replicas,
            "run_dir": str(self.run_dir),
            "context": str(self.context),
            "python": str(python),
        }
        self.proc = subprocess.Popen(
            [sys.executable, "-c", DRIVER, json.dumps(args)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT), **env},
        )
        self.lines: list[str] = []

    def read_until(self, text: str) -> None:
        assert self.proc.stdout is not None and self.proc.stderr is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))
            if text in line:
                return
        pytest.fail(f"{text!r} never printed; got {self.lines}; stderr {self.proc.stderr.read()}")

    def service_pids(self) -> list[int]:
        logs = "".join(p.read_text() for p in self.run_dir.glob("*.log"))
        return [int(pid) for pid in re.findall(r"pid (\d+)", logs)]

    def finish(self, sig: int = signal.SIGINT) -> tuple[int, str, str]:
        self.proc.send_signal(sig)
        out, err = self.proc.communicate(timeout=60)
        return self.proc.returncode, out, err


def test_mesh_comes_up_publishes_its_context_and_drains_on_sigint(tmp_path: Path):
    mesh = Mesh(tmp_path, {"streaming": 1, "analytics": 2, "alert": 1, "auth": 1}, {})
    mesh.read_until("mesh ready")
    registered = [line for line in mesh.lines if line.endswith(" registered")]
    assert sorted(line.split()[0] for line in registered) == [
        "alert", "analytics", "analytics", "auth", "streaming",
    ]  # fmt: skip
    registry_line = next(line for line in mesh.lines if line.startswith("registry: "))
    assert "(embedded redis-server)" in registry_line
    context = json.loads(mesh.context.read_text())
    assert context["pid"] == mesh.proc.pid
    assert context["settings"]["redis_url"] == registry_line.split()[1]
    assert context["settings"]["prefix"] == "mesh"
    assert sorted(context["services"]) == [
        "alert", "analytics", "analytics-2", "auth", "streaming",
    ]  # fmt: skip
    pids = mesh.service_pids()
    assert len(pids) == 5 and all(pid_alive(p) for p in pids)

    code, out, _ = mesh.finish(signal.SIGINT)
    assert code == 0
    assert "stopping the mesh" in out and "mesh stopped" in out
    assert not any(pid_alive(p) for p in pids)
    assert not mesh.context.exists()
    assert (mesh.run_dir / "analytics-2.log").exists(), "logs stay for a post-mortem"


def test_a_service_crashing_on_start_is_named_with_its_log(tmp_path: Path):
    mesh = Mesh(
        tmp_path,
        {"streaming": 1, "analytics": 1, "alert": 1, "auth": 0},
        {"FAKE_CRASH": "alert"},
    )
    out, err = mesh.proc.communicate(timeout=60)
    assert mesh.proc.returncode == 1
    assert "alert-1 exited with 1 during start-up" in err
    assert "alert: cannot load its module" in err
    assert "mesh stopped" in out
    assert not any(pid_alive(p) for p in mesh.service_pids())
    assert not mesh.context.exists()


def test_a_service_that_dies_later_is_reported_and_restarted(tmp_path: Path):
    mesh = Mesh(tmp_path, {"streaming": 0, "analytics": 0, "alert": 0, "auth": 1}, {})
    mesh.read_until("mesh ready")
    (first,) = mesh.service_pids()
    os.kill(first, signal.SIGKILL)
    mesh.read_until("auth-1 exited with -9; restarting in 0.5s")
    mesh.read_until("auth-1 restarted")
    deadline = time.monotonic() + 20
    while len(mesh.service_pids()) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    second = mesh.service_pids()[1]
    code, _, _ = mesh.finish(signal.SIGTERM)
    assert code == 0
    assert not pid_alive(second)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_a_stop_signal_sets_stop_from_the_relay_thread_and_handlers_come_back(sig: int):
    before = signal.getsignal(sig)
    stop = threading.Event()
    with SignalRelay(stop):
        os.kill(os.getpid(), sig)
        assert stop.wait(5)
    assert signal.getsignal(sig) is before
    quiet = threading.Event()
    with SignalRelay(quiet):
        pass  # leaving without a signal sets nothing
    assert not quiet.is_set()
