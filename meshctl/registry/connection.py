"""Redis clients for the registry, and the translation of redis errors into meshctl's."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from meshctl.core.secrets import redact_url
from meshctl.errors import InvalidRequestError, RegistryUnavailableError

CONNECT_TIMEOUT = 5.0
SOCKET_TIMEOUT = 10.0
MAX_CONNECTIONS = 50


def connect(target: aioredis.Redis | str) -> tuple[aioredis.Redis, bool]:
    """A client for ``target`` and whether the caller owns (must close) it."""
    if isinstance(target, aioredis.Redis):
        return target, False
    try:
        # A blocking pool makes bursts (thousands of heartbeats, say) queue for a
        # connection instead of failing with "Too many connections".
        pool = aioredis.BlockingConnectionPool.from_url(
            target,
            max_connections=MAX_CONNECTIONS,
            timeout=SOCKET_TIMEOUT,
            socket_connect_timeout=CONNECT_TIMEOUT,
            socket_timeout=SOCKET_TIMEOUT,
        )
        client = aioredis.Redis.from_pool(pool)  # the client owns and closes the pool
    except ValueError as exc:
        raise InvalidRequestError(f"Invalid registry URL {target!r}: {exc}") from None
    return client, True


def describe(client: aioredis.Redis) -> str:
    """The client's server as a URL without credentials, for error messages."""
    kwargs = client.connection_pool.connection_kwargs
    if "path" in kwargs:
        return f"unix://{kwargs['path']}"
    ssl = client.connection_pool.connection_class.__name__ == "SSLConnection"
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
