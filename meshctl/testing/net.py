"""Loopback ports and a TCP proxy that can cut a server off, reset, stall and bring it back."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct

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


_RST_ON_CLOSE = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends a reset


class TcpProxy(AsyncLifecycle):
    """Forwards loopback connections to ``target``; ``stop`` cuts them, ``start`` comes back.

    The proxy keeps its port across ``stop``/``start``, so a client pointed at
    it sees its server go away and return on the same address (a Redis
    restart, a network partition) while the real server runs undisturbed.
    Faults while it runs: ``reset()`` kills every open connection with a TCP
    reset (new ones are accepted), ``flow(False)`` holds every byte in both
    directions with the connections left open (a partition that drops
    nothing, so peers wait for their timeouts), ``flow(True)`` lets them go
    again, and ``stall(seconds)`` holds them for a while.

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
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._resume: asyncio.TimerHandle | None = None

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
        self._end_handlers()  # one held by flow(False) would not notice the close
        await server.wait_closed()
        await asyncio.gather(*self._handlers, return_exceptions=True)

    @property
    def flowing(self) -> bool:
        """False while ``flow(False)`` or ``stall`` holds the bytes."""
        return self._flowing.is_set()

    def reset(self) -> int:
        """Reset (TCP RST) every open connection, both sides, mid-stream; returns how many.

        The proxy keeps listening: clients that reconnect get through at once.
        """
        writers = list(self._writers)
        for writer in writers:
            sock = writer.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RST_ON_CLOSE)
            writer.transport.abort()
        self._end_handlers()
        return len(writers) // 2  # a client's connection and the proxy's to the target

    def flow(self, on: bool) -> None:
        """Forward bytes (True) or hold them (False); cancels a pending ``stall`` end."""
        if self._resume is not None:
            self._resume.cancel()
            self._resume = None
        if on:
            self._flowing.set()
        else:
            self._flowing.clear()

    def stall(self, seconds: float) -> None:
        """Hold every byte for ``seconds``, then forward again (returns at once)."""
        self.flow(False)
        self._resume = asyncio.get_running_loop().call_later(seconds, self.flow, True)

    def _end_handlers(self) -> None:
        for task in self._handlers:
            task.cancel()

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
        except asyncio.CancelledError:
            pass  # reset() or stop() ended the connection; the server must not see an error
        finally:
            for w in writers:
                self._writers.discard(w)
                w.close()
                with contextlib.suppress(OSError):
                    await w.wait_closed()
            self._handlers.discard(task)

    async def _pipe(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while data := await source.read(65536):
                await self._flowing.wait()
                sink.write(data)
                await sink.drain()
        sink.close()
