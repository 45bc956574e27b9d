"""Group commit: items submitted close together are written by one call, each answered after.

``submit(item)`` queues an item and returns a future of its result. One
flusher task (started by the first item, gone once the queue is empty) writes
the queue in batches: a batch closes ``window`` seconds after its oldest item
arrived or when it holds ``max_batch`` items, whichever comes first. While a
batch is being written the next one fills, so under load batches grow by
themselves and nobody waits for the window.

``write(batch)`` returns one result per item, in order, and each item's future
gets its own. When ``write`` raises for a batch of several items, every item
is written again on its own, so a bad item fails only its own future. A
future resolves only after ``write`` has returned for its item: an answer
given on it is an item written. Cancelling a future does not withdraw its
item (await it through ``asyncio.shield`` to leave it be).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

_Entry = tuple[T, asyncio.Future[R], float]


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class GroupCommit(Generic[T, R]):
    """Writes submitted items in batches through ``write``; see the module docstring."""

    def __init__(
        self,
        write: Callable[[Sequence[T]], Awaitable[Sequence[R]]],
        *,
        window: float,
        max_batch: int,
    ) -> None:
        if window < 0 or max_batch < 1:
            raise ValueError(f"window {window} must be >= 0 and max_batch {max_batch} >= 1")
        self._write = write
        self.window = window
        self.max_batch = max_batch
        self._queue: list[_Entry[T, R]] = []
        self._writing: list[_Entry[T, R]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._full: asyncio.Future[None] | None = None

    def submit(self, item: T) -> asyncio.Future[R]:
        """Queue ``item``; the future resolves once it is written, or fails with the error."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        self._queue.append((item, future, loop.time()))
        if self._flusher is None:
            self._flusher = loop.create_task(self._flush_all())
        elif len(self._queue) >= self.max_batch and self._full is not None:
            _wake(self._full)
        return future

    async def drain(self) -> None:
        """Return once every item submitted so far is written (or failed)."""
        while self._flusher is not None:
            await asyncio.shield(self._flusher)

    async def _flush_all(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._queue:
                wait = self._queue[0][2] + self.window - loop.time()
                if wait > 0 and len(self._queue) < self.max_batch:
                    self._full = loop.create_future()
                    timer = loop.call_later(wait, _wake, self._full)
                    await self._full
                    timer.cancel()
                    self._full = None
                self._writing = self._queue[: self.max_batch]
                del self._queue[: self.max_batch]
                await self._flush(self._writing)
                self._writing = []
        except BaseException as exc:  # cancelled: nothing outstanding may wait forever
            for _, future, _ in (*self._writing, *self._queue):
                if not future.done():
                    future.set_exception(RuntimeError(f"group commit stopped: {exc!r}"))
            self._writing, self._queue = [], []
            raise
        finally:
            self._flusher = None

    async def _flush(self, batch: Sequence[_Entry[T, R]]) -> None:
        try:
            results = await self._write([item for item, _, _ in batch])
        except Exception as exc:
            if len(batch) > 1:
                for entry in batch:
                    await self._flush((entry,))
            elif not batch[0][1].done():
                batch[0][1].set_exception(exc)
            return
        for (_, future, _), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)
