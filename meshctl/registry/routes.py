"""Route tables in Redis: versioned writes, history, rollback, and the clients' cached copy.

Every change (set, delete, rollback) is a new revision of the service's table,
written with its history in one optimistic transaction; a table is validated
(``core.routing.parse_table``) before it is written, so a malformed one never
reaches a client. Clients keep every
table in memory (``RouteCache``): read at start, and again within a second of
any change (each write bumps a version counter the clients poll).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Mapping
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError, WatchError

from meshctl.core.lifecycle import AsyncLifecycle
from meshctl.core.routing import RouteError, RouteTable, parse_table
from meshctl.registry.keys import route_history_key, routes_key, routes_version_key
from meshctl.registry.problems import brief
from meshctl.registry.tasks import cancel_and_wait

log = logging.getLogger(__name__)

HISTORY = 50
"""Revisions kept per service."""


def _record(raw: bytes | str | None) -> dict[str, Any] | None:
    if raw is None:
        return None
    try:
        record = json.loads(raw)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


async def _write(
    redis: Redis, prefix: str, service: str, document: Mapping[str, Any] | None, action: str
) -> int:
    """Store ``document`` (None: delete) as the service's next revision; returns it."""
    key, history = routes_key(prefix), route_history_key(prefix, service)
    async with redis.pipeline(transaction=True) as pipe:
        while True:
            try:
                await pipe.watch(key, history)
                # the newest history entry: the current table's, or a deletion's
                latest = _record(await pipe.lindex(history, 0)) or {}
                revision = int(latest.get("revision", 0)) + 1
                record = {"revision": revision, "at": time.time(), "action": action,
                          "document": document}  # fmt: skip
                text = json.dumps(record)
                pipe.multi()  # type: ignore[no-untyped-call]
                if document is None:
                    pipe.hdel(key, service)
                else:
                    pipe.hset(key, service, text)
                pipe.lpush(history, text)
                pipe.ltrim(history, 0, HISTORY - 1)
                pipe.incr(routes_version_key(prefix))
                await pipe.execute()
                return revision
            except WatchError:
                continue  # another writer was first: read its revision and go again


async def set_table(redis: Redis, prefix: str, document: Any, action: str = "set") -> RouteTable:
    """Validate and store ``document`` as its service's table (``action`` is what its
    history says of the change); raises RouteError."""
    table = parse_table(document)
    revision = await _write(redis, prefix, table.service, table.document, action)
    return parse_table(table.document, revision)


async def delete_table(redis: Redis, prefix: str, service: str) -> int | None:
    """Remove the service's table (a revision of its own); None when it had none."""
    if await redis.hget(routes_key(prefix), service) is None:
        return None
    return await _write(redis, prefix, service, None, "delete")


async def history(redis: Redis, prefix: str, service: str) -> list[dict[str, Any]]:
    """The service's revisions, newest first (unreadable entries left out)."""
    raws = await redis.lrange(route_history_key(prefix, service), 0, -1)
    return [r for r in map(_record, raws) if r is not None]


async def rollback(redis: Redis, prefix: str, service: str, to: int | None = None) -> RouteTable:
    """Make revision ``to`` (default: the one before the current) current again, as a new
    revision. Raises RouteError when there is no such revision."""
    revisions = await history(redis, prefix, service)
    if not revisions:
        raise RouteError(f"{service} has no route history")
    target: dict[str, Any] | None
    if to is None:
        if len(revisions) < 2:
            raise RouteError(f"{service} has only revision {revisions[0].get('revision')}")
        target = revisions[1]
    else:
        target = next((r for r in revisions if r.get("revision") == to), None)
        if target is None:
            kept = ", ".join(str(r.get("revision")) for r in revisions)
            raise RouteError(f"{service} has no revision {to} (kept: {kept})")
    document = target.get("document")
    if document is None:  # rolling back to a deletion
        revision = await _write(redis, prefix, service, None, f"rollback to {target['revision']}")
        return RouteTable(service, {}, (), revision=revision)
    table = parse_table(document)
    revision = await _write(
        redis, prefix, service, table.document, f"rollback to {target['revision']}"
    )
    return parse_table(table.document, revision)


async def read_tables(redis: Redis, prefix: str) -> tuple[dict[str, RouteTable], list[str]]:
    """Every current table, and one line per stored record that is not a valid one."""
    tables, problems = {}, []
    raw: dict[Any, Any] = await redis.hgetall(routes_key(prefix))
    for key, value in raw.items():
        service = key.decode(errors="replace") if isinstance(key, bytes) else str(key)
        record = _record(value)
        try:
            if record is None:
                raise RouteError("not a JSON object")
            tables[service] = parse_table(record.get("document"), int(record.get("revision", 0)))
        except (RouteError, TypeError, ValueError) as exc:
            problems.append(f"route table of {service!r} is not valid ({exc}): {brief(value)}")
    return tables, problems


class RouteCache(AsyncLifecycle):
    """The mesh's route tables, kept in memory by a client; ``get`` never waits on Redis.

    Every ``interval`` seconds the cache reads the tables' version counter (one
    GET) and re-reads the tables only when it moved, so a change reaches every
    client within about ``interval``."""

    def __init__(self, redis: Redis, prefix: str, *, interval: float = 1.0) -> None:
        self.redis, self.prefix = redis, prefix
        self.interval = interval
        self.tables: dict[str, RouteTable] = {}
        self._version: bytes | str | None = None
        self._task: asyncio.Task[None] | None = None
        self._failing = False

    def get(self, service: str) -> RouteTable | None:
        return self.tables.get(service)

    async def refresh(self) -> None:
        """Re-read the tables if their version moved; on failure keep the ones held."""
        try:
            version = await self.redis.get(routes_version_key(self.prefix))
            if version == self._version and not self._failing:
                return
            tables, problems = await read_tables(self.redis, self.prefix)
        except (RedisError, OSError) as exc:
            if not self._failing:
                log.warning("Could not read route tables, keeping the last ones: %s", exc)
            self._failing = True
            return
        self._failing = False
        for line in problems:
            log.warning("Ignoring a %s", line)
        self.tables, self._version = tables, version

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await self.refresh()

    async def start(self) -> None:
        await self.refresh()
        self._task = asyncio.create_task(self._loop(), name="routes-refresh")

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None
