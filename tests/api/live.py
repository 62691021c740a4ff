"""An app over a committed database (SQLite file or PostgreSQL), for tests whose requests
must overlap in separate transactions: the rolled-back test transaction cannot show that."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI

from app.infra.db import Database, create_engine
from app.infra.migrations import upgrade_engine
from app.main import create_app
from tests.conftest import (
    NO_POSTGRES_REASON,
    create_postgres_database,
    drop_postgres_database,
    postgres_server_url,
)
from tests.conftest import test_settings as settings_for


@dataclass(frozen=True)
class LiveApp:
    """An app over a committed database with a pool big enough for 50 requests at once."""

    app: FastAPI
    database: Database


@pytest.fixture(
    scope="module",
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
)
async def live(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[LiveApp]:
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("concurrency") / "live.db"
        async for live_app in _live_app(f"sqlite+aiosqlite:///{path}"):
            yield live_app
        return
    server = postgres_server_url()
    if server is None:
        pytest.skip(NO_POSTGRES_REASON)
    name = f"bo_concurrency_{uuid.uuid4().hex[:10]}"
    url = await create_postgres_database(server, name)
    try:
        async for live_app in _live_app(url):
            yield live_app
    finally:
        await drop_postgres_database(server, name)


async def _live_app(url: str) -> AsyncIterator[LiveApp]:
    settings = settings_for(url, db_pool_size=20, db_max_overflow=40)
    engine = create_engine(settings)
    try:
        await upgrade_engine(engine)
        database = Database.from_engine(engine)
        yield LiveApp(create_app(settings, database), database)
    finally:
        await engine.dispose()


@pytest.fixture
async def live_client(live: LiveApp) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=live.app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client
