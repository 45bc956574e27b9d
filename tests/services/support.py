"""Databases (SQLite file, PostgreSQL schema) and served apps for the service tests."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from meshctl.services.base import ServiceSettings
from meshctl.services.db import create_engine
from meshctl.services.host import serve

POSTGRES_URL = os.environ.get(
    "MESH_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)


@asynccontextmanager
async def database(kind: str, tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    """Settings fields for an empty database of ``kind``, removed afterwards."""
    if kind == "sqlite":
        yield {"database_url": f"sqlite+aiosqlite:///{tmp_path / 'service.db'}"}
        return
    schema = f"test_{uuid.uuid4().hex[:12]}"
    engine = create_engine(POSTGRES_URL)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except OSError as exc:  # pragma: no cover - depends on the machine
        await engine.dispose()
        pytest.fail(f"PostgreSQL at {POSTGRES_URL} is not reachable: {exc}")
    try:
        yield {"database_url": POSTGRES_URL, "database_schema": schema}
    finally:
        async with engine.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        await engine.dispose()


def settings(db: dict[str, Any], **overrides: Any) -> ServiceSettings:
    return ServiceSettings(**db, **overrides)


@asynccontextmanager
async def served(app: Any, **kwargs: Any) -> AsyncIterator[int]:
    """Serve ``app`` on a free loopback port for the body of the block; yields the port."""
    stop = asyncio.Event()
    port: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(serve(app, stop_event=stop, ready=port.set_result, **kwargs))
    done, _ = await asyncio.wait([task, port], timeout=30, return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        task.result()
    try:
        yield port.result()
    finally:
        stop.set()
        await task
