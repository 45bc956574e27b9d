"""Pure planning for ``meshctl up``: replica specs, what to start, how to restart.

Nothing here touches a socket or a process; the supervisor and the command
act on what these functions decide.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from meshctl.errors import InvalidRequestError

SERVICES: tuple[str, ...] = ("streaming", "analytics", "alert", "auth")
MAX_REPLICAS = 16

_REPLICA = re.compile(r"^\s*([a-z][a-z0-9_-]*)\s*=\s*(\d+)\s*$")


class ReplicaSpecError(InvalidRequestError):
    """A ``--replicas`` value is malformed or names an unknown service."""


def parse_replicas(specs: Iterable[str]) -> dict[str, int]:
    """Replica counts for every service from ``NAME=N`` items (repeatable, comma-separated).

    Services not named run one instance; ``NAME=0`` leaves a service out.

    Raises:
        ReplicaSpecError: an item is not ``NAME=N``, names an unknown service,
            or asks for more than ``MAX_REPLICAS``.
    """
    counts = dict.fromkeys(SERVICES, 1)
    for spec in specs:
        for item in spec.split(","):
            if not item.strip():
                continue
            match = _REPLICA.match(item)
            if match is None:
                raise ReplicaSpecError(f"bad replica spec {item.strip()!r}: expected NAME=N")
            name, count = match.group(1), int(match.group(2))
            if name not in counts:
                raise ReplicaSpecError(
                    f"unknown service {name!r} in --replicas; known: {', '.join(SERVICES)}"
                )
            if count > MAX_REPLICAS:
                raise ReplicaSpecError(f"{name}={count}: at most {MAX_REPLICAS} replicas")
            counts[name] = count
    if not any(counts.values()):
        raise ReplicaSpecError("--replicas leaves no service to run")
    return counts


@dataclass(frozen=True, slots=True)
class InfraPlan:
    """Infrastructure given by the environment; ``None`` means start an embedded one."""

    redis_url: str | None
    kafka_bootstrap: str | None
    database_url: str | None


def plan_infrastructure(env: Mapping[str, str]) -> InfraPlan:
    """What ``MESH_REDIS_URL``, ``MESH_KAFKA_BOOTSTRAP`` and ``MESH_DATABASE_URL`` provide."""

    def given(name: str) -> str | None:
        return env.get(name, "").strip() or None

    return InfraPlan(
        redis_url=given("MESH_REDIS_URL"),
        kafka_bootstrap=given("MESH_KAFKA_BOOTSTRAP"),
        database_url=given("MESH_DATABASE_URL"),
    )


def embedded_database_url(run_dir: Path) -> str:
    """The services' SQLite files in the run directory without a database given: one each
    (``{service}`` is each service's name), so no service waits for another's write lock."""
    return f"sqlite+aiosqlite:///{run_dir / '{service}.db'}"


@dataclass(frozen=True, slots=True)
class ProcessSpec:
    """One child process to run: a service instance."""

    name: str
    service: str
    argv: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)


def plan_processes(
    replicas: Mapping[str, int],
    *,
    python: str,
    registry_url: str,
    prefix: str,
    kafka_bootstrap: str,
    database_url: str,
    jwt_secret: str,
    admin_password: str,
    extra_env: Mapping[str, str] | None = None,
) -> list[ProcessSpec]:
    """The ``meshctl serve`` children, named ``service-N``, for the replica counts.

    Every auth replica gets the same ``jwt_secret`` so a token one issues, another
    verifies, and the ``admin_password`` of the administrator it creates.
    """
    env = {
        "MESH_REDIS_URL": registry_url,
        "MESH_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "MESH_DATABASE_URL": database_url,
        "MESH_PREFIX": prefix,
        "MESH_JWT_SECRET": jwt_secret,
        "MESH_ADMIN_PASSWORD": admin_password,
        **(extra_env or {}),
    }
    specs: list[ProcessSpec] = []
    for service, count in replicas.items():
        # URLs with passwords and the secrets: the environment carries them,
        # never the command line (which every user of the machine can read in ps).
        argv = (python, "-m", "meshctl", "serve", service, "--port", "0", "--prefix", prefix)
        specs.extend(
            ProcessSpec(name=f"{service}-{i}", service=service, argv=argv, env=env)
            for i in range(1, count + 1)
        )
    return specs


@dataclass(frozen=True, slots=True)
class RestartPolicy:
    """Exponential backoff for children that die, bounded in count.

    A child that stayed up ``stable_after`` seconds starts its count afresh.
    """

    initial: float = 0.5
    factor: float = 2.0
    maximum: float = 10.0
    max_restarts: int = 5
    stable_after: float = 30.0


@dataclass(slots=True)
class RestartBudget:
    """Restart decisions for one child; times come from the caller's clock."""

    policy: RestartPolicy = field(default_factory=RestartPolicy)
    restarts: int = 0

    def on_exit(self, started_at: float, now: float) -> float | None:
        """Seconds to wait before restarting the child that just exited, or ``None`` to give up."""
        if now - started_at >= self.policy.stable_after:
            self.restarts = 0
        if self.restarts >= self.policy.max_restarts:
            return None
        delay = min(self.policy.initial * self.policy.factor**self.restarts, self.policy.maximum)
        self.restarts += 1
        return delay
