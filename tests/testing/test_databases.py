"""temporary_database: an empty database per test, gone afterwards."""

from pathlib import Path

import pytest
from sqlalchemy import text

from meshctl.services.db import create_engine
from meshctl.testing import temporary_database
from meshctl.testing.databases import POSTGRES_URL


async def test_sqlite_is_a_file_in_the_directory(tmp_path: Path) -> None:
    async with temporary_database("sqlite", tmp_path) as url:
        assert url == f"sqlite+aiosqlite:///{tmp_path / 'service.db'}"


async def test_an_unknown_kind_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="mysql"):
        async with temporary_database("mysql", tmp_path):
            pass


@pytest.mark.postgres
async def test_postgres_database_is_empty_usable_and_dropped(tmp_path: Path) -> None:
    async with temporary_database("postgres", tmp_path) as url:
        name = url.rsplit("/", 1)[1]
        engine = create_engine(url)
        try:
            async with engine.begin() as conn:
                await conn.execute(text("CREATE TABLE t (x int)"))
                tables = await conn.execute(
                    text("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
                )
                assert tables.scalar() == 1
        finally:
            await engine.dispose()
    server = create_engine(POSTGRES_URL)
    try:
        async with server.connect() as conn:
            found = await conn.execute(
                text("SELECT count(*) FROM pg_database WHERE datname = :name"), {"name": name}
            )
            assert found.scalar() == 0
    finally:
        await server.dispose()
