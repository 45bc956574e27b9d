"""The demo's own mesh: registry, broker, the four services (analytics twice), a crash on cue.

Built from the blocks ``meshctl up`` uses (embedded Redis and broker, the
process plan, the supervisor), but owned by one async block: everything it
started is stopped when the block ends, whatever happened inside. The second
analytics instance is the *victim*: the demo SIGKILLs it (its registry record
stays, as after a crash) and later starts a new process on the same port.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import re
import secrets
import signal
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from meshctl.config import MeshSettings, up_state_path
from meshctl.core.endpoint import ServiceEndpoint
from meshctl.core.identity import DEFAULT_TRUST_DOMAIN
from meshctl.core.secrets import redact_url
from meshctl.embedded.plan import InfraPlan, ProcessSpec, embedded_database_url, plan_processes
from meshctl.embedded.state import admin_password
from meshctl.embedded.supervisor import Child, Supervisor
from meshctl.embedded.tls import mesh_tls
from meshctl.errors import MeshError
from meshctl.registry import ServiceRegistry, open_registry

Say = Callable[[str], None]

REPLICAS: Mapping[str, int] = {"streaming": 1, "analytics": 2, "alert": 1, "auth": 1}
VICTIM = "analytics-2"
POLL = 0.1
_LISTENING = re.compile(r"listening on \S+:(\d+)\s*$", re.MULTILINE)


class DemoMeshError(MeshError):
    """A service of the demo's mesh did not come up."""


@dataclass(slots=True)
class DemoMesh:
    """A running demo mesh: where it is, its instances, and the victim to crash."""

    settings: MeshSettings
    registry: ServiceRegistry
    infrastructure: dict[str, str]
    run_dir: Path
    supervisors: list[Supervisor]
    endpoints: dict[str, list[ServiceEndpoint]] = field(default_factory=dict)
    victim: ServiceEndpoint | None = None
    ready_timeout: float = 60.0

    def pids(self) -> list[int]:
        """Every service process the mesh has started and not yet reaped."""
        return [pid for sup in self.supervisors for pid in sup.pids().values()]

    def _victim_child(self) -> Child:
        return next(c for c in self.supervisors[0].children if c.spec.name == VICTIM)

    def crash_victim(self) -> ServiceEndpoint:
        """SIGKILL the victim: no deregistration, its record stays as after a crash."""
        assert self.victim is not None
        process = self._victim_child().process
        if process is not None:
            process.send_signal(signal.SIGKILL)
            process.wait()
        return self.victim

    async def restart_victim(self) -> ServiceEndpoint:
        """Start a new victim process on the crashed one's port; returns its registration."""
        assert self.victim is not None
        spec = self._victim_child().spec
        argv = list(spec.argv)
        argv[argv.index("--port") + 1] = str(self.victim.port)
        restarted = dataclasses.replace(spec, name=f"{VICTIM}-restarted", argv=tuple(argv))
        supervisor = Supervisor([restarted], self.run_dir, grace=5.0, report=lambda _: None)
        self.supervisors.append(supervisor)
        known = await self._instance_ids()
        supervisor.start()
        found = await self._await_new({"analytics": 1}, known, [supervisor])
        return found["analytics"][0]

    async def _instance_ids(self) -> set[str]:
        return {ep.instance_id for eps in (await self.registry.snapshot()).values() for ep in eps}

    async def _await_new(
        self, want: Mapping[str, int], known: set[str], supervisors: Iterable[Supervisor]
    ) -> dict[str, list[ServiceEndpoint]]:
        """Poll the registry until ``want`` new instances per service have registered."""
        seen: dict[str, list[ServiceEndpoint]] = {name: [] for name in want}
        deadline = time.monotonic() + self.ready_timeout
        while True:
            for name, endpoints in (await self.registry.snapshot()).items():
                for ep in endpoints:
                    if name in seen and ep.instance_id not in known:
                        known.add(ep.instance_id)
                        seen[name].append(ep)
            missing = [name for name, n in want.items() if len(seen[name]) < n]
            if not missing:
                return seen
            for supervisor in supervisors:
                for child in supervisor.exited():
                    raise DemoMeshError(
                        f"{child.spec.name} exited during start-up; log {child.log_path}:\n"
                        + supervisor.log_tail(child)
                    )
            if time.monotonic() > deadline:
                raise DemoMeshError(
                    f"{', '.join(missing)} did not register within {self.ready_timeout:g}s; "
                    f"logs in {self.run_dir}"
                )
            await asyncio.sleep(POLL)


def bound_port(log: str) -> int | None:
    """The port a ``meshctl serve`` child reported listening on, from its log."""
    match = _LISTENING.search(log)
    return int(match.group(1)) if match else None


@asynccontextmanager
async def demo_mesh(
    infra: InfraPlan,
    *,
    prefix: str,
    run_dir: Path,
    service_env: Mapping[str, str],
    say: Say,
    python: str,
    ready_timeout: float = 60.0,
    tls: bool = True,
) -> AsyncIterator[DemoMesh]:
    """Start the demo's mesh, yield it once every instance has registered, then stop it all.

    Args:
        infra: the registry, broker and database to use; ``None`` parts are embedded.
        prefix: the registry's key prefix.
        run_dir: where the services' logs (and the SQLite database) go.
        service_env: extra environment for every service (e.g. ``MESH_WEBHOOK_URL``).
        say: where progress lines go.
        python: the interpreter that runs ``meshctl serve``.
        ready_timeout: seconds every instance gets to register.
        tls: mTLS between every process, certificates from the mesh CA; False: plain text.

    Raises:
        DemoMeshError: a service exited or did not register in time.
        InfrastructureError: the embedded registry or broker did not start.
    """
    async with AsyncExitStack() as stack:
        infrastructure: dict[str, str] = {}
        redis_url = infra.redis_url
        if redis_url is None:
            from meshctl.embedded.redis import EmbeddedRedis

            redis = stack.enter_context(EmbeddedRedis())
            redis_url = redis.url
            infrastructure["registry"] = f"{redact_url(redis_url)} (embedded {redis.backend})"
        else:
            infrastructure["registry"] = redis_url
        bootstrap = infra.kafka_bootstrap
        if bootstrap is None:
            from meshctl.embedded.broker import EmbeddedBroker

            bootstrap = (await stack.enter_async_context(EmbeddedBroker())).bootstrap
            infrastructure["broker"] = f"{bootstrap} (embedded)"
        else:
            infrastructure["broker"] = bootstrap
        database_url = infra.database_url or embedded_database_url(run_dir)
        infrastructure["database"] = database_url
        say(f"registry {infrastructure['registry']}, broker {infrastructure['broker']}")
        password, where = admin_password(up_state_path().parent, os.environ)
        say(f"admin password: in {where}")
        specs = [
            dataclasses.replace(spec, env={**spec.env, **service_env})
            for spec in plan_processes(
                REPLICAS,
                python=python,
                registry_url=redis_url,
                prefix=prefix,
                kafka_bootstrap=bootstrap,
                database_url=database_url,
                jwt_secret=os.environ.get("MESH_JWT_SECRET") or secrets.token_urlsafe(32),
                admin_password=password,
            )
        ]
        _, specs, tls_settings = mesh_tls(
            specs,
            enabled=tls,
            state_dir=up_state_path().parent,
            run_dir=run_dir,
            trust_domain=DEFAULT_TRUST_DOMAIN,
            hours=1,  # the demo lasts minutes
        )
        settings = MeshSettings(
            redis_url=redis_url,
            kafka_bootstrap=bootstrap,
            database_url=database_url,
            prefix=prefix,
        ).model_copy(update=tls_settings)
        registry = open_registry(settings)
        stack.push_async_callback(registry.aclose)
        supervisor = Supervisor(specs, run_dir, grace=5.0, report=say)
        mesh = DemoMesh(
            settings=settings,
            registry=registry,
            infrastructure=infrastructure,
            run_dir=run_dir,
            supervisors=[supervisor],
            ready_timeout=ready_timeout,
        )
        stack.push_async_callback(_stop, mesh)
        known = await mesh._instance_ids()
        say(f"starting {len(specs)} service processes (logs in {run_dir})")
        supervisor.start()
        mesh.endpoints = await mesh._await_new(REPLICAS, known, [supervisor])
        mesh.victim = _find_victim(mesh, specs)
        yield mesh


def _find_victim(mesh: DemoMesh, specs: list[ProcessSpec]) -> ServiceEndpoint:
    """The registered endpoint of the victim child, matched by the port its log reports."""
    child = mesh._victim_child()
    port = bound_port(mesh.supervisors[0].log_tail(child, lines=50))
    for ep in mesh.endpoints["analytics"]:
        if ep.port == port:
            return ep
    raise DemoMeshError(f"cannot tell which analytics instance is {VICTIM}; log {child.log_path}")


async def _stop(mesh: DemoMesh) -> None:
    """Stop every service (they deregister), then drop the crashed victim's stale record."""
    for supervisor in reversed(mesh.supervisors):
        await asyncio.to_thread(supervisor.stop)
    if mesh.victim is not None:
        try:
            await mesh.registry.deregister_service("analytics", mesh.victim.instance_id)
        except MeshError:  # the registry went first: nothing left to clean
            pass
