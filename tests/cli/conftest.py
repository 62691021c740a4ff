"""Fixtures for CLI tests: a brand-new database per test on each backend."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.pool import NullPool

from app.infra.db import create_engine
from app.infra.migrations import upgrade_engine
from tests.conftest import create_postgres_database, drop_postgres_database, postgres_server_url
from tests.conftest import test_settings as settings_for

# The CLI runs its own event loop (asyncio.run), so these tests and fixtures are synchronous.


@pytest.fixture
def database_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """An empty database: a SQLite file, or a throwaway PostgreSQL database dropped afterwards."""
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
        return
    server = postgres_server_url()
    assert server is not None  # the `backend` fixture skips PostgreSQL without it
    name = f"bo_cli_{uuid.uuid4().hex[:10]}"
    url = asyncio.run(create_postgres_database(server, name))
    try:
        yield url
    finally:
        asyncio.run(drop_postgres_database(server, name))


@pytest.fixture
def migrated_url(database_url: str) -> str:
    """The same database with every migration applied."""

    async def migrate() -> None:
        engine = create_engine(settings_for(database_url), poolclass=NullPool)
        try:
            await upgrade_engine(engine)
        finally:
            await engine.dispose()

    asyncio.run(migrate())
    return database_url
