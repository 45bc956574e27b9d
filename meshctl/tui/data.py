"""Fetch what ``meshctl top`` shows in one Redis round trip, whatever the mesh's size.

The registry's snapshot script and the control plane's report script run as
two EVALSHA in one non-transactional pipeline. A server that does not know
a script yet (first use, or after SCRIPT FLUSH) answers NOSCRIPT; the
scripts are then loaded and the pipeline sent once more.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import NoScriptError

from meshctl.mesh.control import _READ as READ_REPORTS
from meshctl.mesh.control import _keys as report_keys
from meshctl.registry import ServiceRegistry
from meshctl.registry.connection import translated
from meshctl.registry.keys import service_base, services_key
from meshctl.registry.scripts import SNAPSHOT
from meshctl.tui.model import MeshState

logger = logging.getLogger(__name__)


def _sha(script: str) -> str:
    return hashlib.sha1(script.encode()).hexdigest()


def parse_reports(raw: Sequence[Any] | None) -> list[dict[str, Any]]:
    """Client reports from the script's reply; unreadable ones are skipped with a warning."""
    reports = []
    for item in raw or ():
        try:
            report = json.loads(item) if item is not None else None
        except ValueError:
            report = None
        if isinstance(report, dict) and "client_id" in report:
            reports.append(report)
        elif item is not None:
            logger.warning("skipping an unreadable client report")
    return reports


class MeshReader:
    """Reads the mesh's state; keeps parsed endpoints between fetches (they rarely change).

    Args:
        redis: a client of the registry's Redis (or a URL).
        prefix: the registry key prefix.
        clock: wall-clock seconds stamped on each state.
    """

    def __init__(
        self,
        redis: aioredis.Redis | str,
        prefix: str,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.registry = ServiceRegistry(redis, prefix)
        self.redis = self.registry.redis
        self.prefix = prefix
        self._clock = clock
        self._scripts = ((_sha(SNAPSHOT), SNAPSHOT), (_sha(READ_REPORTS), READ_REPORTS))

    async def fetch(self) -> MeshState:
        """Every live instance and client report; RegistryUnavailableError if Redis is away."""
        with translated(self.registry.url):
            rows, raw_reports = await self._round_trip()
        # the registry's own parser, so its cache of unchanged records is reused
        services = {
            _text(row[0]): self.registry._build(_text(row[0]), row[1:]) for row in rows or ()
        }
        return MeshState(self._clock(), dict(sorted(services.items())), parse_reports(raw_reports))

    async def _round_trip(self) -> list[Any]:
        results = await self._send()
        if any(isinstance(r, NoScriptError) for r in results):
            for _, script in self._scripts:
                await self.redis.script_load(script)
            results = await self._send()
        for result in results:
            if isinstance(result, Exception):
                raise result
        return results

    async def _send(self) -> list[Any]:
        """Both scripts in one pipeline: one round trip; errors come back as values."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.evalsha(
                self._scripts[0][0],
                1,
                services_key(self.prefix),
                self.registry.events_channel,
                service_base(self.prefix),
                "1",
            )
            pipe.evalsha(self._scripts[1][0], 2, *report_keys(self.prefix))
            results: list[Any] = await pipe.execute(raise_on_error=False)
        return results

    async def aclose(self) -> None:
        await self.registry.aclose()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


async def fetch_mesh_state(redis: aioredis.Redis | str, prefix: str) -> MeshState:
    """One fetch of the mesh's state (``meshctl top --once``); see MeshReader."""
    reader = MeshReader(redis, prefix)
    try:
        return await reader.fetch()
    finally:
        await reader.aclose()
