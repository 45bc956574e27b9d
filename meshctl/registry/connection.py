"""Redis clients for the registry, and the translation of redis errors into meshctl's.

Everything in the mesh reaches Redis through :func:`connect`, so one URL
decides where the registry lives: a single server (``redis://``,
``rediss://``, ``unix://``) or a primary watched by Redis Sentinel::

    redis+sentinel://[user:password@]host1:26379,host2:26379,host3:26379/<service>[/<db>]
        [?sentinel_username=...&sentinel_password=...]

The user and password are the primary's; the sentinels' own credentials, when
they have any, go in the query. With Sentinel, every new connection asks the
sentinels where the primary is, so after a failover the client follows the
promoted replica without being told (redis-py's ``SentinelConnectionPool``).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import redis.asyncio as aioredis
from redis.asyncio.sentinel import MasterNotFoundError, Sentinel, SentinelConnectionPool
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from meshctl.core.secrets import redact_url
from meshctl.errors import InvalidRequestError, RegistryUnavailableError

CONNECT_TIMEOUT = 5.0
SOCKET_TIMEOUT = 10.0
MAX_CONNECTIONS = 50
SENTINEL_SCHEME = "redis+sentinel"
SENTINEL_PORT = 26379
SENTINEL_OPTIONS = frozenset({"sentinel_username", "sentinel_password"})
"""The query options a sentinel URL may carry."""

# A blocking pool makes bursts (thousands of heartbeats, say) queue for a
# connection instead of failing with "Too many connections".
_POOL_OPTIONS: dict[str, Any] = {
    "max_connections": MAX_CONNECTIONS,
    "timeout": SOCKET_TIMEOUT,
    "socket_connect_timeout": CONNECT_TIMEOUT,
    "socket_timeout": SOCKET_TIMEOUT,
}


@dataclass(frozen=True)
class SentinelTarget:
    """What a ``redis+sentinel://`` URL names: where to ask, for what, and as whom."""

    sentinels: tuple[tuple[str, int], ...]
    service: str
    db: int = 0
    username: str | None = None
    password: str | None = None
    sentinel_username: str | None = None
    sentinel_password: str | None = None


def is_sentinel_url(url: str) -> bool:
    """Whether ``url`` names a primary through its sentinels (``redis+sentinel://``)."""
    return url.partition("://")[0].lower() == SENTINEL_SCHEME


def _address(text: str) -> tuple[str, int]:
    """``host[:port]`` (``[v6]:port`` too) of one sentinel; the port defaults to 26379."""
    parts = urlsplit(f"//{text}")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"sentinel {text!r} has a bad port") from None
    if not parts.hostname:
        raise ValueError(f"sentinel address {text!r} has no host")
    return parts.hostname, port or SENTINEL_PORT


def parse_sentinel_url(url: str) -> SentinelTarget:
    """The target of a ``redis+sentinel://`` URL; ValueError says what is wrong with it."""
    parts = urlsplit(url)
    userinfo, _, hosts = parts.netloc.rpartition("@")
    if not hosts:
        raise ValueError("no sentinel addresses (expected host:port[,host:port...])")
    sentinels = tuple(_address(host) for host in hosts.split(","))
    path = [unquote(segment) for segment in parts.path.split("/")[1:]]
    if not path or not path[0] or len(path) > 2:
        raise ValueError("the path must be /<service-name> or /<service-name>/<db>")
    if len(path) == 2 and not path[1].isdigit():
        raise ValueError(f"database {path[1]!r} is not a number")
    options = parse_qs(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
    unknown = sorted(set(options) - SENTINEL_OPTIONS)
    if unknown:
        known = ", ".join(sorted(SENTINEL_OPTIONS))
        raise ValueError(f"unknown option {unknown[0]!r} (known: {known})")
    username, has_password, password = userinfo.partition(":")
    return SentinelTarget(
        sentinels=sentinels,
        service=path[0],
        db=int(path[1]) if len(path) == 2 else 0,
        username=unquote(username) or None,
        password=unquote(password) if has_password else None,
        sentinel_username=options.get("sentinel_username", [None])[-1],
        sentinel_password=options.get("sentinel_password", [None])[-1],
    )


class _Sentinels(Sentinel):
    """redis-py's sentinel manager, made safe for the many tasks of one client.

    Each discovery moves the sentinel that answered to the front of the list;
    interleaved (every connection opened during a failover discovers), those
    swaps can put one sentinel in the list twice and drop another, which is
    then neither asked nor closed. A lock keeps discoveries one at a time
    (each is one round trip to a sentinel). "No primary" comes out in a few
    words instead of with every sentinel client's repr.
    """

    def __init__(self, sentinels: tuple[tuple[str, int], ...], **options: Any) -> None:
        super().__init__(sentinels, **options)
        self._discovering = asyncio.Lock()

    async def discover_master(self, service_name: str) -> Any:
        async with self._discovering:
            try:
                return await super().discover_master(service_name)
            except MasterNotFoundError as exc:
                # redis-py lists every failing sentinel's client after " : "
                found, _, failures = str(exc).partition(" : ")
                why = "not every sentinel answered" if failures else "no sentinel knows it up"
                raise MasterNotFoundError(f"{found} ({why})") from None


class _SentinelPool(SentinelConnectionPool, aioredis.BlockingConnectionPool):
    """A primary's pool that queues for connections like the plain one, and closes its
    sentinels' connections with its own (the client that owns it owns them too)."""

    async def aclose(self) -> None:
        try:
            await super().aclose()
        finally:
            await self.sentinel_manager.aclose()


def _sentinel_client(target: SentinelTarget) -> aioredis.Redis:
    sentinel_options = {
        "socket_connect_timeout": CONNECT_TIMEOUT,
        "socket_timeout": CONNECT_TIMEOUT,  # a sentinel answers at once or not at all
        "username": target.sentinel_username,
        "password": target.sentinel_password,
    }
    sentinel = _Sentinels(target.sentinels, sentinel_kwargs=sentinel_options)
    client: aioredis.Redis = sentinel.master_for(
        target.service,
        connection_pool_class=_SentinelPool,
        db=target.db,
        username=target.username,
        password=target.password,
        **_POOL_OPTIONS,
    )
    return client  # the client owns and closes the pool, and with it the sentinels


def connect(target: aioredis.Redis | str) -> tuple[aioredis.Redis, bool]:
    """A client for ``target`` (a client, or a server's or sentinels' URL) and whether the
    caller owns (must close) it; InvalidRequestError for a URL that cannot be used."""
    if isinstance(target, aioredis.Redis):
        return target, False
    try:
        if is_sentinel_url(target):
            return _sentinel_client(parse_sentinel_url(target)), True
        pool = aioredis.BlockingConnectionPool.from_url(target, **_POOL_OPTIONS)
    except ValueError as exc:
        raise InvalidRequestError(f"Invalid registry URL {redact_url(target)!r}: {exc}") from None
    return aioredis.Redis.from_pool(pool), True  # the client owns and closes the pool


def _host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def describe(client: aioredis.Redis) -> str:
    """The client's server as a URL without credentials, for error messages."""
    pool = client.connection_pool
    kwargs = pool.connection_kwargs
    if isinstance(pool, SentinelConnectionPool):
        sentinels = sorted(
            _host_port(
                s.connection_pool.connection_kwargs["host"],
                s.connection_pool.connection_kwargs["port"],
            )
            for s in pool.sentinel_manager.sentinels
        )
        return (
            f"{SENTINEL_SCHEME}://{','.join(sentinels)}/{pool.service_name}/{kwargs.get('db', 0)}"
        )
    if "path" in kwargs:
        return f"unix://{kwargs['path']}"
    ssl = pool.connection_class.__name__ == "SSLConnection"
    host, port, db = kwargs.get("host", "localhost"), kwargs.get("port", 6379), kwargs.get("db", 0)
    return f"{'rediss' if ssl else 'redis'}://{host}:{port}/{db}"


def _reason(exc: BaseException) -> str:
    """The root cause in a few words, e.g. ``Connection refused``."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno:
            return os.strerror(seen.errno)
        if isinstance(seen, TimeoutError | RedisTimeoutError):
            return "timed out"
        seen = seen.__cause__ or seen.__context__
    return str(exc) or type(exc).__name__


def unavailable(url: str, exc: BaseException) -> RegistryUnavailableError:
    if isinstance(exc, RedisConnectionError | RedisTimeoutError | OSError):
        return RegistryUnavailableError(
            f"Cannot reach the registry at {redact_url(url)}: {_reason(exc)}"
        )
    return RegistryUnavailableError(f"The registry at {redact_url(url)} failed: {exc}")


@contextmanager
def translated(url: str) -> Iterator[None]:
    """Raise RegistryUnavailableError for any redis or socket error in the block."""
    try:
        yield
    except (RedisError, OSError) as exc:
        raise unavailable(url, exc) from exc
