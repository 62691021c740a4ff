"""A PostgreSQL database of its own served by two apps: one reading on the asyncpg
connection (the driver path, as in production), one through sessions (as every other
test), so a test can hold both paths to the same answers."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from app.infra.db import Database, create_engine
from app.infra.migrations import upgrade_engine
from app.main import create_app
from tests.conftest import create_postgres_database, drop_postgres_database, postgres_server_url
from tests.conftest import test_settings as settings_for


@dataclasses.dataclass
class TwoPaths:
    engine: AsyncEngine
    driver: Database
    sessions: Database
    driver_client: httpx.AsyncClient
    session_client: httpx.AsyncClient


@asynccontextmanager
async def two_paths(prefix: str) -> AsyncIterator[TwoPaths]:
    """A migrated database named `prefix_…`, dropped afterwards; skips without PostgreSQL."""
    server = postgres_server_url()
    if server is None:
        pytest.skip("TEST_DATABASE_URL is not set")
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    url = await create_postgres_database(server, name)
    engine = create_engine(settings_for(url))
    try:
        await upgrade_engine(engine)
        driver = Database.from_engine(engine)
        sessions = dataclasses.replace(driver, driver_reads=False)
        assert driver.driver_reads and not sessions.driver_reads
        clients = [
            httpx.AsyncClient(
                transport=httpx.ASGITransport(
                    app=create_app(settings_for(url), database), raise_app_exceptions=False
                ),
                base_url="http://testserver",
            )
            for database in (driver, sessions)
        ]
        try:
            yield TwoPaths(engine, driver, sessions, clients[0], clients[1])
        finally:
            for client in clients:
                await client.aclose()
    finally:
        await engine.dispose()
        await drop_postgres_database(server, name)
