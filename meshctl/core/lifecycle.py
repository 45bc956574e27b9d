"""The ``with``/``async with`` shapes of everything that starts and stops.

A class defines ``start()`` and ``stop()`` and inherits the context-manager
forms from one of these, instead of writing ``__aenter__``/``__aexit__``
again:

    AsyncLifecycle   async start()/stop(): clients, watchers, buses, servers
    Lifecycle        blocking start()/stop(): processes the embedded mesh runs;
                     ``async with`` runs them in a worker thread
"""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import Any, Self


class AsyncLifecycle:
    """``async with obj:`` awaits ``obj.start()`` going in and ``obj.stop()`` going out."""

    async def start(self) -> Any:
        raise NotImplementedError

    async def stop(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


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
