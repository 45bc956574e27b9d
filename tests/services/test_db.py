"""Table creation survives replicas racing to create the same tables."""

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import Integer, inspect
from sqlalchemy.orm import Mapped, mapped_column

from meshctl.services.db import Base, async_url, create_engine, create_tables


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
