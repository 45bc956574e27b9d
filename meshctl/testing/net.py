"""Loopback ports and a TCP proxy that can cut a server off and bring it back."""

from __future__ import annotations

import asyncio
import contextlib
import socket

from meshctl.core.lifecycle import AsyncLifecycle

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    """A loopback port free at the time of the call (bound, read back and released).

    Prefer binding port 0 yourself and reading the port back: another process
    may take this one before you do. Use it where a port must be known first
    (a command line, a config file).
    """
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def closed_port() -> int:
    """A loopback port nothing listens on: connecting to it is refused at once."""
    return free_port()


class TcpProxy(AsyncLifecycle):
    """Forwards loopback connections to ``target``; ``stop`` cuts them, ``start`` comes back.

    The proxy keeps its port across ``stop``/``start``, so a client pointed at
    it sees its server go away and return on the same address (a Redis
    restart, a network partition) while the real server runs undisturbed.

    Args:
        target_port: where connections go.
        target_host: the target's host.
    """

    def __init__(self, target_port: int, target_host: str = LOOPBACK) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._handlers: set[asyncio.Task[None]] = set()

    @property
    def address(self) -> str:
        """``host:port`` of the proxy."""
        return f"{LOOPBACK}:{self.port}"

    @property
    def redis_url(self) -> str:
        """The proxy as a Redis URL (database 0)."""
        return f"redis://{self.address}/0"

    async def start(self) -> TcpProxy:
        """Listen (again) on the same port, or on a fresh one the first time."""
        self._server = await asyncio.start_server(self._handle, LOOPBACK, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        """Refuse new connections and cut the open ones (no-op when stopped)."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for writer in list(self._writers):
            writer.close()
        await server.wait_closed()
        await asyncio.gather(*self._handlers, return_exceptions=True)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        writers = [writer]
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
            writers.append(up_writer)
            self._writers.update(writers)
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        finally:
            for w in writers:
                self._writers.discard(w)
                w.close()
                with contextlib.suppress(OSError):
                    await w.wait_closed()
            self._handlers.discard(task)

    @staticmethod
    async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while data := await source.read(65536):
                sink.write(data)
                await sink.drain()
        sink.close()
