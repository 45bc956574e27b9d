"""SQL storage shared by the reference services: one code path for SQLite and PostgreSQL.

``MESH_DATABASE_URL`` picks the database (``sqlite+aiosqlite:///file.db`` by
default, ``postgresql+asyncpg://...`` for PostgreSQL). Plain ``postgresql://``
and ``sqlite:///`` URLs are given their async driver.

SQLite connections run in WAL mode with ``synchronous=NORMAL``: readers and
the writer do not block each other, a commit costs no fsync (the WAL is
synced at checkpoints), and a committed transaction survives the process
being killed (not a power cut since the last checkpoint). Processes sharing
one file (replicas under ``meshctl up``) take turns to write: a writer waits
up to ``SQLITE_BUSY_TIMEOUT`` for another's lock instead of failing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import sqlalchemy
from sqlalchemy import Connection, event
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


SQLITE_BUSY_TIMEOUT = 30.0


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


def create_engine(url: str) -> AsyncEngine:
    """An engine for ``url``; SQLite in WAL mode with a busy timeout (see the module docstring).

    Connections to a server are pinged before use (the server may have dropped
    them); a SQLite file's are not (they never go stale, and a ping is one more
    trip to the driver's thread).
    """
    url = async_url(url)
    if not url.startswith("sqlite"):
        return create_async_engine(url, pool_pre_ping=True)
    engine = create_async_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT})
    event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


# What a database says when another creator got there first (see create_tables).
_RACED = ("already exists", "duplicate key", "database is locked")


async def create_tables(engine: AsyncEngine, *, attempts: int = 5) -> None:
    """Create every table registered on ``Base`` that does not exist yet.

    Replicas of a service start together on one database; when another one
    creates a table between our check and our CREATE, the database says it
    already exists, and the next round finds it and moves on. On SQLite the
    check's read transaction cannot become a write one once another
    connection wrote: SQLite answers "database is locked" at once, without
    its busy wait, and the next round starts afresh too.
    """
    for attempt in range(1, attempts + 1):
        try:
            async with engine.begin() as conn:
                await conn.run_sync(Base.metadata.create_all)
            return
        except DBAPIError as exc:
            text = str(exc.orig).lower()
            raced = any(sign in text for sign in _RACED)
            if not raced or attempt == attempts:
                raise
            await asyncio.sleep(0.05 * attempt)


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


T = TypeVar("T")


class TransactionRunner:
    """Runs a whole transaction, given as a function of a sync ``Connection``, in one hand-off.

    On a SQLite file the transaction runs in a thread of its own on a
    connection of its own: the one writer of this process, while reads use
    the async engine's pool. Each statement through aiosqlite costs several
    trips between the event loop and aiosqlite's thread (cursor, execute,
    fetch, close, commit, the pool's rollback); here a transaction costs one.
    Elsewhere (PostgreSQL with asyncpg, in-memory SQLite) the same function
    runs on the async engine through ``run_sync``.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        url = engine.url
        self._sync: sqlalchemy.Engine | None = None
        self._thread: ThreadPoolExecutor | None = None
        if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
            self._sync = sqlalchemy.create_engine(
                url.set(drivername="sqlite+pysqlite"),
                connect_args={"timeout": SQLITE_BUSY_TIMEOUT},
                execution_options=engine.sync_engine.get_execution_options(),
            )
            event.listen(self._sync, "connect", _sqlite_pragmas)
            self._thread = ThreadPoolExecutor(1, thread_name_prefix="sqlite-writer")

    @property
    def sync_engine(self) -> sqlalchemy.Engine:
        """The engine whose connections run the transactions (for event listeners)."""
        return self._sync or self.engine.sync_engine

    async def run(self, body: Callable[[Connection], T]) -> T:
        """``body(connection)`` inside a transaction, committed when it returns."""
        if self._thread is None:
            async with self.engine.begin() as conn:
                return await conn.run_sync(body)
        return await asyncio.get_running_loop().run_in_executor(self._thread, self._in_thread, body)

    def _in_thread(self, body: Callable[[Connection], T]) -> T:
        assert self._sync is not None
        with self._sync.begin() as conn:
            return body(conn)

    async def aclose(self) -> None:
        """Close the writer's connection and thread (after the last ``run`` returned)."""
        if self._thread is not None and self._sync is not None:
            await asyncio.get_running_loop().run_in_executor(self._thread, self._sync.dispose)
            self._thread.shutdown()
            self._thread = None
