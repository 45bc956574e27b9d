"""What ``meshctl top`` reads: the registry's one-round-trip snapshot, stamped with the time."""

from __future__ import annotations

import time
from collections.abc import Callable

from meshctl.registry import ServiceRegistry
from meshctl.registry.snapshot import SnapshotReader
from meshctl.tui.model import MeshState


class MeshReader:
    """Reads the mesh's state; keeps parsed endpoints between fetches (they rarely change).

    Args:
        registry: the registry to read.
        clock: wall-clock seconds stamped on each state.
    """

    def __init__(
        self, registry: ServiceRegistry, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.registry = registry
        self._reader = SnapshotReader(registry)
        self._clock = clock

    async def fetch(self) -> MeshState:
        """Every live instance and client report; RegistryUnavailableError if Redis is away."""
        snapshot = await self._reader.read()
        return MeshState(self._clock(), snapshot.services, snapshot.reports)

    async def aclose(self) -> None:
        await self.registry.aclose()
