"""Alembic environment: async engine from DATABASE_URL, batch mode on SQLite."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from alembic import context
from sqlalchemy import pool
from sqlalchemy.engine import Connection

from app.infra.db import create_engine
from app.infra.settings import get_settings, load_settings
from app.models import Base

config = context.config
target_metadata = Base.metadata


def _exists_on(dialect_name: str) -> Callable[..., bool]:
    """Skip schema items declared for another backend only (`.ddl_if(dialect=...)`)."""

    def include_object(obj: Any, name: str | None, type_: str, reflected: bool, _: Any) -> bool:
        ddl_if = getattr(obj, "_ddl_if", None)
        if not reflected and ddl_if is not None and ddl_if.dialect is not None:
            return bool(ddl_if.dialect == dialect_name)
        return True

    return include_object


def _configure(connection: Connection) -> None:
    context.configure(
        include_object=_exists_on(connection.dialect.name),
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things; batch mode recreates the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        compare_server_default=True,
    )


def _run(connection: Connection) -> None:
    _configure(connection)
    with context.begin_transaction():
        context.run_migrations()


async def _run_async(url: str) -> None:
    # The app's engine factory: same URL translation, SQLite pragmas and transactions.
    engine = create_engine(load_settings(database_url=url), poolclass=pool.NullPool)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
    finally:
        await engine.dispose()


def run_migrations_online() -> None:
    # A caller that already holds a connection (tests, `backoffice migrate`) passes it in.
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.attributes.get("database_url") or get_settings().database_url
    asyncio.run(_run_async(url))


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; run against a database")
run_migrations_online()
