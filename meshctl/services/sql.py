"""Open a service's database from its settings; statements both SQL dialects write alike."""

from __future__ import annotations

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.sql.dml import Insert

from meshctl.services.base import ServiceSettings
from meshctl.services.db import Base, create_engine, create_tables, session_factory


async def open_database(
    settings: ServiceSettings, service: str
) -> tuple[AsyncEngine, async_sessionmaker[AsyncSession]]:
    """An engine on ``service``'s database (inside ``database_schema`` if set), tables made."""
    engine = create_engine(settings.database_url_of(service))
    if settings.database_schema:
        engine = engine.execution_options(schema_translate_map={None: settings.database_schema})
    await create_tables(engine)
    return engine, session_factory(engine)


def insert_new(model: type[Base], dialect: str, *key: str) -> Insert:
    """INSERT of ``model`` rows that skips (``ON CONFLICT DO NOTHING``) a row stored already.

    Args:
        model: the table's mapped class.
        dialect: ``sqlite`` or ``postgresql``, the connection's ``dialect.name``.
        key: the unique columns that tell; none: any unique constraint.

    Raises:
        ValueError: another dialect.
    """
    target = list(key) or None
    if dialect == "postgresql":
        return postgresql.insert(model).on_conflict_do_nothing(index_elements=target)
    if dialect == "sqlite":
        return sqlite.insert(model).on_conflict_do_nothing(index_elements=target)
    raise ValueError(f"no conflict-skipping INSERT for the {dialect} dialect")
