"""Table creation: replicas racing to create the same tables, and the configured schema."""

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import Integer, inspect, text
from sqlalchemy.orm import Mapped, mapped_column

from meshctl.services.db import Base, async_url, create_engine, create_tables
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
            engine, _ = await open_database(settings(url, database_schema="svc"))
            await engine.dispose()
            async with admin.connect() as conn:
                names = await conn.run_sync(lambda s: inspect(s).get_table_names(schema="svc"))
                public = await conn.run_sync(lambda s: inspect(s).get_table_names())
        finally:
            await admin.dispose()
    assert "race_probe" in names and public == []
