"""Database engine and sessionmakers: one for the API/services, its own for sqladmin."""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event, exc
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import QueuePool
from sqlalchemy.util import await_

from app.infra.db_reads import DriverReader, Reader, SqlaReader, StatementObserver
from app.infra.db_url import LOCK_TIMEOUT_MS as LOCK_TIMEOUT_MS  # re-exported
from app.infra.db_url import normalize_database_url
from app.infra.retry_policy import note_commit_started
from app.infra.settings import Settings

# How long a request may wait for a pooled connection before answering 503.
CONNECT_TIMEOUT_SECONDS = 5
# A ping unanswered for this long means the database is not answering (a hung server, a
# network that drops packets): the request fails at once rather than waiting on it.
PING_TIMEOUT_SECONDS = 2.0
# A pooled connection idle for longer than this is pinged before use, and every one is
# for this long after a connection-level error (see _PingPolicy).
PING_AFTER_IDLE_SECONDS = 1.0
PING_AFTER_TROUBLE_SECONDS = 30.0


SQLITE_BUSY_TIMEOUT_MS = 5000
# An execution option: a transaction on a connection carrying it only reads (see below).
READ_ONLY_OPTION = "backoffice_read_only"


def _enable_sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # sqlite3 (under aiosqlite) BEGINs only before DML, so DDL ran outside the transaction
    # and a leading SAVEPOINT started its own, committed by RELEASE whatever the outer
    # transaction did. Take BEGIN away from the driver; _begin_sqlite_transaction emits it.
    dbapi_connection.isolation_level = None
    # SQLite ignores foreign keys unless asked on every connection; a busy timeout makes
    # concurrent writers wait for the lock instead of failing at once. Write-ahead logging
    # lets readers and the one writer proceed side by side (a reader never waits, and
    # never holds up a writer's commit); it is a property of the file and sticks.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def _begin_sqlite_transaction(connection: Connection) -> None:
    # SQLAlchemy's recipe for real transactions on SQLite (transactional DDL, savepoints).
    # IMMEDIATE takes the write lock at BEGIN, queueing behind another writer for up to
    # the busy timeout. A deferred transaction that reads and then writes cannot queue:
    # SQLite fails its write at once ("database is locked") rather than risk a deadlock,
    # so two staff saving at the same moment got a 500. Transactions opened through
    # `Database.read_session()` say they will not write and begin deferred (under WAL they
    # neither wait nor block). Rails and Django (transaction_mode) settled on the same.
    read_only = connection.get_execution_options().get(READ_ONLY_OPTION, False)
    connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def _stamp_checkin(_dbapi_connection: Any, record: Any) -> None:
    record.info["idle_since"] = time.monotonic()


class DatabaseUnresponsive(TimeoutError):
    """A pooled connection's ping went unanswered (answered 503 like any timeout)."""


class _PingPolicy:
    """When a pooled connection is pinged before use: after idling, or after trouble.

    SQLAlchemy's pool_pre_ping pings on every checkout — on asyncpg that is BEGIN, `;`,
    ROLLBACK: three round trips per request, more than the request's own queries. A
    connection handed back moments ago is alive as far as anyone can know; one that sat
    idle may have been cut (restart, failover, proxy timeout) and is pinged first. And for
    a while after any connection-level error every checkout is pinged, so a connection
    that died with the others during an outage is never handed to a request afterwards.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self.dialect = engine.sync_engine.dialect
        self.suspect_until = 0.0

    def on_error(self, context: Any) -> None:
        if context.is_disconnect or isinstance(
            context.sqlalchemy_exception, exc.OperationalError | exc.InterfaceError
        ):
            self.suspect()

    def suspect(self) -> None:
        self.suspect_until = time.monotonic() + PING_AFTER_TROUBLE_SECONDS

    def on_checkout(self, dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        now = time.monotonic()
        idle_since = record.info.get("idle_since")
        idle = idle_since is not None and now - idle_since >= PING_AFTER_IDLE_SECONDS
        if not idle and now >= self.suspect_until:
            return
        try:
            self._ping(dbapi_connection)
        except DatabaseUnresponsive:
            # Not retried on another connection: that would wait as long again. The pool
            # discards this one; the request is answered 503.
            self.suspect()
            raise
        except Exception as error:
            # The pool discards this connection and checks out (or opens) another.
            raise exc.DisconnectionError(str(error)) from error

    def _ping(self, dbapi_connection: Any) -> None:
        if self.dialect.driver != "asyncpg":
            self.dialect.do_ping(dbapi_connection)
            return
        # The dialect's own ping waits for as long as the server takes, forever on a hung one.
        driver = dbapi_connection.driver_connection
        try:
            await_(driver.fetchrow(";", timeout=PING_TIMEOUT_SECONDS))
        except TimeoutError:
            # Closed at once, so the pool's graceful close does not wait on it too.
            driver.terminate()
            raise DatabaseUnresponsive(
                f"the database did not answer a ping within {PING_TIMEOUT_SECONDS:g} s"
            ) from None


# The policy of each engine create_engine made, for errors seen outside SQLAlchemy's
# execution (the driver path of app/infra/db_reads.py).
_ping_policies: weakref.WeakKeyDictionary[Any, _PingPolicy] = weakref.WeakKeyDictionary()


def create_engine(settings: Settings, **overrides: Any) -> AsyncEngine:
    """The async engine for DATABASE_URL: pool sizes of §2, short timeouts, idle pings."""
    url, connect_args = normalize_database_url(settings.database_url)
    options: dict[str, Any] = {"connect_args": connect_args}
    if url.get_backend_name() == "postgresql" and "poolclass" not in overrides:
        # Connections open as concurrency needs them, up to DB_POOL_SIZE + DB_MAX_OVERFLOW,
        # and are kept. SQLAlchemy's own overflow closes an overflow connection the moment
        # it is returned to a full pool: under steady load a worker opened and closed ~50
        # PostgreSQL connections a second (a backend fork and a handshake each), which
        # cost more than the queries. The budget check of `serve` counts the same maximum.
        # LIFO: at low load the same few connections serve, the rest stay idle.
        options |= {
            "pool_size": settings.db_pool_size + settings.db_max_overflow,
            "max_overflow": 0,
            "pool_use_lifo": True,
            "pool_timeout": CONNECT_TIMEOUT_SECONDS,
            "pool_recycle": 1800,
        }
    options |= overrides
    engine = create_async_engine(url, **options)
    pings = _PingPolicy(engine)
    _ping_policies[engine.sync_engine] = pings
    event.listen(engine.sync_engine.pool, "checkin", _stamp_checkin)
    event.listen(engine.sync_engine.pool, "checkout", pings.on_checkout)
    event.listen(engine.sync_engine, "handle_error", pings.on_error)
    if url.get_backend_name() == "sqlite":
        event.listen(engine.sync_engine, "connect", _enable_sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _begin_sqlite_transaction)
    return engine


@dataclass
class Database:
    """The engine and the sessionmakers an application instance owns."""

    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    admin_sessionmaker: async_sessionmaker[AsyncSession]
    # Sessions that only read (see read_session); None: `sessionmaker` serves them too.
    read_sessionmaker: async_sessionmaker[AsyncSession] | None = None
    # Admits API requests to the pool in arrival order (see connection_slot); None: no gate.
    gate: asyncio.Semaphore | None = None
    # `reader()` sends statements on the asyncpg connection itself (PostgreSQL, outside
    # tests); otherwise through a session of `sessionmaker`.
    driver_reads: bool = False
    # See app.infra.db_reads.StatementObserver.
    statement_observers: list[StatementObserver] = field(default_factory=list)
    # Told of connection errors the driver path sees (the engine's ping policy).
    on_connection_trouble: Callable[[], None] = field(default=lambda: None)

    def connection_slot(self) -> AbstractAsyncContextManager[Any]:
        """Wait, first come first served, for one of the pool's connections.

        The pool's own queue lets a newcomer take a connection that was just returned
        while an earlier waiter is being woken; the waiter then queues again at the back.
        Under overload (64 connections on a 10-connection pool) that starved some requests
        for over a second (p99 1.5 s, p50 36 ms). asyncio's Semaphore serves in order.
        The wait is bounded like the pool's own: when every connection is stuck (a hung
        database), a request is answered 503 after CONNECT_TIMEOUT_SECONDS.
        """
        return _GateSlot(self.gate) if self.gate is not None else nullcontext()

    def read_session(self) -> AsyncSession:
        """A session for work that never writes (a long export, say).

        On SQLite its transaction begins deferred, so it holds no write lock and, under
        WAL, neither waits for writers nor delays them. A write through it may fail with
        "database is locked"; the other backends treat it like any session.
        """
        return (self.read_sessionmaker or self.sessionmaker)()

    def connect_read_only(self) -> AsyncConnection:
        """A connection for statements that never write (probes): deferred on SQLite."""
        return self.engine.execution_options(**{READ_ONLY_OPTION: True}).connect()

    @asynccontextmanager
    async def reader(self) -> AsyncIterator[Reader]:
        """A Reader for one request: a pooled connection, or a session's unit of work.

        Waits at the connection gate like `get_session`. The session variant commits
        when the block ends, rolls back on error. What a reader writes is a stamp (a
        token's `last_used_at`, a staff session's `last_seen_at`) that a re-run sets the
        same way, so its commit does not tell the retry policy the request's outcome is
        unknown: like the driver path's statements, which commit as they run. (The admin
        resolves its caller in a reader block that ends before the page's own work,
        which must stay re-runnable after a clash.)
        """
        async with self.connection_slot():
            if not self.driver_reads:
                async with self.sessionmaker() as session:
                    try:
                        yield SqlaReader(session)
                    except BaseException:
                        await session.rollback()
                        raise
                    await session.commit()
                return
            fairy = await self.engine.raw_connection()
            try:
                yield DriverReader(
                    fairy,
                    self.engine.dialect,
                    on_trouble=self.on_connection_trouble,
                    observers=self.statement_observers,
                )
            finally:
                # No transaction was begun on it: the pool's reset-on-return is a no-op.
                fairy.close()

    @classmethod
    def from_engine(cls, engine: AsyncEngine) -> Database:
        # sqladmin reconfigures the sessionmaker it is given, so it gets its own.
        postgresql = engine.dialect.name == "postgresql"
        pool = engine.sync_engine.pool
        gate = None
        if postgresql and isinstance(pool, QueuePool):
            # create_engine's PostgreSQL pool never overflows: its size is the number of
            # connections there are to wait for.
            gate = asyncio.Semaphore(pool.size())
        database = cls(
            engine=engine,
            sessionmaker=async_sessionmaker(engine, expire_on_commit=False),
            admin_sessionmaker=async_sessionmaker(engine, expire_on_commit=False),
            read_sessionmaker=async_sessionmaker(
                engine.execution_options(**{READ_ONLY_OPTION: True}), expire_on_commit=False
            ),
            gate=gate,
            driver_reads=postgresql and engine.dialect.driver == "asyncpg",
        )
        policy = _ping_policies.get(engine.sync_engine)
        if policy is not None:  # engines not made by create_engine have none
            database.on_connection_trouble = policy.suspect
        return database

    @classmethod
    def from_settings(cls, settings: Settings) -> Database:
        return cls.from_engine(create_engine(settings))

    async def dispose(self) -> None:
        await self.engine.dispose()


class _GateSlot:
    """One place at the gate, waited for at most CONNECT_TIMEOUT_SECONDS."""

    __slots__ = ("gate",)

    def __init__(self, gate: asyncio.Semaphore) -> None:
        self.gate = gate

    async def __aenter__(self) -> None:
        if not self.gate.locked():
            # A free place and nobody waiting: taken without suspending (wait_for would
            # wrap the acquire in a task on every request).
            await self.gate.acquire()
            return
        try:
            await asyncio.wait_for(self.gate.acquire(), CONNECT_TIMEOUT_SECONDS)
        except TimeoutError:
            # The pool's own exception for the same wait: answered 503.
            raise exc.TimeoutError(
                f"no pooled connection became free within {CONNECT_TIMEOUT_SECONDS} s"
            ) from None

    async def __aexit__(self, *_: object) -> None:
        self.gate.release()


async def unit_of_work(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    """Yield a session; commit if the caller finished normally, roll back otherwise.

    Services only flush(): this boundary is the one place a request's work commits. An
    error marked `keeps_changes` is a refusal that is itself the record (a wrong password
    counted toward the lockout, with its audit row): its work commits, then it is raised.
    """
    async with sessionmaker() as session:
        try:
            yield session
        except BaseException as exc:
            if getattr(exc, "keeps_changes", False):
                note_commit_started()
                await session.commit()
            else:
                await session.rollback()
            raise
        else:
            # If COMMIT fails, whether it took effect is unknown: the retry policy must
            # not run this unit of work again unless it can find out (app/infra/retry_policy.py).
            note_commit_started()
            await session.commit()


# The same unit of work as a context manager, for code outside FastAPI's dependencies
# (the admin, the CLI, the worker): early returns and exceptions close it deterministically.
transaction = asynccontextmanager(unit_of_work)
