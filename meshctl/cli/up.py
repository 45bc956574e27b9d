"""``meshctl up`` and ``meshctl down``: run a whole mesh on this machine, and stop it.

Without configuration ``up`` starts an embedded registry and broker and the
four services; ``MESH_REDIS_URL``, ``MESH_KAFKA_BOOTSTRAP`` and
``MESH_DATABASE_URL`` (or ``--redis-url``/``--kafka``) make it use yours.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from meshctl.cli.runner import fail, state

if TYPE_CHECKING:
    from meshctl.embedded.plan import InfraPlan

DETACH_TIMEOUT_MARGIN = 30.0


def up(
    ctx: typer.Context,
    replicas: Annotated[
        list[str] | None,
        typer.Option(
            "--replicas",
            "-r",
            metavar="NAME=N",
            help="Instances per service, NAME=N (repeatable or comma-separated); 0 leaves it out.",
        ),
    ] = None,
    detach: Annotated[
        bool,
        typer.Option("--detach", "-d", help="Run in the background; stop with `meshctl down`."),
    ] = False,
    ready_timeout: Annotated[
        float, typer.Option(help="Seconds to wait for every instance to register.", min=1)
    ] = 60.0,
    grace: Annotated[
        float, typer.Option(help="Seconds a service gets to stop before it is killed.", min=0)
    ] = 10.0,
    no_tls: Annotated[
        bool, typer.Option("--no-tls", help="Plain text instead of mTLS (as MESH_TLS=off).")
    ] = False,
    run_dir: Annotated[Path | None, typer.Option(hidden=True)] = None,
) -> None:
    """Start a whole mesh here: registry, broker and the four services.

    Prints where everything listens and writes a context file that other
    meshctl commands pick up. Ctrl-C (or `meshctl down`) stops it all.
    """
    from meshctl.config import up_state_path
    from meshctl.core.identity import validate_trust_domain
    from meshctl.embedded.plan import parse_replicas
    from meshctl.embedded.state import keep_files_private, new_run_dir

    counts = parse_replicas(replicas or [])
    keep_files_private()
    path = up_state_path()
    _refuse_if_running(path)
    run_dir = run_dir or new_run_dir(path.parent)
    if detach:
        _detach(path, run_dir, ready_timeout)
        return

    from meshctl.embedded.mesh import MeshOptions, run_mesh

    overrides = state(ctx).overrides
    infra = planned_infra(overrides)
    if (warning := memory_only_warning(infra)) is not None:
        typer.echo(warning, err=True)
    settings = state(ctx).resolve().settings
    options = MeshOptions(
        replicas=counts,
        infra=infra,
        prefix=overrides.get("prefix") or os.environ.get("MESH_PREFIX") or "mesh",
        run_dir=run_dir,
        context_path=path,
        ready_timeout=ready_timeout,
        grace=grace,
        tls=settings.tls and not no_tls,
        trust_domain=validate_trust_domain(settings.tls_trust_domain),
        cert_hours=settings.tls_cert_hours,
    )
    run_mesh(options, typer.echo)


def down(
    timeout: Annotated[
        float, typer.Option(help="Seconds to wait for the mesh to stop.", min=1)
    ] = 60.0,
) -> None:
    """Stop the mesh that `meshctl up` runs (in the background or another terminal)."""
    from meshctl.config import pid_alive, remove_up_context, up_state_path

    path = up_state_path()
    pid = _running_pid(path)
    if pid is None:
        fail(f"no mesh is running (no context file at {path})", hint="start one with `meshctl up`")
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + timeout
    while pid_alive(pid):
        if time.monotonic() > deadline:
            fail(f"the mesh (pid {pid}) did not stop within {timeout:g}s")
        time.sleep(0.1)
    remove_up_context(path)  # normally gone already; not if the process was killed
    typer.echo(f"mesh stopped (pid {pid})")


def planned_infra(overrides: dict[str, Any]) -> InfraPlan:
    """The infrastructure the environment and the root flags provide (flags win).

    Only these two layers count: what they leave out, ``up`` and ``demo`` start embedded.
    """
    from meshctl.embedded.plan import plan_infrastructure

    env = dict(os.environ)
    for key, var in (("redis_url", "MESH_REDIS_URL"), ("kafka_bootstrap", "MESH_KAFKA_BOOTSTRAP")):
        value = overrides.get(key)
        if isinstance(value, str):
            env[var] = value
    return plan_infrastructure(env)


def memory_only_warning(infra: InfraPlan) -> str | None:
    """The warning ``up`` gives when its broker would be the embedded, memory-only one."""
    if infra.kafka_bootstrap is not None:
        return None
    return (
        "warning: the embedded Kafka broker keeps events in memory only: a broker restart "
        "loses the events it acknowledged, and only events still in a service's spool are "
        "on disk (set MESH_KAFKA_BOOTSTRAP or --kafka for a durable broker)"
    )


def _running_pid(path: Path) -> int | None:
    """The pid of the live mesh in the context file; a stale or garbled file is removed."""
    from meshctl.config import pid_alive, read_up_context, remove_up_context
    from meshctl.errors import InvalidRequestError

    try:
        context = read_up_context(path)
    except InvalidRequestError as exc:
        typer.echo(f"removing an unreadable context file: {exc}", err=True)
        remove_up_context(path)
        return None
    if context is None:
        return None
    if not pid_alive(context.pid):
        typer.echo(f"removing a stale context file (pid {context.pid} is gone): {path}", err=True)
        remove_up_context(path)
        return None
    return context.pid


def _refuse_if_running(path: Path) -> None:
    pid = _running_pid(path)
    if pid is not None:
        fail(
            f"a mesh is already running (pid {pid}, context {path})",
            hint="stop it with `meshctl down`",
        )


def _detach(path: Path, run_dir: Path, ready_timeout: float) -> None:
    """Run ``up`` again as a daemon and return once its mesh is ready, echoing its summary."""
    from meshctl.config import read_up_context

    log_path = run_dir / "up.log"
    argv = [sys.executable, "-m", "meshctl", *_forwarded_args(), "--run-dir", str(run_dir)]
    with log_path.open("ab") as log:
        child = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    deadline = time.monotonic() + ready_timeout + DETACH_TIMEOUT_MARGIN
    while True:
        code = child.poll()
        if code is not None:
            typer.echo(_read(log_path), nl=False)
            fail(f"the mesh did not start (exit {code}); log: {log_path}", code=code or 1)
        context = read_up_context(path)
        if context is not None and context.pid == child.pid:
            typer.echo(_read(log_path), nl=False)
            typer.echo(f"running in the background (pid {child.pid}); log: {log_path}")
            # The daemon outlives us on purpose: stop Popen from warning that it still runs.
            child.returncode = 0
            return
        if time.monotonic() > deadline:
            os.kill(child.pid, signal.SIGTERM)
            fail(f"the mesh was not ready in time; log: {log_path}")
        time.sleep(0.1)


def _forwarded_args() -> list[str]:
    """This command line without ``--detach``/``-d``, for the daemon."""
    return [arg for arg in sys.argv[1:] if arg not in ("--detach", "-d")]


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""
