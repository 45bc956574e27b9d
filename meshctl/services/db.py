"""SQL storage shared by the reference services: one code path for SQLite and PostgreSQL.

``MESH_DATABASE_URL`` picks the database (``sqlite+aiosqlite:///file.db`` by
default, ``postgresql+asyncpg://...`` for PostgreSQL). Plain ``postgresql://``
and ``sqlite:///`` URLs are given their async driver.
"""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    """Declarative base of every service table."""


def async_url(url: str) -> str:
    """The same URL with an asyncio driver named."""
    for plain, driver in (
        ("postgresql://", "postgresql+asyncpg://"),
        ("postgres://", "postgresql+asyncpg://"),
        ("sqlite://", "sqlite+aiosqlite://"),
    ):
        if url.startswith(plain):
            return driver + url[len(plain) :]
    return url


def create_engine(url: str) -> AsyncEngine:
    """An engine for ``url``; SQLite gets a busy timeout so concurrent writers wait."""
    url = async_url(url)
    connect_args = {"timeout": 30} if url.startswith("sqlite") else {}
    return create_async_engine(url, connect_args=connect_args, pool_pre_ping=True)


async def create_tables(engine: AsyncEngine, *, attempts: int = 5) -> None:
    """Create every table registered on ``Base`` that does not exist yet.

    Replicas of a service start together on one database; when another one
    creates a table between our check and our CREATE, the database says it
    already exists, and the next round finds it and moves on.
    """
    for attempt in range(1, attempts + 1):
        try:
            async with engine.begin() as conn:
                await conn.run_sync(Base.metadata.create_all)
            return
        except DBAPIError as exc:
            text = str(exc.orig).lower()
            raced = "already exists" in text or "duplicate key" in text
            if not raced or attempt == attempts:
                raise


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)
