"""Database engine and sessionmakers: one for the API/services, its own for sqladmin."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from app.settings import Settings

# asyncpg understands these libpq `sslmode` values through its `ssl` argument.
_SSLMODES = {"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}
# How long a request may wait for a connection (pool or network) before answering 503.
CONNECT_TIMEOUT_SECONDS = 5


def normalize_database_url(raw: str) -> tuple[URL, dict[str, Any]]:
    """Turn any supported URL (Heroku's `postgres://…?sslmode=require` too) into an async URL.

    Returns the URL and the DBAPI connect arguments it implies.
    """
    url = make_url(raw.strip())
    connect_args: dict[str, Any] = {}
    backend = url.get_backend_name()
    if backend in {"postgres", "postgresql"}:
        url = url.set(drivername="postgresql+asyncpg")
        query = dict(url.query)
        sslmode = query.pop("sslmode", None)
        if isinstance(sslmode, tuple):
            sslmode = sslmode[-1]
        if sslmode is not None:
            if sslmode not in _SSLMODES:
                raise ValueError(f"unsupported sslmode {sslmode!r}")
            connect_args["ssl"] = sslmode
        url = url.set(query=query)
        connect_args["timeout"] = CONNECT_TIMEOUT_SECONDS
    elif backend == "sqlite":
        url = url.set(drivername="sqlite+aiosqlite")
    else:
        raise ValueError(f"unsupported database {backend!r} (use PostgreSQL or SQLite)")
    return url, connect_args


def _enable_sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # sqlite3 (under aiosqlite) BEGINs only before DML, so DDL ran outside the transaction
    # and a leading SAVEPOINT started its own, committed by RELEASE whatever the outer
    # transaction did. Take BEGIN away from the driver; _begin_sqlite_transaction emits it.
    dbapi_connection.isolation_level = None
    # SQLite ignores foreign keys unless asked on every connection; a busy timeout makes
    # concurrent writers wait for the lock instead of failing at once.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def _begin_sqlite_transaction(connection: Connection) -> None:
    # SQLAlchemy's recipe for real transactions on SQLite (transactional DDL, savepoints).
    connection.exec_driver_sql("BEGIN")


def create_engine(settings: Settings, **overrides: Any) -> AsyncEngine:
    """The async engine for DATABASE_URL, with pre-ping, pool sizes of §2 and short timeouts."""
    url, connect_args = normalize_database_url(settings.database_url)
    options: dict[str, Any] = {"pool_pre_ping": True, "connect_args": connect_args}
    if url.get_backend_name() == "postgresql" and "poolclass" not in overrides:
        options |= {
            "pool_size": settings.db_pool_size,
            "max_overflow": settings.db_max_overflow,
            "pool_timeout": CONNECT_TIMEOUT_SECONDS,
            "pool_recycle": 1800,
        }
    options |= overrides
    engine = create_async_engine(url, **options)
    if url.get_backend_name() == "sqlite":
        event.listen(engine.sync_engine, "connect", _enable_sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _begin_sqlite_transaction)
    return engine


@dataclass
class Database:
    """The engine and the two sessionmakers an application instance owns."""

    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    admin_sessionmaker: async_sessionmaker[AsyncSession]

    @classmethod
    def from_engine(cls, engine: AsyncEngine) -> Database:
        # sqladmin reconfigures the sessionmaker it is given, so it gets its own.
        return cls(
            engine=engine,
            sessionmaker=async_sessionmaker(engine, expire_on_commit=False),
            admin_sessionmaker=async_sessionmaker(engine, expire_on_commit=False),
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> Database:
        return cls.from_engine(create_engine(settings))

    async def dispose(self) -> None:
        await self.engine.dispose()


async def unit_of_work(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    """Yield a session; commit if the caller finished normally, roll back otherwise.

    Services only flush(): this boundary is the one place a request's work commits.
    """
    async with sessionmaker() as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        else:
            await session.commit()


# The same unit of work as a context manager, for code outside FastAPI's dependencies
# (the admin, the CLI, the worker): early returns and exceptions close it deterministically.
transaction = asynccontextmanager(unit_of_work)
