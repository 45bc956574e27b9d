"""Issue 11's SLO commands on a fresh ``meshctl up``, as an operator runs them.

For each version (this checkout, and with ``--baseline DIR`` another
checkout run the same way right after, through ``PYTHONPATH``): start
``meshctl up --detach`` with its defaults (or ``--postgres``: a fresh
database on the local PostgreSQL through ``MESH_DATABASE_URL``), then run,
as written in the issue, ``meshctl loadtest SERVICE METHOD --rps 1000
--duration 10s --slo 'p99<100ms,errors<0.1%'`` for analytics
ProcessDetections (``--rounds`` times), analytics GetActiveViolations right
after those writes, and streaming ProcessDetections (the camera-frame
chain), then closed loops of 16 and 64 callers (8 s) of each, with every
mesh process's CPU time per request read from ``/proc``.
Run: .venv/bin/python benchmarks/bench_up_slos.py [--baseline DIR] [--postgres] [--rounds N]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from meshbench import cpu_seconds, load_average

SLO = "p99<100ms,errors<0.1%"
ONE_THOUSAND = ("--rps", "1000", "--duration", "10s", "--slo", SLO)
MEASURED = [
    ("analytics", "ProcessDetections"),
    ("analytics", "GetActiveViolations"),
    ("streaming", "ProcessDetections"),
]
POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/"


def meshctl(
    env: dict[str, str], *args: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "meshctl", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, check=check)


def service_pids(state: Path) -> dict[str, list[int]]:
    """The ``meshctl serve`` children of the mesh whose state directory is ``state``."""
    run_dir = json.loads((state / "meshctl" / "up.json").read_text())["settings"]["database_url"]
    pids: dict[str, list[int]] = {}
    for proc in Path("/proc").iterdir():
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        words = [w.decode(errors="replace") for w in argv]
        if "serve" in words and any(run_dir.split("{service}")[0] in w for w in words):
            pids.setdefault(words[words.index("serve") + 1], []).append(int(proc.name))
    return pids


def loadtest(env: dict[str, str], service: str, method: str, *args: str) -> dict[str, Any]:
    done = meshctl(env, "loadtest", service, method, *args, "-o", "json", check=False)
    if not done.stdout.strip():
        raise SystemExit(f"loadtest {service} {method} failed: {done.stderr.strip()}")
    summary: dict[str, Any] = json.loads(done.stdout)["summary"]
    summary["exit"] = done.returncode
    return summary


def line(label: str, s: dict[str, Any]) -> str:
    lat = s["latency_ms"]
    return (
        f"  {label:<44} exit {s['exit']}  {s['rps']:>7.1f} rps  p50 {lat['p50']:>8.1f} ms  "
        f"p99 {lat['p99']:>8.1f} ms  errors {s['error_rate']:.2%}  not started {s['not_started']}"
    )


def run_version(label: str, pythonpath: str | None, args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-up-") as state_dir:
        state = Path(state_dir)
        env = {**os.environ, "XDG_STATE_HOME": state_dir, "NO_COLOR": "1"}
        env.pop("MESH_DATABASE_URL", None)
        if pythonpath:
            env["PYTHONPATH"] = pythonpath
        database = None
        if args.postgres:
            database = f"bench_up_{uuid.uuid4().hex[:8]}"
            subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "test", "-qc",
                            f"CREATE DATABASE {database}"], check=True)  # fmt: skip
            env["MESH_DATABASE_URL"] = POSTGRES + database
        meshctl(env, "up", "--detach")
        try:
            print(f"{label} ({'PostgreSQL' if database else 'SQLite'}), load {load_average()}")
            pids = service_pids(state)
            for n in range(args.rounds):
                s = loadtest(env, "analytics", "ProcessDetections", *ONE_THOUSAND)
                print(line(f"analytics ProcessDetections --rps 1000 #{n + 1}", s))
            s = loadtest(env, "analytics", "GetActiveViolations", *ONE_THOUSAND)
            print(line("analytics GetActiveViolations --rps 1000", s))
            s = loadtest(env, "streaming", "ProcessDetections", *ONE_THOUSAND)
            print(line("streaming ProcessDetections --rps 1000", s))
            for callers in (16, 64):
                for service, method in MEASURED:
                    before = {name: sum(map(cpu_seconds, p)) for name, p in pids.items()}
                    s = loadtest(env, service, method, "-c", str(callers), "--duration", "8s")
                    used = {n: sum(map(cpu_seconds, p)) - before[n] for n, p in pids.items()}
                    cpu = ", ".join(
                        f"{n} {1000 * t / s['requests']:.2f}" for n, t in used.items() if t > 0.05
                    )
                    print(line(f"{service} {method} -c {callers}", s) + f"  CPU ms/req: {cpu}")
            print(f"  load {load_average()}")
        finally:
            meshctl(env, "down", check=False)
            if database:
                time.sleep(1)
                subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "test", "-qc",
                                f"DROP DATABASE IF EXISTS {database} WITH (FORCE)"])  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--baseline", help="a checkout of the version to compare, run second")
    parser.add_argument("--postgres", action="store_true", help="MESH_DATABASE_URL on PostgreSQL")
    parser.add_argument("--rounds", type=int, default=3, help="ProcessDetections SLO runs")
    args = parser.parse_args()
    run_version("this checkout", None, args)
    if args.baseline:
        run_version(f"baseline {args.baseline}", str(Path(args.baseline).resolve()), args)


if __name__ == "__main__":
    main()
