"""Revoked token ids (a token's ``jti`` or its login session's ``fam``), each until it expires.

With the registry's Redis every auth instance of the mesh shares one list,
so a token revoked through one instance is refused by all of them at their
next check; without it (an auth service built on its own, as in tests) the
list is this process's, bounded in size.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Protocol

import redis.asyncio as aioredis

from meshctl.registry.connection import connect, describe, translated
from meshctl.registry.keys import revoked_token_key


class Revocations(Protocol):
    """Where revoked ids are kept."""

    async def revoke(self, token_id: str, until: float) -> bool:
        """Revoke ``token_id`` until ``until`` (epoch seconds); False if it already was."""

    async def any_revoked(self, token_ids: Iterable[str]) -> bool:
        """Whether any of ``token_ids`` is revoked."""

    async def aclose(self) -> None: ...


class MemoryRevocations:
    """Revocations in this process; past ``max_entries`` the oldest revocations are dropped."""

    def __init__(self, clock: Callable[[], float], max_entries: int = 100_000) -> None:
        self._clock = clock
        self._max = max_entries
        self._until: OrderedDict[str, float] = OrderedDict()

    async def revoke(self, token_id: str, until: float) -> bool:
        now = self._clock()
        if self._until.get(token_id, now) > now:
            return False
        self._until[token_id] = until
        self._until.move_to_end(token_id)
        if len(self._until) > self._max:
            for expired in [k for k, t in self._until.items() if t <= now]:
                del self._until[expired]
        while len(self._until) > self._max:
            self._until.popitem(last=False)
        return True

    async def any_revoked(self, token_ids: Iterable[str]) -> bool:
        now = self._clock()
        return any(self._until.get(token_id, now) > now for token_id in token_ids)

    async def aclose(self) -> None:
        self._until.clear()


class RedisRevocations:
    """Revocations in Redis, one key per id expiring with it (``keys.revoked_token_key``)."""

    def __init__(
        self, target: aioredis.Redis | str, prefix: str, clock: Callable[[], float]
    ) -> None:
        self._redis, self._owned = connect(target)
        self._url = target if isinstance(target, str) else describe(self._redis)
        self._prefix = prefix
        self._clock = clock

    async def revoke(self, token_id: str, until: float) -> bool:
        ttl_ms = math.ceil((until - self._clock()) * 1000)
        if ttl_ms <= 0:
            return True  # expired already: nothing will accept it anyway
        with translated(self._url):
            created = await self._redis.set(
                revoked_token_key(self._prefix, token_id), "1", px=ttl_ms, nx=True
            )
        return bool(created)

    async def any_revoked(self, token_ids: Iterable[str]) -> bool:
        keys = [revoked_token_key(self._prefix, token_id) for token_id in token_ids]
        if not keys:
            return False
        with translated(self._url):
            return bool(await self._redis.exists(*keys))

    async def aclose(self) -> None:
        if self._owned:
            await self._redis.aclose()
