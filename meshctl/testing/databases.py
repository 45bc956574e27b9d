"""Fresh, empty databases for tests: a SQLite file, or a PostgreSQL database of their own."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from meshctl.services.db import async_url

POSTGRES_URL = os.environ.get(
    "MESH_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
DATABASE_KINDS = ("sqlite", "postgres")


class DatabaseUnavailableError(RuntimeError):
    """The PostgreSQL server the tests were pointed at does not answer."""


@asynccontextmanager
async def temporary_database(
    kind: str, directory: Path, *, server_url: str = POSTGRES_URL
) -> AsyncIterator[str]:
    """The URL of an empty database, dropped (or left in ``directory``) afterwards.

    Args:
        kind: ``"sqlite"`` for a file in ``directory``, ``"postgres"`` for a
            database of its own on the server at ``server_url``.
        directory: where a SQLite file goes (a test's ``tmp_path``).
        server_url: any database URL of the PostgreSQL server, whose user may
            create databases (default ``MESH_TEST_POSTGRES_URL``).

    Raises:
        DatabaseUnavailableError: the PostgreSQL server cannot be reached.
    """
    if kind == "sqlite":
        yield f"sqlite+aiosqlite:///{directory / 'service.db'}"
        return
    if kind != "postgres":
        raise ValueError(f"unknown database kind {kind!r}; expected one of {DATABASE_KINDS}")
    name = f"meshctl_test_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(
        async_url(server_url), isolation_level="AUTOCOMMIT", poolclass=NullPool
    )
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
    except OSError as exc:
        await admin.dispose()
        raise DatabaseUnavailableError(
            f"PostgreSQL at {server_url} is not reachable: {exc}"
        ) from exc
    try:
        yield (
            make_url(async_url(server_url)).set(database=name).render_as_string(hide_password=False)
        )
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()
