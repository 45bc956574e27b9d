"""One ``with``/``async with`` shape for the embedded processes (registry, broker, sink)."""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import Self


class Lifecycle:
    """Gives a class with blocking ``start() -> Self`` and ``stop()`` both context-manager forms.

    The async form runs them in a worker thread: starting a broker or a
    redis-server waits on a subprocess, which must not block the event loop.
    """

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        return await asyncio.to_thread(self.start)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.stop)
