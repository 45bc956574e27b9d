"""Engines and tables: SQLite settings, replicas racing to create tables, the schema, writes."""

import asyncio
import os
import threading
from pathlib import Path

import pytest
from sqlalchemy import Connection, Integer, func, insert, inspect, select, text
from sqlalchemy.orm import Mapped, mapped_column

from meshctl.services.db import Base, TransactionRunner, async_url, create_engine, create_tables
from meshctl.services.sql import open_database
from meshctl.testing import temporary_database
from tests.support.services import settings


class _RaceProbe(Base):
    __tablename__ = "race_probe"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)


async def test_concurrent_creators_on_one_sqlite_file(tmp_path: Path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'race.db'}"
    engines = [create_engine(url) for _ in range(6)]
    try:
        await asyncio.gather(*(create_tables(engine) for engine in engines))
        async with engines[0].connect() as conn:
            names = await conn.run_sync(lambda sync: inspect(sync).get_table_names())
        assert "race_probe" in names
    finally:
        for engine in engines:
            await engine.dispose()


async def test_sqlite_connections_use_wal_normal_sync_and_a_busy_timeout(tmp_path: Path):
    engine = create_engine(f"sqlite:///{tmp_path / 'wal.db'}")
    try:
        async with engine.connect() as conn:
            pragmas = [
                await conn.scalar(text(f"PRAGMA {name}"))
                for name in ("journal_mode", "synchronous", "busy_timeout")
            ]
    finally:
        await engine.dispose()
    assert pragmas == ["wal", 1, 30_000]  # synchronous 1 is NORMAL


async def test_a_transaction_runs_whole_on_the_writer_and_commits(database_url: str):
    engine, _ = await open_database(settings(database_url), "analytics")
    writer = TransactionRunner(engine)
    threads: list[str] = []

    def body(conn: Connection) -> int:
        threads.append(threading.current_thread().name)
        conn.execute(insert(_RaceProbe), [{"id": 1}, {"id": 2}])
        return 2

    def failing(conn: Connection) -> None:
        conn.execute(insert(_RaceProbe), [{"id": 3}])
        raise RuntimeError("rolled back")

    try:
        assert await writer.run(body) == 2
        with pytest.raises(RuntimeError):
            await writer.run(failing)
        async with engine.connect() as conn:
            assert await conn.scalar(select(func.count()).select_from(_RaceProbe)) == 2
    finally:
        await writer.aclose()
        await engine.dispose()
    on_sqlite = database_url.startswith("sqlite")
    assert threads[0].startswith("sqlite-writer") == on_sqlite  # elsewhere: the event loop's


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgresql://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("postgres://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("sqlite:///x.db", "sqlite+aiosqlite:///x.db"),
        ("sqlite+aiosqlite:///x.db", "sqlite+aiosqlite:///x.db"),
    ],
)
def test_urls_get_an_async_driver(given, expected):
    assert async_url(given) == expected


@pytest.mark.postgres
async def test_tables_go_into_the_configured_schema(tmp_path: Path):
    async with temporary_database("postgres", tmp_path) as url:
        admin = create_engine(url)
        try:
            async with admin.begin() as conn:
                await conn.execute(text('CREATE SCHEMA "svc"'))
            engine, _ = await open_database(settings(url, database_schema="svc"), "analytics")
            await engine.dispose()
            async with admin.connect() as conn:
                names = await conn.run_sync(lambda s: inspect(s).get_table_names(schema="svc"))
                public = await conn.run_sync(lambda s: inspect(s).get_table_names())
        finally:
            await admin.dispose()
    assert "race_probe" in names and public == []


async def test_a_service_placeholder_gives_each_service_its_own_file(tmp_path: Path) -> None:
    template = f"sqlite+aiosqlite:///{tmp_path}/{{service}}.db"
    for service in ("analytics", "streaming"):
        engine, _ = await open_database(settings(template), service)
        await engine.dispose()
    files = await asyncio.to_thread(os.listdir, tmp_path)
    assert sorted(f for f in files if f.endswith(".db")) == ["analytics.db", "streaming.db"]
    shared = "postgresql+asyncpg://db/mesh"
    assert settings(shared).database_url_of("alert") == shared
