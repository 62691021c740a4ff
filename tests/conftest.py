"""Shared fixtures: one migrated database per backend, each test in a rolled-back transaction."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.pool import NullPool

from app.infra.db import Database, create_engine, normalize_database_url
from app.infra.migrations import upgrade_engine
from app.infra.settings import Settings, load_settings
from app.main import create_app

BACKENDS = ["sqlite", "postgresql"]
TEST_SECRET_KEY = "test-secret-key-0123456789abcdefghijklmnopqrstuvwxyz"
NO_POSTGRES_REASON = "TEST_DATABASE_URL is not set: PostgreSQL tests skipped"


# The files that take longest (junit times under `make test`, slowest first). Run first:
# `make test` hands files to its two workers in collection order, and a long file handed
# out last leaves the other worker idle until it ends.
SLOWEST_FIRST = (
    "tests/api/test_schemathesis.py",
    "tests/artifact/test_installed_artifact.py",
    "tests/security/test_admin_pagination.py",
    "tests/api/test_all_lists.py",
    "tests/e2e/test_accessibility.py",
    "tests/e2e/test_admin_browser.py",
    "tests/api/test_lists.py",
    "tests/admin/test_admin_http.py",
    "tests/api/test_users_roles.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The slowest files first (SLOWEST_FIRST), each file's tests in their own order."""
    rank = {path: index for index, path in enumerate(SLOWEST_FIRST)}
    root = Path(__file__).resolve().parent.parent

    def order(item: pytest.Item) -> int:
        path = Path(str(item.path)).resolve()
        try:
            relative = path.relative_to(root).as_posix()
        except ValueError:
            return len(rank)
        return rank.get(relative, len(rank))

    items.sort(key=order)  # stable: the rest keep pytest's order


def test_settings(database_url: str, **overrides: object) -> Settings:
    """Settings for a test app: test environment, a fixed secret, the given database."""
    values: dict[str, object] = {
        "environment": "test",
        "database_url": database_url,
        "secret_key": TEST_SECRET_KEY,
    }
    values.update(overrides)
    return load_settings(**values)


def url_of(engine: AsyncEngine) -> str:
    return engine.url.render_as_string(hide_password=False)


async def create_postgres_database(server_url: str, name: str) -> str:
    """CREATE DATABASE `name` on the server of `server_url`; returns the new database's URL."""
    url, _ = normalize_database_url(server_url)
    admin = create_engine(
        test_settings(server_url), isolation_level="AUTOCOMMIT", poolclass=NullPool
    )
    try:
        async with admin.connect() as connection:
            await connection.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        await admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


async def drop_postgres_database(server_url: str, name: str) -> None:
    admin = create_engine(
        test_settings(server_url), isolation_level="AUTOCOMMIT", poolclass=NullPool
    )
    try:
        async with admin.connect() as connection:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        await admin.dispose()


def postgres_server_url() -> str | None:
    return os.environ.get("TEST_DATABASE_URL") or None


@pytest.fixture(scope="session")
async def sqlite_engine(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[AsyncEngine]:
    path = Path(tmp_path_factory.mktemp("db")) / "test.db"
    engine = create_engine(test_settings(f"sqlite+aiosqlite:///{path}"))
    await upgrade_engine(engine)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
async def postgresql_engine() -> AsyncIterator[AsyncEngine]:
    server = postgres_server_url()
    if server is None:
        pytest.skip(NO_POSTGRES_REASON)
    name = f"bo_test_{uuid.uuid4().hex[:10]}"
    url = await create_postgres_database(server, name)
    engine = create_engine(test_settings(url))
    try:
        await upgrade_engine(engine)
        yield engine
    finally:
        await engine.dispose()
        await drop_postgres_database(server, name)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The database backend under test; PostgreSQL is skipped without TEST_DATABASE_URL."""
    name: str = request.param
    if name == "postgresql" and postgres_server_url() is None:
        pytest.skip(NO_POSTGRES_REASON)
    return name


@pytest.fixture
def engine(request: pytest.FixtureRequest, backend: str) -> AsyncEngine:
    """The migrated, session-wide engine of the backend under test."""
    engine: AsyncEngine = request.getfixturevalue(f"{backend}_engine")
    return engine


@pytest.fixture
async def connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """One connection in an outer transaction that is rolled back after the test."""
    async with engine.connect() as connection:
        transaction = await connection.begin()
        try:
            yield connection
        finally:
            if transaction.is_active:
                await transaction.rollback()


def _bound_sessionmaker(connection: AsyncConnection) -> async_sessionmaker[AsyncSession]:
    # Commits inside the code under test become savepoints of the outer transaction.
    return async_sessionmaker(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )


@pytest.fixture
def database(engine: AsyncEngine, connection: AsyncConnection) -> Database:
    """The app's Database, with every session joined to the test's transaction."""
    return Database(
        engine=engine,
        sessionmaker=_bound_sessionmaker(connection),
        admin_sessionmaker=_bound_sessionmaker(connection),
    )


@pytest.fixture
async def session(database: Database) -> AsyncIterator[AsyncSession]:
    async with database.sessionmaker() as session:
        yield session


@pytest.fixture
def settings(engine: AsyncEngine) -> Settings:
    return test_settings(url_of(engine))


@pytest.fixture
def app(settings: Settings, database: Database) -> FastAPI:
    return create_app(settings, database)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client talking to the ASGI app in-process (errors become responses)."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@pytest.fixture
def postgres_url() -> str:
    """The server URL for tests that manage their own PostgreSQL databases."""
    server = postgres_server_url()
    if server is None:
        pytest.skip(NO_POSTGRES_REASON)
    return server


# The limiter's sliding window weighs the last window's hits by the share of it still in
# view and rounds down, so a test whose hits straddle a window edge sees one hit more
# allowed (3 hits just before the edge weigh 2.99). Tests that count hits use hourly
# limits and start clear of the hour's end.
RATE_WINDOW_SECONDS = 3600
RATE_WINDOW_MARGIN_SECONDS = 30


@pytest.fixture
def steady_rate_window() -> None:
    """Wait for the next hour when the current one ends before a counting test could."""
    left = RATE_WINDOW_SECONDS - time.time() % RATE_WINDOW_SECONDS
    if left < RATE_WINDOW_MARGIN_SECONDS:
        time.sleep(left + 0.05)
