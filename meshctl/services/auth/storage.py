"""Users in SQL (SQLite or PostgreSQL through ``meshctl.services.db``)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import JSON, DateTime, String, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from meshctl.services.db import Base, create_engine, create_tables, session_factory


class User(Base):
    """An account that may log in; only the password's argon2 hash is kept."""

    __tablename__ = "auth_users"

    username: Mapped[str] = mapped_column(String(128), primary_key=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    roles: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class UserStore:
    """Reads and creates users; owns its engine."""

    def __init__(self, database_url: str) -> None:
        self._engine: AsyncEngine = create_engine(database_url)
        self._sessions: async_sessionmaker[AsyncSession] = session_factory(self._engine)

    async def open(self) -> None:
        await create_tables(self._engine)

    async def close(self) -> None:
        await self._engine.dispose()

    async def get(self, username: str) -> User | None:
        async with self._sessions() as session:
            return await session.get(User, username)

    async def create(self, username: str, password_hash: str, roles: list[str]) -> bool:
        """Add a user; False if the name is taken (a concurrent start may have won)."""
        user = User(
            username=username,
            password_hash=password_hash,
            roles=roles,
            created_at=datetime.now(UTC),
        )
        try:
            async with self._sessions.begin() as session:
                session.add(user)
        except IntegrityError:
            return False
        return True

    async def ping(self) -> bool:
        """Whether the database answers."""
        try:
            async with self._engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception:  # any driver error means "not reachable" for a health check
            return False
        return True
