"""What ``meshctl top`` reads: the registry's one-round-trip snapshot, stamped with the time,
and every ``ROUTING_EVERY`` seconds the route tables and SLO statuses (several calls)."""

from __future__ import annotations

import time
from collections.abc import Callable

from meshctl.registry import ServiceRegistry
from meshctl.registry.connection import translated
from meshctl.registry.routes import read_tables
from meshctl.registry.sli import read_statuses
from meshctl.registry.snapshot import SnapshotReader
from meshctl.tui.model import MeshState
from meshctl.tui.routing import ROUTING_EVERY, Routing


class MeshReader:
    """Reads the mesh's state; keeps parsed endpoints between fetches (they rarely change).

    Args:
        registry: the registry to read.
        clock: wall-clock seconds stamped on each state.
        routing_every: seconds between reads of the route tables and SLO statuses; the
            states in between carry the last ones read.
    """

    def __init__(
        self,
        registry: ServiceRegistry,
        *,
        clock: Callable[[], float] = time.time,
        routing_every: float = ROUTING_EVERY,
    ) -> None:
        self.registry = registry
        self._reader = SnapshotReader(registry)
        self._clock = clock
        self._routing_every = routing_every
        self._routing = Routing()

    async def fetch(self) -> MeshState:
        """Every live instance and client report; RegistryUnavailableError if Redis is away."""
        snapshot = await self._reader.read()
        now = self._clock()
        last = self._routing.at
        if last is None or now - last >= self._routing_every:
            self._routing = await self.read_routing(now)
        return MeshState(now, snapshot.services, snapshot.reports, self._routing)

    async def read_routing(self, now: float) -> Routing:
        """The route tables and the SLOs' statuses at ``now``."""
        redis, prefix = self.registry.redis, self.registry.prefix
        with translated(self.registry.url):
            tables, problems = await read_tables(redis, prefix)
            statuses, skipped = await read_statuses(redis, prefix, now)
        return Routing(now, tables, statuses, [*problems, *skipped])

    async def aclose(self) -> None:
        await self.registry.aclose()
