"""An admin page's caller (staff_page_caller): the ORM path's answer in one statement."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.auth.principal import RequestMeta
from app.auth.sessions import LAST_SEEN_RESOLUTION, StartedSession, start_session
from app.edge.callers import PageCaller, from_staff_session, staff_page_caller
from app.infra.db import Database, transaction
from app.infra.retry_policy import Attempt, current_attempt
from app.infra.settings import Settings
from app.models import StaffSession, User
from app.models.base import utcnow
from app.permissions import BUILTIN_ROLES
from app.roles.commands import CreateRole
from app.roles.service import create_role
from app.users import repository as users_repository
from tests.admin.admin_world import SYSTEM
from tests.admin.conftest import latest_session
from tests.auth_helpers import admin_login
from tests.factories import make_user
from tests.ops.two_paths import TwoPaths, two_paths

META = RequestMeta(request_id="req-1", ip="10.1.2.3", user_agent="pytest")


async def open_session(
    session: AsyncSession, settings: Settings, role: str | None = "clerk"
) -> tuple[User, StartedSession]:
    user = await make_user(session, role=role)
    started = await start_session(session, user, META, settings)
    await session.flush()
    return user, started


async def page_caller(database: Database, token: str, settings: Settings) -> PageCaller | None:
    """What StaffAuthBackend.authenticate asks for every admin page."""
    async with database.reader() as reader:
        return await staff_page_caller(reader, token, settings, META)


@pytest.mark.parametrize("role", [*BUILTIN_ROLES, None])
async def test_a_live_session_gives_the_users_principal_as_the_orm_path_does(
    database: Database, session: AsyncSession, settings: Settings, role: str | None
) -> None:
    user, started = await open_session(session, settings, role)

    caller = await page_caller(database, started.token, settings)
    orm = await from_staff_session(session, started.token, settings, META)

    assert caller is not None and orm is not None
    assert caller.session_id == started.row.id == orm.session.id
    principal = caller.principal
    assert (principal.user_id, principal.email) == (user.id, user.email)
    assert principal.permissions == frozenset(BUILTIN_ROLES[role][1] if role else ())
    assert (principal.channel, principal.auth_method, principal.meta) == ("admin", "session", META)
    assert (orm.principal.user_id, orm.principal.email) == (principal.user_id, principal.email)
    assert orm.principal.permissions == principal.permissions


async def test_the_permissions_are_the_union_of_the_users_roles(
    database: Database, session: AsyncSession, settings: Settings
) -> None:
    auditors = await create_role(
        session, SYSTEM, CreateRole(name="page-auditors", permissions=["audit:read"])
    )
    user, started = await open_session(session, settings, "viewer")
    user.roles = [*await users_repository.get_roles_by_name(session, ["viewer"]), auditors]
    await session.flush()

    caller = await page_caller(database, started.token, settings)
    orm = await from_staff_session(session, started.token, settings, META)

    assert caller is not None and orm is not None
    expected = {*BUILTIN_ROLES["viewer"][1], "audit:read"}
    assert caller.principal.permissions == orm.principal.permissions == expected


@pytest.mark.parametrize("death", ["revoked", "expired", "idle", "user inactive"])
async def test_a_dead_session_gives_no_caller_and_is_not_stamped(
    database: Database, session: AsyncSession, settings: Settings, death: str
) -> None:
    user, started = await open_session(session, settings)
    assert await page_caller(database, started.token, settings) is not None
    row = await latest_session(session, user)
    row.last_seen_at -= LAST_SEEN_RESOLUTION  # a stamp would be due, were it alive
    if death == "revoked":
        row.revoked_at = utcnow()
    elif death == "expired":
        row.expires_at = utcnow() - timedelta(seconds=1)
    elif death == "idle":
        row.last_seen_at = utcnow() - timedelta(minutes=settings.session_idle_minutes, seconds=1)
    else:
        user.is_active = False
    await session.flush()
    seen = (await latest_session(session, user)).last_seen_at

    assert await page_caller(database, started.token, settings) is None
    assert await from_staff_session(session, started.token, settings, META) is None
    assert (await latest_session(session, user)).last_seen_at == seen


async def test_an_unknown_token_gives_no_caller(
    database: Database, session: AsyncSession, settings: Settings
) -> None:
    _, started = await open_session(session, settings)  # live, but not these tokens'

    for token in ["", "no-such-token", started.token[:-1], "x" * 300]:
        assert await page_caller(database, token, settings) is None, token


async def test_the_last_seen_stamp_is_written_once_it_is_due(
    database: Database, session: AsyncSession, settings: Settings
) -> None:
    user, started = await open_session(session, settings)
    row = await latest_session(session, user)
    stale = utcnow() - LAST_SEEN_RESOLUTION - timedelta(seconds=5)
    row.last_seen_at = stale
    await session.flush()

    before = utcnow()
    assert await page_caller(database, started.token, settings) is not None

    row = await latest_session(session, user)
    assert before <= row.last_seen_at <= utcnow()
    assert row.updated_at == row.last_seen_at


async def test_a_due_stamp_leaves_the_page_re_runnable_after_a_clash(
    database: Database, session: AsyncSession, settings: Settings
) -> None:
    """The caller's block commits its stamp before the page's own work: the retry policy
    must still be free to run the page again (the stamp is set the same way twice)."""
    user, started = await open_session(session, settings)
    row = await latest_session(session, user)
    row.last_seen_at = utcnow() - LAST_SEEN_RESOLUTION - timedelta(seconds=5)
    await session.flush()
    attempt = Attempt()
    token = current_attempt.set(attempt)
    try:
        assert await page_caller(database, started.token, settings) is not None
    finally:
        current_attempt.reset(token)

    assert attempt.commit_started is False


async def test_the_last_seen_stamp_is_not_written_within_a_minute(
    database: Database, session: AsyncSession, settings: Settings
) -> None:
    user, started = await open_session(session, settings)
    row = await latest_session(session, user)
    row.last_seen_at = utcnow() - LAST_SEEN_RESOLUTION + timedelta(seconds=10)
    await session.flush()
    fresh = (await latest_session(session, user)).last_seen_at

    for _ in range(2):
        assert await page_caller(database, started.token, settings) is not None

    assert (await latest_session(session, user)).last_seen_at == fresh


# --- PostgreSQL, as in production: the caller's statement on the wire ----------------------


@dataclass
class Wire:
    """The SQL on the engine's pooled connections between each check-out and check-in:
    SQLAlchemy's statements, and all asyncpg sends by simple query or for the driver path
    (BEGIN, COMMIT, ROLLBACK too). asyncpg tells its query loggers through loop.call_soon,
    so every entry is queued that way: one true order."""

    loop: asyncio.AbstractEventLoop
    events: list[tuple[str, int, str]] = field(default_factory=list)
    loggers: dict[Any, Callable[[Any], None]] = field(default_factory=dict)

    def note(self, kind: str, driver: Any, sql: str = "") -> None:
        self.loop.call_soon(self.events.append, (kind, id(driver), sql))

    def checkout(self, dbapi_connection: Any, *_: Any) -> None:
        driver = dbapi_connection.driver_connection
        if driver not in self.loggers:
            key = id(driver)
            self.loggers[driver] = lambda query: self.events.append(("sql", key, query.query))
            driver.add_query_logger(self.loggers[driver])
        self.note("checkout", driver)

    def checkin(self, dbapi_connection: Any, *_: Any) -> None:
        if dbapi_connection is not None:  # None: it was invalidated
            self.note("checkin", dbapi_connection.driver_connection)

    def execute(self, connection: Any, _cursor: Any, statement: str, *_: Any) -> None:
        self.note("sql", connection.connection.driver_connection, statement)

    def visits(self) -> list[list[str]]:
        current: dict[int, list[str]] = {}
        visits: list[list[str]] = []
        for kind, connection, sql in self.events:
            if kind == "checkout":
                current[connection] = []
                visits.append(current[connection])
            elif kind == "checkin":
                current.pop(connection, None)
            elif connection in current:
                current[connection].append(sql)
        return visits


@contextmanager
def wire_of(engine: AsyncEngine) -> Iterator[Wire]:
    wire = Wire(asyncio.get_running_loop())
    hooks: list[tuple[Any, str, Callable[..., Any]]] = [
        (engine.sync_engine.pool, "checkout", wire.checkout),
        (engine.sync_engine.pool, "checkin", wire.checkin),
        (engine.sync_engine, "before_cursor_execute", wire.execute),
    ]
    for target, name, hook in hooks:
        event.listen(target, name, hook)
    try:
        yield wire
    finally:
        for target, name, hook in hooks:
            event.remove(target, name, hook)
        for driver, logger in wire.loggers.items():
            driver.remove_query_logger(logger)


@pytest.fixture(scope="module")
async def pg() -> AsyncIterator[TwoPaths]:
    async with two_paths("bo_page_caller") as paths:
        yield paths


@pytest.mark.postgres
@pytest.mark.parametrize("stamp_due", [False, True], ids=["fresh", "stamp due"])
async def test_a_page_reads_its_caller_in_one_statement_outside_any_transaction(
    pg: TwoPaths, stamp_due: bool
) -> None:
    async with transaction(pg.sessions.sessionmaker) as session:
        user = await make_user(session, role="admin")
    browser = pg.driver_client
    browser.cookies.clear()
    assert (await admin_login(browser, user.email)).status_code == 302
    if stamp_due:
        async with transaction(pg.sessions.sessionmaker) as session:
            stale = utcnow() - LAST_SEEN_RESOLUTION * 2
            statement = update(StaffSession).where(StaffSession.user_id == user.id)
            await session.execute(statement.values(last_seen_at=stale))
    observed: list[str] = []
    pg.driver.statement_observers.append(lambda sql, _args: observed.append(sql))
    try:
        with wire_of(pg.engine) as wire:
            response = await browser.get("/admin/customer/list")
            for _ in range(3):
                await asyncio.sleep(0)  # let the queued log entries in
    finally:
        pg.driver.statement_observers.clear()

    assert response.status_code == 200, response.text
    [visit] = [v for v in wire.visits() if any("staff_sessions" in sql for sql in v)]
    # Nothing else on the caller's connection: no BEGIN, COMMIT or ROLLBACK around it.
    assert len(visit) == 1 + stamp_due, visit
    assert visit[0].startswith("SELECT") and "staff_sessions.token_hash = $1" in visit[0]
    assert all(sql.startswith("UPDATE staff_sessions SET last_seen_at") for sql in visit[1:])
    assert [sql for sql in observed if "staff_sessions" in sql] == visit  # the driver path
    if stamp_due:  # committed on its own: another connection's new transaction sees it
        async with pg.sessions.sessionmaker() as session:
            seen = select(StaffSession.last_seen_at).where(StaffSession.user_id == user.id)
            last_seen = (await session.execute(seen)).scalar_one()
        assert utcnow() - last_seen < timedelta(seconds=30)
