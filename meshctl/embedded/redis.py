"""An embedded Redis-protocol server for the registry: ``redis-server`` if found, else fakeredis.

``redis-server`` runs as a child process on a free loopback port, with no
persistence, in a temporary directory removed on stop. Without it,
fakeredis' threaded TCP server serves the same protocol from this process
(Lua scripts there need the ``lupa`` package).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Literal, Self

import redis

from meshctl.core.lifecycle import Lifecycle
from meshctl.errors import RegistryUnavailableError

Backend = Literal["redis-server", "fakeredis"]

_START_TIMEOUT = 10.0
_PORT_ATTEMPTS = 3


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (another process may still take it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


class EmbeddedRedis(Lifecycle):
    """A throwaway Redis-protocol server on loopback.

    Args:
        use_redis_server: ``True`` requires ``redis-server`` on PATH, ``False``
            forces the fakeredis fallback, ``None`` (default) prefers the former.
        host: interface to bind.

    Use as a (sync or async) context manager, or call ``start``/``stop``.
    ``url`` is ``redis://host:port/0`` once started.
    """

    def __init__(self, *, use_redis_server: bool | None = None, host: str = "127.0.0.1") -> None:
        self.host = host
        self._binary = shutil.which("redis-server")
        if use_redis_server and self._binary is None:
            raise RegistryUnavailableError("redis-server was requested but is not on PATH")
        self.backend: Backend = (
            "redis-server" if self._binary and use_redis_server is not False else "fakeredis"
        )
        self.port = 0
        self._served_port = 0  # where a restart serves again
        self._process: subprocess.Popen[bytes] | None = None
        self._tmpdir: tempfile.TemporaryDirectory[str] | None = None
        self._fake: _FakeServerThread | None = None

    @property
    def url(self) -> str:
        if not self.port:
            raise RuntimeError("EmbeddedRedis is not started")
        return f"redis://{self.host}:{self.port}/0"

    @property
    def pid(self) -> int | None:
        """The redis-server's process id (``None`` for the in-process fallback)."""
        return self._process.pid if self._process else None

    def start(self) -> Self:
        """Start the server and wait until it answers PING."""
        if self.port:
            return self
        if self.backend == "redis-server":
            self._start_redis_server()
        else:
            self._fake = _FakeServerThread(self.host)
            self.port = self._fake.port
        return self

    @property
    def running(self) -> bool:
        """Whether the server is up (the in-process fallback lives as long as this process)."""
        if self._fake is not None:
            return True
        return self._process is not None and self._process.poll() is None

    def restart(self) -> None:
        """Start a redis-server that died again, empty, on the same port (clients find it there)."""
        if self.running or self.backend != "redis-server" or not self._served_port:
            return
        self.stop()
        self._start_redis_server(self._served_port)

    def stop(self) -> None:
        """Stop the server and remove its files; safe to call twice."""
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None
        if self._fake is not None:
            self._fake.close()
            self._fake = None
        if self._tmpdir is not None:
            self._tmpdir.cleanup()
            self._tmpdir = None
        self.port = 0

    def _start_redis_server(self, port: int = 0) -> None:
        """Start redis-server on ``port``, or on a free one (tried a few times) when 0."""
        assert self._binary is not None
        self._tmpdir = tempfile.TemporaryDirectory(prefix="meshctl-redis-")
        log = Path(self._tmpdir.name) / "redis.log"
        errors = Path(self._tmpdir.name) / "stderr.log"
        last_error = ""
        # The free port can be taken between choosing and binding it: try a few.
        wanted = port
        for _ in range(_PORT_ATTEMPTS if not wanted else 1):
            port = wanted or free_port(self.host)
            argv = [
                self._binary,
                "--port", str(port),
                "--bind", self.host,
                "--save", "",
                "--appendonly", "no",
                "--dir", self._tmpdir.name,
                "--logfile", str(log),
            ]  # fmt: skip
            with errors.open("wb") as stderr:
                # Its own process group: a Ctrl-C meant for ``meshctl up`` must not stop
                # the registry before the services have deregistered.
                self._process = subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=stderr,
                    process_group=0,
                )
            if _wait_for_ping(self.host, port, self._process):
                self.port = self._served_port = port
                return
            self._process.kill()
            self._process.wait()
            last_error = (_tail(errors) or _tail(log)).strip()
            self._process = None
        self.stop()
        raise RegistryUnavailableError(f"redis-server did not start: {last_error}")


class _FakeServerThread:
    """fakeredis' TCP server serving from a background thread."""

    def __init__(self, host: str) -> None:
        from fakeredis import TcpFakeServer

        self._server = TcpFakeServer((host, 0))
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="meshctl-fakeredis", daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def _wait_for_ping(host: str, port: int, process: subprocess.Popen[bytes]) -> bool:
    """Whether the server on ``port`` answers PING before it exits or time runs out."""
    client = redis.Redis(host=host, port=port, socket_connect_timeout=0.5)
    deadline = time.monotonic() + _START_TIMEOUT
    try:
        while time.monotonic() < deadline and process.poll() is None:
            try:
                if client.ping():
                    return True
            except redis.RedisError:
                time.sleep(0.02)
        return False
    finally:
        client.close()


def _tail(path: Path, lines: int = 5) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
