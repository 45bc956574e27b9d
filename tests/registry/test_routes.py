"""Route tables in Redis: revisions, history, rollback, refusal of bad tables, the client cache."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import redis.asyncio as aioredis

from meshctl.core.routing import RouteError, split_document
from meshctl.registry.keys import routes_key
from meshctl.registry.routes import (
    RouteCache,
    delete_table,
    history,
    read_tables,
    rollback,
    set_table,
)

SPLIT = split_document("analytics", {"v0.1.0": 95, "v0.2.0": 5})


async def test_each_change_is_a_revision_with_history(
    client: aioredis.Redis, key_prefix: str
) -> None:
    first = await set_table(client, key_prefix, SPLIT)
    assert first.revision == 1
    second = await set_table(client, key_prefix, split_document("analytics", {"v0.2.0": 100}))
    assert second.revision == 2
    tables, problems = await read_tables(client, key_prefix)
    assert problems == [] and tables["analytics"].revision == 2
    assert list(tables["analytics"].subsets) == ["v0.2.0"]
    back = await rollback(client, key_prefix, "analytics")
    assert back.revision == 3 and set(back.subsets) == {"v0.1.0", "v0.2.0"}
    assert [r["revision"] for r in await history(client, key_prefix, "analytics")] == [3, 2, 1]
    assert (await history(client, key_prefix, "analytics"))[0]["action"] == "rollback to 1"
    again = await rollback(client, key_prefix, "analytics", to=2)
    assert again.revision == 4 and list(again.subsets) == ["v0.2.0"]
    assert await delete_table(client, key_prefix, "analytics") == 5
    assert await delete_table(client, key_prefix, "analytics") is None
    assert (await read_tables(client, key_prefix))[0] == {}


async def test_a_malformed_table_never_reaches_redis(
    client: aioredis.Redis, key_prefix: str
) -> None:
    with pytest.raises(RouteError, match="add up to 90"):
        await set_table(client, key_prefix, split_document("analytics", {"v1": 90}))
    assert await client.exists(routes_key(key_prefix)) == 0


async def test_rollback_without_the_revision_is_refused(
    client: aioredis.Redis, key_prefix: str
) -> None:
    with pytest.raises(RouteError, match="no route history"):
        await rollback(client, key_prefix, "analytics")
    await set_table(client, key_prefix, SPLIT)
    with pytest.raises(RouteError, match="only revision 1"):
        await rollback(client, key_prefix, "analytics")
    with pytest.raises(RouteError, match=r"no revision 7 \(kept: 1\)"):
        await rollback(client, key_prefix, "analytics", to=7)


async def test_concurrent_writers_get_distinct_revisions(
    client: aioredis.Redis, key_prefix: str
) -> None:
    documents: list[dict[str, Any]] = [
        split_document("analytics", {f"v{i}": 100}) for i in range(8)
    ]
    tables = await asyncio.gather(*(set_table(client, key_prefix, d) for d in documents))
    assert sorted(t.revision for t in tables) == list(range(1, 9))
    assert len(await history(client, key_prefix, "analytics")) == 8


async def test_garbage_records_are_reported_and_the_rest_read(
    client: aioredis.Redis, key_prefix: str
) -> None:
    await set_table(client, key_prefix, SPLIT)
    await client.hset(routes_key(key_prefix), "alert", "{not json")
    await client.hset(routes_key(key_prefix), "auth", '{"revision": 1, "document": {"rules": 3}}')
    tables, problems = await read_tables(client, key_prefix)
    assert list(tables) == ["analytics"]
    assert sorted(p.split("'")[1] for p in problems) == ["alert", "auth"]


async def test_the_client_cache_follows_changes(
    redis_client: aioredis.Redis, key_prefix: str
) -> None:
    async with RouteCache(redis_client, key_prefix, interval=0.05) as cache:
        assert cache.get("analytics") is None
        await set_table(redis_client, key_prefix, SPLIT)
        for _ in range(100):  # the next poll sees the version move
            if cache.get("analytics") is not None:
                break
            await asyncio.sleep(0.02)
        table = cache.get("analytics")
        assert table is not None and table.revision == 1


async def test_a_table_set_after_a_deletion_continues_the_revisions(
    client: aioredis.Redis, key_prefix: str
) -> None:
    await set_table(client, key_prefix, SPLIT)
    assert await delete_table(client, key_prefix, "analytics") == 2
    assert (await rollback(client, key_prefix, "analytics", to=1)).revision == 3
    assert (await set_table(client, key_prefix, SPLIT)).revision == 4
