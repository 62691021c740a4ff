"""Fixtures for migration tests: an empty database per backend that the test migrates itself."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import NullPool

from app.infra.db import create_engine
from tests.conftest import create_postgres_database, drop_postgres_database
from tests.conftest import test_settings as settings_for


@pytest.fixture
async def empty_engine(
    request: pytest.FixtureRequest, backend: str, tmp_path: Path
) -> AsyncIterator[AsyncEngine]:
    """An engine on a brand-new, never-migrated database of the backend under test.

    SQLite gets a file in the test's tmp dir; PostgreSQL a throwaway database that is
    dropped afterwards, so the shared test databases are never touched.
    """
    if backend == "sqlite":
        engine = create_engine(
            settings_for(f"sqlite+aiosqlite:///{tmp_path / 'migrations.db'}"), poolclass=NullPool
        )
        try:
            yield engine
        finally:
            await engine.dispose()
        return
    server: str = request.getfixturevalue("postgres_url")
    name = f"bo_migrations_{uuid.uuid4().hex[:10]}"
    url = await create_postgres_database(server, name)
    engine = create_engine(settings_for(url), poolclass=NullPool)
    try:
        yield engine
    finally:
        await engine.dispose()
        await drop_postgres_database(server, name)
