"""The whole mesh in one Redis round trip: every live instance and every client report.

The registry's snapshot script and the control plane's report script run as
two EVALSHA in one non-transactional pipeline. A server that does not know
a script yet (first use, or after SCRIPT FLUSH) answers NOSCRIPT; the
scripts are then loaded and the pipeline sent once more.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from redis.exceptions import NoScriptError

from meshctl.core.endpoint import ServiceEndpoint
from meshctl.registry.connection import translated
from meshctl.registry.control import READ_REPORTS, parse_reports
from meshctl.registry.keys import report_keys, service_base, services_key
from meshctl.registry.problems import Problem
from meshctl.registry.redis_registry import ServiceRegistry
from meshctl.registry.scripts import SNAPSHOT


@dataclass(frozen=True, slots=True)
class MeshSnapshot:
    """Every service's live instances (by name), every live mesh client's report,
    and what the read skipped as unreadable (``problems``)."""

    services: Mapping[str, Sequence[ServiceEndpoint]]
    reports: Sequence[Mapping[str, Any]]
    problems: Sequence[Problem] = field(default_factory=tuple)


def _sha(script: str) -> str:
    return hashlib.sha1(script.encode()).hexdigest()


class SnapshotReader:
    """Reads snapshots through a registry, whose cache of parsed records it reuses.

    Args:
        registry: the registry to read (its client and prefix).
    """

    def __init__(self, registry: ServiceRegistry) -> None:
        self.registry = registry
        self._scripts = ((_sha(SNAPSHOT), SNAPSHOT), (_sha(READ_REPORTS), READ_REPORTS))

    async def read(self) -> MeshSnapshot:
        """The mesh now; RegistryUnavailableError if Redis is away."""
        with translated(self.registry.url):
            services_reply, reports_reply = await self._round_trip()
        services = self.registry.read_snapshot(services_reply)
        reports = parse_reports(reports_reply, self.registry.prefix)
        return MeshSnapshot(services, reports, (*services.problems, *reports.problems))

    async def _round_trip(self) -> list[Any]:
        results = await self._send()
        if any(isinstance(r, NoScriptError) for r in results):
            for _, script in self._scripts:
                await self.registry.redis.script_load(script)
            results = await self._send()
        for result in results:
            if isinstance(result, Exception):
                raise result
        return results

    async def _send(self) -> list[Any]:
        """Both scripts in one pipeline: one round trip; errors come back as values."""
        prefix = self.registry.prefix
        async with self.registry.redis.pipeline(transaction=False) as pipe:
            pipe.evalsha(
                self._scripts[0][0],
                1,
                services_key(prefix),
                self.registry.events_channel,
                service_base(prefix),
                "1",
            )
            pipe.evalsha(self._scripts[1][0], 2, *report_keys(prefix))
            results: list[Any] = await pipe.execute(raise_on_error=False)
        return results
