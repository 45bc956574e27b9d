"""Runs the mesh's child processes: start, watch, restart with backoff, stop.

Children run in their own process group so a Ctrl-C at the terminal reaches
only ``meshctl up``, which then stops them in order. Output goes to one log
file per child in the run directory.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from meshctl.embedded.plan import ProcessSpec, RestartBudget, RestartPolicy

Clock = Callable[[], float]
Report = Callable[[str], None]


@dataclass(slots=True)
class Child:
    """A supervised process and what the supervisor knows of it."""

    spec: ProcessSpec
    log_path: Path
    budget: RestartBudget
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    restart_at: float | None = None
    gave_up: bool = False
    exit_codes: list[int] = field(default_factory=list)

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None


class Supervisor:
    """Keeps a set of child processes running.

    Args:
        specs: the processes to run.
        run_dir: where the ``<name>.log`` files go.
        policy: restart backoff for children that die once the mesh is up.
        grace: seconds between SIGTERM and SIGKILL when stopping.
        clock: monotonic time source (injected in tests).
        report: where to say that a child died or was restarted.
    """

    def __init__(
        self,
        specs: Iterable[ProcessSpec],
        run_dir: Path,
        *,
        policy: RestartPolicy | None = None,
        grace: float = 10.0,
        clock: Clock = time.monotonic,
        report: Report = print,
    ) -> None:
        policy = policy or RestartPolicy()
        self.children = [
            Child(spec, run_dir / f"{spec.name}.log", RestartBudget(policy)) for spec in specs
        ]
        self.grace = grace
        self._clock = clock
        self._report = report

    def start(self) -> None:
        """Start every child."""
        for child in self.children:
            self._spawn(child)

    def pids(self) -> dict[str, int]:
        return {c.spec.name: c.pid for c in self.children if c.pid is not None}

    def exited(self) -> list[Child]:
        """Children whose process has exited (and is not yet restarted)."""
        return [c for c in self.children if c.process is not None and c.process.poll() is not None]

    def poll(self) -> None:
        """Notice children that died, schedule their restart with backoff, restart those due."""
        now = self._clock()
        for child in self.exited():
            assert child.process is not None
            code = child.process.returncode
            child.exit_codes.append(code)
            child.process = None
            delay = child.budget.on_exit(child.started_at, now)
            if delay is None:
                child.gave_up = True
                self._report(
                    f"{child.spec.name} exited with {code}; giving up after "
                    f"{child.budget.restarts} restarts (log: {child.log_path})"
                )
            else:
                child.restart_at = now + delay
                self._report(f"{child.spec.name} exited with {code}; restarting in {delay:g}s")
        for child in self.children:
            if child.restart_at is not None and child.restart_at <= now:
                child.restart_at = None
                self._spawn(child)
                self._report(f"{child.spec.name} restarted (pid {child.pid})")

    def stop(self) -> None:
        """SIGTERM every child, wait up to ``grace``, SIGKILL the rest; reap all."""
        running = [c.process for c in self.children if c.process is not None]
        # A reaped child's pid may belong to someone else by now: signal only live ones.
        running = [p for p in running if p.poll() is None]
        for proc in running:
            _signal(proc, signal.SIGTERM)
        deadline = time.monotonic() + self.grace
        for proc in running:
            try:
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal(proc, signal.SIGKILL)
                proc.wait()
        for child in self.children:
            child.process = None
            child.restart_at = None

    def log_tail(self, child: Child, lines: int = 15) -> str:
        try:
            text = child.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def _spawn(self, child: Child) -> None:
        child.log_path.parent.mkdir(parents=True, exist_ok=True)
        with child.log_path.open("ab") as log:
            child.process = subprocess.Popen(
                child.spec.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **child.spec.env},
                process_group=0,
            )
        child.started_at = self._clock()


def _signal(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    """Signal the child's whole process group, so its own children go too."""
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass
