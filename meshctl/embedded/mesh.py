"""Run a whole mesh in the foreground: infrastructure, services, readiness, drain.

``run_mesh`` is what ``meshctl up`` does once its options are parsed. It
returns when SIGINT or SIGTERM arrives (or start-up fails), having stopped
everything it started and removed the context file.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from meshctl.core.identity import DEFAULT_TRUST_DOMAIN
from meshctl.core.secrets import redact_url
from meshctl.embedded.infra import InfraWatch
from meshctl.embedded.plan import InfraPlan, embedded_database_url, plan_processes
from meshctl.embedded.state import admin_password, keep_files_private
from meshctl.embedded.supervisor import Supervisor
from meshctl.embedded.tls import MeshCertificates, mesh_tls
from meshctl.errors import MeshError

Report = Callable[[str], None]

POLL_INTERVAL = 0.25


class MeshStartError(MeshError):
    """A service of the mesh did not come up."""


class Interrupted(MeshError):
    """SIGINT or SIGTERM arrived before the mesh was ready."""

    exit_code = 130


@dataclass(slots=True)
class MeshOptions:
    """What ``meshctl up`` was asked for, already validated."""

    replicas: Mapping[str, int]
    infra: InfraPlan
    prefix: str
    run_dir: Path
    context_path: Path
    ready_timeout: float = 60.0
    grace: float = 10.0
    python: str = field(default_factory=lambda: sys.executable)
    tls: bool = True
    """mTLS between every process (a mesh CA issues each one's certificate); off: plain text."""
    trust_domain: str = DEFAULT_TRUST_DOMAIN
    cert_hours: float = 24.0


def run_mesh(options: MeshOptions, out: Report) -> None:
    """Start the mesh, keep it running until signalled, then drain it.

    Raises:
        MeshStartError: a service exited or did not register in time.
        Interrupted: signalled before the mesh was ready (everything is stopped).
        InfrastructureError: the embedded registry or broker did not start.
    """
    keep_files_private()
    stop = threading.Event()
    with ExitStack() as stack:
        stack.enter_context(SignalRelay(stop))
        stack.callback(out, "mesh stopped")
        mesh = _start(options, stack, out, stop)
        instances = asyncio.run(_wait_ready(options, mesh, out, stop))
        _publish(options, mesh, instances, stack)
        out(f"mesh ready; context: {options.context_path}; Ctrl-C or `meshctl down` stops it")
        stack.enter_context(_HealthChecks(mesh.settings))
        while not stop.wait(POLL_INTERVAL):
            mesh.supervisor.poll()
            mesh.infra.poll()
            if mesh.certs is not None:
                for name in mesh.certs.renew_due():
                    out(f"certificate of {name} renewed")
        out("stopping the mesh...")


_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class SignalRelay:
    """Sets ``stop`` when a stop signal arrives, from a thread of its own.

    A handler must not set the Event itself: it runs on the main thread, which
    may hold the Event's lock in ``stop.wait`` when the signal lands, and the
    lock is not reentrant (a deadlock seen under load). The handler only writes
    a byte to a pipe, which is safe anywhere; the relay thread reads it and sets
    ``stop``. SIGHUP counts too: a closed terminal must not orphan the services.
    """

    def __init__(self, stop: threading.Event) -> None:
        self._stop = stop
        self._read, self._write = os.pipe()
        self._closing = False
        self._previous: dict[int, Any] = {}
        self._thread = threading.Thread(target=self._relay, name="signal-relay", daemon=True)

    def _relay(self) -> None:
        os.read(self._read, 1)
        if not self._closing:
            self._stop.set()

    def __enter__(self) -> SignalRelay:
        self._thread.start()
        for sig in _STOP_SIGNALS:
            self._previous[sig] = signal.signal(sig, lambda *_: os.write(self._write, b"s"))
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._closing = True
        os.write(self._write, b"x")  # lets the relay thread end
        self._thread.join(timeout=5)
        os.close(self._read)
        os.close(self._write)


HEALTH_INTERVAL = 10.0


class _HealthChecks:
    """The registry's health monitor, on its own event loop in a thread, while the mesh runs.

    Every instance's grpc.health.v1 or HTTP health check is run every
    ``HEALTH_INTERVAL`` seconds (the first pass at once), so discovery,
    ``meshctl check`` and ``meshctl top`` show real health, not "unknown".
    """

    def __init__(self, settings: Mapping[str, str]) -> None:
        self._settings: dict[str, Any] = dict(settings)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="health-monitor", daemon=True)

    def _run(self) -> None:
        from meshctl.config import MeshSettings
        from meshctl.registry import HealthMonitor, open_registry
        from meshctl.transport.tls import tls_files

        async def monitor() -> None:
            settings = MeshSettings(**self._settings)
            registry = open_registry(settings)
            tls = tls_files(settings)
            try:
                async with HealthMonitor(registry, interval=HEALTH_INTERVAL, tls=tls):
                    await asyncio.to_thread(self._stop.wait)
            finally:
                await registry.aclose()

        asyncio.run(monitor())

    def __enter__(self) -> _HealthChecks:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


@dataclass(slots=True)
class _Mesh:
    supervisor: Supervisor
    settings: dict[str, str]
    """The ``MeshSettings`` values other commands need to reach this mesh."""
    infra: InfraWatch
    certs: MeshCertificates | None = None
    """The mesh CA's certificates to renew; None in plain text or with supplied files."""


def _start(options: MeshOptions, stack: ExitStack, out: Report, stop: threading.Event) -> _Mesh:
    """Bring up (or take from the environment) the registry and broker, then spawn the services."""
    infra = options.infra
    watch = InfraWatch(out)
    out(f"run directory: {options.run_dir}")
    redis_url = infra.redis_url
    if redis_url is None:
        from meshctl.embedded.redis import EmbeddedRedis

        registry = stack.enter_context(EmbeddedRedis())
        redis_url = registry.url
        out(f"registry: {redact_url(redis_url)} (embedded {registry.backend})")
        watch.watch("registry", redis_url, lambda: registry.running, registry.restart)
    else:
        out(f"registry: {redact_url(redis_url)}")
    bootstrap = infra.kafka_bootstrap
    if bootstrap is None:
        from meshctl.embedded.broker import EmbeddedBroker

        broker = stack.enter_context(EmbeddedBroker())
        bootstrap = broker.bootstrap
        out(f"broker: {bootstrap} (embedded)")
        watch.watch("broker", bootstrap, lambda: broker.running, broker.start)
    else:
        out(f"broker: {bootstrap}")
    database_url = infra.database_url or embedded_database_url(options.run_dir)
    out(f"database: {redact_url(database_url)}")
    extra_env = {}
    if not (os.environ.get("MESH_WEBHOOK_URL") or os.environ.get("MESH_ALERT_RECIPIENTS")):
        from meshctl.embedded.sink import AlertSink

        sink = stack.enter_context(AlertSink(options.run_dir / "alerts.jsonl"))
        extra_env["MESH_WEBHOOK_URL"] = f"{sink.url}/alerts"
        out(f"alerts: {sink.url}/alerts (embedded sink; received alerts in {sink.path})")
    password, where = admin_password(options.context_path.parent, os.environ)
    out(f"admin password: in {where}")
    if stop.is_set():
        raise Interrupted("interrupted before the mesh was ready")
    specs = plan_processes(
        options.replicas,
        python=options.python,
        registry_url=redis_url,
        prefix=options.prefix,
        kafka_bootstrap=bootstrap,
        database_url=database_url,
        # The user's secret when given; else one per run, shared by the auth replicas.
        jwt_secret=os.environ.get("MESH_JWT_SECRET") or secrets.token_urlsafe(32),
        admin_password=password,
        extra_env=extra_env,
    )
    settings = {
        "redis_url": redis_url,
        "kafka_bootstrap": bootstrap,
        "database_url": database_url,
        "prefix": options.prefix,
    }
    certs, specs, tls = mesh_tls(
        specs,
        enabled=options.tls,
        state_dir=options.context_path.parent,
        run_dir=options.run_dir,
        trust_domain=options.trust_domain,
        hours=options.cert_hours,
    )
    settings |= tls
    supervisor = Supervisor(specs, options.run_dir, grace=options.grace, report=out)
    stack.callback(supervisor.stop)
    out(_tls_line(certs, tls))
    return _Mesh(supervisor, settings, watch, certs)


def _tls_line(certs: MeshCertificates | None, tls: Mapping[str, str]) -> str:
    if certs is not None:
        return f"mTLS: mesh CA {certs.ca_path}, certificates in {certs.directory}"
    if tls:
        return f"mTLS: with the files MESH_TLS_CA ({tls['tls_ca']}) and the rest name"
    return "mTLS: off (plain text)"


async def _wait_ready(
    options: MeshOptions, mesh: _Mesh, out: Report, stop: threading.Event
) -> dict[str, list[str]]:
    """Start the services and poll the registry until every expected instance is there.

    Returns each service's new instance addresses. Instances registered
    before the services started (an earlier run's, not yet lapsed) do not count.
    """
    from meshctl.config import MeshSettings
    from meshctl.registry import open_registry

    supervisor = mesh.supervisor
    settings = MeshSettings(redis_url=mesh.settings["redis_url"], prefix=options.prefix)
    registry = open_registry(settings)
    try:
        old = {e.instance_id for eps in (await registry.snapshot()).values() for e in eps}
        supervisor.start()
        seen: dict[str, list[str]] = {name: [] for name, n in options.replicas.items() if n}
        deadline = time.monotonic() + options.ready_timeout
        while True:
            for name, endpoints in (await registry.snapshot()).items():
                for ep in endpoints:
                    if name in seen and ep.instance_id not in old:
                        old.add(ep.instance_id)
                        seen[name].append(ep.address)
                        out(f"  {name} {ep.protocol}://{ep.address} registered")
            missing = [n for n, addrs in seen.items() if len(addrs) < options.replicas[n]]
            if not missing:
                return seen
            _check_alive(supervisor)
            if stop.is_set():
                raise Interrupted("interrupted before the mesh was ready")
            if time.monotonic() > deadline:
                raise MeshStartError(
                    _not_ready(
                        supervisor, missing, f"did not register within {options.ready_timeout:g}s"
                    )
                )
            await asyncio.sleep(POLL_INTERVAL)
    finally:
        await registry.aclose()


def _check_alive(supervisor: Supervisor) -> None:
    """Fail start-up as soon as a child exits: restarting would only hide the error."""
    dead = supervisor.exited()
    if dead:
        child = dead[0]
        code = child.process.returncode if child.process else None
        raise MeshStartError(
            f"{child.spec.name} exited with {code} during start-up; "
            f"log {child.log_path}:\n{supervisor.log_tail(child)}"
        )


def _not_ready(supervisor: Supervisor, services: list[str], why: str) -> str:
    """An error naming each missing service, with the tail of its first instance's log."""
    lines = [f"{', '.join(services)} {why}"]
    for child in supervisor.children:
        if child.spec.service in services:
            lines.append(f"--- {child.log_path} (last lines):")
            lines.append(supervisor.log_tail(child) or "(empty)")
            services = [s for s in services if s != child.spec.service]
    return "\n".join(lines)


def _publish(
    options: MeshOptions, mesh: _Mesh, instances: Mapping[str, list[str]], stack: ExitStack
) -> None:
    """Write the context file other commands read, and remove it when the mesh stops."""
    from meshctl.config import UpContext, write_up_context

    services = {
        (name if i == 0 else f"{name}-{i + 1}"): address
        for name, addresses in instances.items()
        for i, address in enumerate(addresses)
    }
    context = UpContext(settings=dict(mesh.settings), services=services)
    write_up_context(context, options.context_path)
    stack.callback(_remove_own_context, options.context_path)


def _remove_own_context(path: Path) -> None:
    """Remove the context file unless another mesh has replaced it since."""
    from meshctl.config import read_up_context, remove_up_context

    try:
        current = read_up_context(path)
    except MeshError:
        current = None
    if current is None or current.pid == os.getpid():
        remove_up_context(path)
