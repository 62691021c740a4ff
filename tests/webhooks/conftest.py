"""Committed databases for the webhook tests: the worker reads what other transactions commit.

A migrated template is built once per backend; each test gets its own copy (a copied
SQLite file, or a PostgreSQL database created from the template), so nothing leaks between
tests and nothing relies on the rolled-back test transaction of tests/conftest.py.
No test here asks real DNS: names resolve only to what the test says (`dns`).
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import NullPool

from app.infra.db import Database, create_engine, normalize_database_url
from app.infra.migrations import upgrade_engine
from app.main import create_app
from tests.conftest import (
    NO_POSTGRES_REASON,
    create_postgres_database,
    drop_postgres_database,
    postgres_server_url,
    test_settings,
    url_of,
)
from tests.webhooks.helpers import StubResolver, stub_dns


@pytest.fixture(autouse=True)
async def dns(monkeypatch: pytest.MonkeyPatch) -> StubResolver:
    """This test's resolver: no name resolves until the test says what it answers."""
    return stub_dns(monkeypatch)


@dataclass(frozen=True)
class CommittedDatabase:
    """A database of the test's own: its URL and an app Database with real transactions."""

    backend: str
    url: str
    database: Database


@pytest.fixture(scope="session")
async def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = Path(tmp_path_factory.mktemp("webhooks")) / "template.db"
    engine = create_engine(test_settings(f"sqlite+aiosqlite:///{path}"), poolclass=NullPool)
    await upgrade_engine(engine)
    await engine.dispose()
    return path


@pytest.fixture(scope="session")
async def postgresql_template() -> AsyncIterator[str]:
    server = postgres_server_url()
    if server is None:
        pytest.skip(NO_POSTGRES_REASON)
    name = f"bo_wh_tpl_{uuid.uuid4().hex[:8]}"
    url = await create_postgres_database(server, name)
    engine = create_engine(test_settings(url), poolclass=NullPool)
    try:
        await upgrade_engine(engine)
        await engine.dispose()
        yield name
    finally:
        await drop_postgres_database(server, name)


@pytest.fixture
def template(request: pytest.FixtureRequest, backend: str) -> str:
    """The migrated template of the backend under test (a file path or a database name)."""
    return str(request.getfixturevalue(f"{backend}_template"))


async def _copy_of_template(backend: str, template: str, tmp_path: Path) -> AsyncIterator[str]:
    if backend == "sqlite":
        path = tmp_path / "committed.db"
        shutil.copyfile(template, path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    server = postgres_server_url()
    assert server is not None
    name = f"bo_wh_{uuid.uuid4().hex[:10]}"
    admin = create_engine(test_settings(server), isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        async with admin.connect() as connection:
            await connection.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    finally:
        await admin.dispose()
    url, _ = normalize_database_url(server)
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        await drop_postgres_database(server, name)


async def _committed(
    backend: str, template: str, tmp_path: Path
) -> AsyncIterator[CommittedDatabase]:
    async for url in _copy_of_template(backend, template, tmp_path):
        database = Database.from_settings(test_settings(url))
        try:
            yield CommittedDatabase(backend, url, database)
        finally:
            await database.dispose()


@pytest.fixture
async def committed(
    backend: str, template: str, tmp_path: Path
) -> AsyncIterator[CommittedDatabase]:
    """A freshly migrated database of `backend` whose transactions really commit."""
    async for committed in _committed(backend, template, tmp_path):
        yield committed


@pytest.fixture
async def postgres_committed(
    postgres_url: str, postgresql_template: str, tmp_path: Path
) -> AsyncIterator[CommittedDatabase]:
    """Like `committed`, PostgreSQL only (skipped without TEST_DATABASE_URL)."""
    async for committed in _committed("postgresql", postgresql_template, tmp_path):
        yield committed


METRICS_TOKEN = "metrics-token-" + "m" * 24


@pytest.fixture
async def metrics_client(
    engine: AsyncEngine, database: Database
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app whose METRICS_TOKEN is set."""
    app = create_app(test_settings(url_of(engine), metrics_token=METRICS_TOKEN), database)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client
