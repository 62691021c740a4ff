"""A live app on a PostgreSQL database of its own, reached through a fault-injecting proxy."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

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
from tests.faults.pg_proxy import PgFaultProxy

pytestmark = pytest.mark.postgres


@dataclass(frozen=True)
class ProxiedApp:
    """The app (its pool goes through `proxy`) and a direct engine to check what committed."""

    app: FastAPI
    database: Database
    proxy: PgFaultProxy
    direct: AsyncEngine


@pytest.fixture
async def proxied() -> AsyncIterator[ProxiedApp]:
    server = postgres_server_url()
    if server is None:
        pytest.skip(NO_POSTGRES_REASON)
    name = f"bo_faults_{uuid.uuid4().hex[:10]}"
    url = await create_postgres_database(server, name)
    direct = create_engine(settings_for(url))
    target = make_url(url)
    proxy = PgFaultProxy(target.host or "127.0.0.1", target.port or 5432)
    await proxy.start()
    proxied_url = target.set(
        drivername="postgresql", host="127.0.0.1", port=proxy.port, query={"sslmode": "disable"}
    ).render_as_string(hide_password=False)
    engine = create_engine(settings_for(proxied_url, db_pool_size=5, db_max_overflow=0))
    try:
        await upgrade_engine(direct)
        database = Database.from_engine(engine)
        app = create_app(settings_for(proxied_url), database)
        yield ProxiedApp(app, database, proxy, direct)
    finally:
        await engine.dispose()
        await proxy.stop()
        await direct.dispose()
        await drop_postgres_database(server, name)


@pytest.fixture
async def proxied_client(proxied: ProxiedApp) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=proxied.app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client
