"""The bus's outbox: records waiting for the one task that sends them, in publish order.

A bounded list rather than an ``asyncio.Queue``: a publish appends without
a queue's per-item bookkeeping, and the sending task takes everything that
is waiting at once, so the broker gets one batch per partition per round
however many callers published meanwhile. A full outbox makes ``put`` wait
(backpressure); ``join`` waits until every item taken has been handled.
"""

from __future__ import annotations

import asyncio
from typing import Generic, TypeVar

T = TypeVar("T")


class Outbox(Generic[T]):
    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("an outbox holds at least one item")
        self._capacity = capacity
        self._items: list[T] = []
        self._unfinished = 0
        self._ready = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        self._idle = asyncio.Event()
        self._idle.set()

    def __len__(self) -> int:
        return len(self._items)

    def offer(self, item: T) -> bool:
        """Append ``item`` if there is room (no coroutine: the usual case of a publish)."""
        if len(self._items) >= self._capacity:
            return False
        self._append(item)
        return True

    async def put(self, item: T) -> None:
        """Append ``item``, waiting while the outbox is full."""
        while len(self._items) >= self._capacity:
            self._room.clear()
            await self._room.wait()
        self._append(item)

    def _append(self, item: T) -> None:
        self._items.append(item)
        self._unfinished += 1
        self._idle.clear()
        self._ready.set()

    async def take(self, limit: int) -> list[T]:
        """The oldest ``limit`` items (at least one, waiting for it); ``done()`` them after."""
        while not self._items:
            self._ready.clear()
            await self._ready.wait()
        if len(self._items) <= limit:
            taken, self._items = self._items, []
        else:
            taken = self._items[:limit]
            del self._items[:limit]
        self._room.set()
        return taken

    def done(self, count: int) -> None:
        """``count`` taken items are handled."""
        self._unfinished -= count
        if self._unfinished == 0:
            self._idle.set()

    async def join(self) -> None:
        """Wait until every item put has been taken and handled."""
        await self._idle.wait()
