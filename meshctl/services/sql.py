"""Open a service's database from its settings: engine, tables and session factory."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from meshctl.services.base import ServiceSettings
from meshctl.services.db import create_engine, create_tables, session_factory


async def open_database(
    settings: ServiceSettings,
) -> tuple[AsyncEngine, async_sessionmaker[AsyncSession]]:
    """An engine on ``settings.database_url`` (inside ``database_schema`` if set), tables made."""
    engine = create_engine(settings.database_url)
    if settings.database_schema:
        engine = engine.execution_options(schema_translate_map={None: settings.database_schema})
    await create_tables(engine)
    return engine, session_factory(engine)
