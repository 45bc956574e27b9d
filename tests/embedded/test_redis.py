import shutil
import socket

import pytest
import redis
import redis.asyncio as aioredis

from meshctl.config import pid_alive
from meshctl.embedded.redis import EmbeddedRedis
from meshctl.errors import RegistryUnavailableError

needs_redis_server = pytest.mark.skipif(
    shutil.which("redis-server") is None, reason="redis-server is not on PATH"
)


@needs_redis_server
def test_redis_server_backend_serves_and_leaves_nothing_behind():
    server = EmbeddedRedis(use_redis_server=True)
    with server:
        assert server.backend == "redis-server"
        pid = server.pid
        assert pid is not None
        client = redis.Redis.from_url(server.url)
        client.set("k", "v")
        assert client.get("k") == b"v"
        assert client.config_get("save") == {"save": ""}
        client.close()
    assert server.pid is None
    assert not pid_alive(pid)
    with pytest.raises(RuntimeError, match="not started"):
        _ = server.url


def test_fakeredis_fallback_serves_the_protocol():
    with EmbeddedRedis(use_redis_server=False) as server:
        assert server.backend == "fakeredis"
        assert server.pid is None
        port = server.port
        client = redis.Redis.from_url(server.url)
        client.hset("h", mapping={"a": "1"})
        assert client.hgetall("h") == {b"a": b"1"}
        client.close()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=1)


@pytest.mark.parametrize("use_redis_server", [pytest.param(True, marks=needs_redis_server), False])
async def test_async_context_manager(use_redis_server: bool):
    async with EmbeddedRedis(use_redis_server=use_redis_server) as server:
        client = aioredis.Redis.from_url(server.url)
        assert await client.ping()
        await client.aclose()


def test_requiring_a_missing_redis_server_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(RegistryUnavailableError, match="redis-server .* not on PATH"):
        EmbeddedRedis(use_redis_server=True)
    assert EmbeddedRedis().backend == "fakeredis"
