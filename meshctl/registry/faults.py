"""Server-side faults in Redis: inject, list, clear, and the servers' cached copy.

Faults live in one hash, a record per fault (``core.faults`` validates each
before it is written and again when it is read: a malformed record is skipped
with a warning). Every write increments a version counter and removes the
records whose time has passed, so the hash holds what is in force and
little more. Servers keep the faults in memory (``FaultCache``): read at
start, and again within a second of any change (the counter is polled, as
``routes.RouteCache`` does).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Collection, Mapping
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from meshctl.core.faults import Fault, FaultError, parse_fault
from meshctl.core.lifecycle import AsyncLifecycle
from meshctl.registry.keys import faults_key, faults_version_key
from meshctl.registry.problems import brief
from meshctl.registry.tasks import cancel_and_wait

log = logging.getLogger(__name__)

FaultTable = dict[str, tuple[Fault, ...]]
"""Service -> its faults, oldest first."""


def _parse(key: Any, value: Any) -> Fault:
    """The fault stored under ``key``; raises FaultError."""
    name = key.decode(errors="replace") if isinstance(key, bytes) else str(key)
    try:
        record = json.loads(value)
    except ValueError:
        raise FaultError(f"fault {name!r} is not valid (not JSON): {brief(value)}") from None
    try:
        fault = parse_fault(record)
    except FaultError as exc:
        raise FaultError(f"fault {name!r} is not valid ({exc}): {brief(value)}") from None
    if fault.id != name:
        raise FaultError(f"fault {name!r} holds the record of {fault.id!r}")
    return fault


async def read_faults(
    redis: Redis, prefix: str, now: float | None = None
) -> tuple[list[Fault], list[str]]:
    """The faults in force at ``now`` (default: the time), oldest first, and one line per
    stored record that is not a valid fault."""
    moment = time.time() if now is None else now
    raw: dict[Any, Any] = await redis.hgetall(faults_key(prefix))
    faults, problems = [], []
    for key, value in raw.items():
        try:
            fault = _parse(key, value)
        except FaultError as exc:
            problems.append(str(exc))
            continue
        if fault.expires_at > moment:
            faults.append(fault)
    return sorted(faults, key=lambda f: (f.created_at, f.id)), problems


async def _write(
    redis: Redis, prefix: str, set_: Mapping[Any, Any], delete: Collection[Any], now: float
) -> None:
    """Set and delete records, pruning expired ones, and bump the version, in one MULTI."""
    raw: dict[Any, Any] = await redis.hgetall(faults_key(prefix))
    expired = []
    for key, value in raw.items():
        try:
            if _parse(key, value).expires_at <= now:
                expired.append(key)
        except FaultError:
            continue  # not ours to judge: left for an operator to see and clear
    async with redis.pipeline(transaction=True) as pipe:
        gone = [*expired, *delete]
        if gone:
            pipe.hdel(faults_key(prefix), *gone)
        if set_:
            pipe.hset(faults_key(prefix), mapping=set_)
        pipe.incr(faults_version_key(prefix))
        await pipe.execute()


async def inject_fault(redis: Redis, prefix: str, fault: Fault) -> Fault:
    """Store ``fault`` (validated again) so every server of its service applies it."""
    checked = parse_fault(fault.record())
    await _write(redis, prefix, {checked.id: json.dumps(checked.record())}, (), time.time())
    return checked


async def clear_faults(
    redis: Redis,
    prefix: str,
    ids: Collection[str] = (),
    *,
    service: str | None = None,
    everything: bool = False,
) -> list[str]:
    """Remove the faults named by id, those of ``service``, or ``everything`` (the
    invalid records too); returns the ids of the faults in force that were removed."""
    now = time.time()
    faults, _ = await read_faults(redis, prefix, now)
    chosen = [
        f.id
        for f in faults
        if everything or f.id in ids or (service is not None and f.service == service)
    ]
    delete: list[Any] = list(ids) + chosen
    if everything:
        delete += list(await redis.hkeys(faults_key(prefix)))
    await _write(redis, prefix, {}, set(delete), now)
    return chosen


def by_service(faults: Collection[Fault]) -> FaultTable:
    table: dict[str, list[Fault]] = {}
    for fault in faults:
        table.setdefault(fault.service, []).append(fault)
    return {service: tuple(found) for service, found in table.items()}


class FaultCache(AsyncLifecycle):
    """The mesh's faults, kept in memory by a server; reading them never waits on Redis.

    Every ``interval`` seconds the cache reads the version counter (one GET)
    and re-reads the faults only when it moved; each new table is handed to
    ``loaded``. When Redis cannot be read the faults held are kept (they
    expire by themselves).
    """

    def __init__(
        self,
        redis: Redis,
        prefix: str,
        loaded: Callable[[FaultTable], None],
        *,
        interval: float = 1.0,
    ) -> None:
        self.redis, self.prefix = redis, prefix
        self.loaded = loaded
        self.interval = interval
        self.faults: FaultTable = {}
        self._version: bytes | str | None = None
        self._task: asyncio.Task[None] | None = None
        self._failing = False

    async def refresh(self) -> None:
        """Re-read the faults if their version moved; on failure keep the ones held."""
        try:
            version = await self.redis.get(faults_version_key(self.prefix))
            if version == self._version and not self._failing:
                return
            faults, problems = await read_faults(self.redis, self.prefix)
        except (RedisError, OSError) as exc:
            if not self._failing:
                log.warning("Could not read faults, keeping the last ones: %s", exc)
            self._failing = True
            return
        self._failing = False
        for line in problems:
            log.warning("Ignoring a %s", line)
        self.faults, self._version = by_service(faults), version
        self.loaded(self.faults)

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await self.refresh()

    async def start(self) -> None:
        await self.refresh()
        self._task = asyncio.create_task(self._loop(), name="faults-refresh")

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None
