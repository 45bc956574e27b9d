"""A Redis primary, one replica and three sentinels on loopback, for failover tests.

Every process is a real ``redis-server`` on a free port, without persistence,
writing its files under one directory; the sentinels watch the primary with
short timeouts, so a killed primary is replaced within a few seconds::

    with SentinelGroup(tmp_path) as group:
        registry = ServiceRegistry(group.url)
        ...
        old = group.kill_primary()
        new = group.wait_for_failover(old)  # the promoted replica's port
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Self

import redis

from meshctl.core.lifecycle import Lifecycle
from meshctl.testing.net import LOOPBACK, free_port

SENTINELS = 3
QUORUM = 2
START_TIMEOUT = 15.0
"""Seconds the group may take to start: processes listening, replica in sync, sentinels
aware of the replica and of each other (they announce themselves every 2 s)."""


def have_redis_server() -> bool:
    """Whether ``redis-server`` (which also runs as a sentinel) is on PATH."""
    return shutil.which("redis-server") is not None


def _poll(ready: Callable[[], bool], timeout: float, what: str) -> None:
    """Return once ``ready()`` holds; TimeoutError naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if ready():
                return
        except redis.RedisError:
            pass  # not up yet
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} within {timeout} s")
        time.sleep(0.05)  # polling a process for a state change, with a deadline


def _sentinel_id(port: int) -> str:
    """A sentinel's run id (40 hex digits), derived from its port so that peers can be named."""
    return f"{port:040x}"


class _Server:
    """One ``redis-server`` process (a data node or a sentinel) on a fixed loopback port."""

    def __init__(self, argv: list[str], port: int, directory: Path) -> None:
        self.port = port
        self.client = redis.Redis(host=LOOPBACK, port=port, socket_timeout=1.0)
        directory.mkdir(parents=True, exist_ok=True)
        log = directory / "server.log"
        self._process = subprocess.Popen(
            [*argv, "--port", str(port), "--bind", LOOPBACK, "--logfile", str(log)],
            cwd=directory,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
        )

    def alive(self) -> bool:
        return self._process.poll() is None

    def kill(self) -> None:
        """SIGKILL: no shutdown, no goodbye to the replica or the sentinels."""
        if self.alive():
            self._process.send_signal(signal.SIGKILL)
        self._process.wait()

    def stop(self) -> None:
        self.client.close()
        if self.alive():
            self._process.terminate()
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.kill()


class SentinelGroup(Lifecycle):
    """A primary, a replica and three sentinels monitoring them as ``service``.

    Args:
        directory: where the processes keep their config and log files.
        service: the name the sentinels know the primary by.
        down_after: seconds without an answer before a sentinel deems the primary down.
        failover_timeout: the sentinels' ``failover-timeout``, in seconds.
    """

    def __init__(
        self,
        directory: Path,
        service: str = "mesh-primary",
        down_after: float = 1.0,
        failover_timeout: float = 3.0,
    ) -> None:
        self.directory = directory
        self.service = service
        self.down_after = down_after
        self.failover_timeout = failover_timeout
        self.primary_port = free_port()
        self.replica_port = free_port()
        self.sentinel_ports = [free_port() for _ in range(SENTINELS)]
        self._servers: dict[int, _Server] = {}

    @property
    def url(self) -> str:
        """The group as a registry URL, database 0."""
        hosts = ",".join(f"{LOOPBACK}:{port}" for port in self.sentinel_ports)
        return f"redis+sentinel://{hosts}/{self.service}/0"

    def data_client(self, port: int) -> redis.Redis:
        """A client of the data node on ``port`` (the primary or the replica)."""
        return self._servers[port].client

    def start(self) -> Self:
        """Start every process and return once the sentinels could fail the primary over."""
        try:
            self._start_data_node(self.primary_port)
            self._start_data_node(
                self.replica_port, "--replicaof", LOOPBACK, str(self.primary_port)
            )
            replica = self.data_client(self.replica_port)
            _poll(
                lambda: replica.info("replication")["master_link_status"] == "up",
                START_TIMEOUT,
                "the replica did not sync with the primary",
            )
            for port in self.sentinel_ports:
                self._start_sentinel(port)
            for port in self.sentinel_ports:
                _poll(
                    partial(self._sentinel_ready, port),
                    START_TIMEOUT,
                    f"sentinel {port} did not see the replica and the other sentinels",
                )
        except BaseException:
            self.stop()
            raise
        return self

    def _start_data_node(self, port: int, *extra: str) -> None:
        argv = [
            "redis-server",
            "--save",
            "",
            "--appendonly",
            "no",
            "--repl-diskless-sync-delay",
            "0",
        ]
        argv += extra
        self._servers[port] = _Server(argv, port, self.directory / f"redis-{port}")
        _poll(self._servers[port].client.ping, START_TIMEOUT, f"redis-server {port} did not start")

    def _start_sentinel(self, port: int) -> None:
        directory = self.directory / f"sentinel-{port}"
        directory.mkdir(parents=True, exist_ok=True)
        config = directory / "sentinel.conf"  # the sentinel rewrites it as it learns
        name = self.service
        # Told of the replica and of each other up front, the sentinels need not wait for
        # the primary's INFO and their 2-second hello messages to be ready.
        peers = [
            f"sentinel known-sentinel {name} {LOOPBACK} {peer} {_sentinel_id(peer)}\n"
            for peer in self.sentinel_ports
            if peer != port
        ]
        config.write_text(
            f"sentinel myid {_sentinel_id(port)}\n"
            f"sentinel monitor {name} {LOOPBACK} {self.primary_port} {QUORUM}\n"
            f"sentinel down-after-milliseconds {name} {int(self.down_after * 1000)}\n"
            f"sentinel failover-timeout {name} {int(self.failover_timeout * 1000)}\n"
            f"sentinel parallel-syncs {name} 1\n"
            f"sentinel known-replica {name} {LOOPBACK} {self.replica_port}\n" + "".join(peers)
        )
        self._servers[port] = _Server(["redis-server", str(config), "--sentinel"], port, directory)

    def _sentinel_ready(self, port: int) -> bool:
        client = self._servers[port].client
        master = client.sentinel_master(self.service)
        replicas = client.sentinel_slaves(self.service)
        assert isinstance(master, dict)
        return bool(int(master["num-other-sentinels"]) == SENTINELS - 1 and replicas)

    def _named_primary(self, port: int) -> int:
        """The primary's port as the sentinel on ``port`` names it."""
        address = self._servers[port].client.sentinel_get_master_addr_by_name(self.service)
        if not isinstance(address, tuple):
            raise redis.ResponseError(f"sentinel {port} knows no {self.service}")
        return int(address[1])

    def primary(self) -> int:
        """The port of the primary, as the first sentinel that answers names it."""
        for port in self.sentinel_ports:
            try:
                return self._named_primary(port)
            except redis.RedisError:
                continue
        raise RuntimeError("no sentinel answered")

    def kill_primary(self) -> int:
        """SIGKILL the current primary; returns its port."""
        port = self.primary()
        self._servers[port].kill()
        return port

    def wait_for_failover(self, old: int, timeout: float = 20.0) -> int:
        """Wait until every sentinel names a new primary, and it takes writes; returns its port."""

        def promoted() -> bool:
            named = {self._named_primary(port) for port in self.sentinel_ports}
            if len(named) != 1 or old in named:
                return False
            [port] = named
            return bool(self.data_client(port).role()[0] == b"master")

        _poll(promoted, timeout, f"no replica of {self.service} was promoted")
        return self.primary()

    def stop(self) -> None:
        """Stop every process (the sentinels first, so none fails over a stopping primary)."""
        for port in [*self.sentinel_ports, self.replica_port, self.primary_port]:
            server = self._servers.pop(port, None)
            if server is not None:
                server.stop()
