"""The driver read path (app/infra/db_reads.py, app/api/lean.py) on real PostgreSQL.

Everywhere else the tests run inside one rolled-back transaction, so lean routes read
through a session there. Here the data is committed in a database of its own, and two
apps serve it: one reading on the asyncpg connection (as in production), one through
sessions. Every list answer must be the same bytes, every refusal the same status.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any

import httpx
import pytest
from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy import (
    Integer,
    Numeric,
    bindparam,
    cast,
    event,
    literal,
    literal_column,
    select,
    text,
    update,
)
from sqlalchemy.exc import DBAPIError, StatementError
from sqlalchemy.ext.asyncio import AsyncEngine

from app.api.deps import ReaderDep, require
from app.api.lean import lean
from app.api.responses import ProblemRoute
from app.auth.api_tokens import create_token
from app.auth.principal import Principal
from app.auth.token_commands import CreateToken
from app.infra.db import Database, _ping_policies, transaction
from app.infra.db_errors import failure_kind, is_value_refused, sqlstate
from app.infra.db_reads import DriverReader, driver_statement
from app.models import ApiToken, AuditEvent, Product
from app.models.base import UTCDateTime
from tests.auth_helpers import access_token, bearer
from tests.factories import make_customer, make_product, make_user
from tests.ops.two_paths import two_paths

pytestmark = pytest.mark.postgres
START = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


@dataclasses.dataclass
class World:
    engine: AsyncEngine
    driver: Database
    sessions: Database
    driver_client: httpx.AsyncClient
    session_client: httpx.AsyncClient
    tokens: dict[str, str]


async def _seed(database: Database) -> dict[str, str]:
    """Products, customers and audit events with awkward values; users and their tokens."""
    system = Principal.system()
    tokens: dict[str, str] = {}
    async with transaction(database.sessionmaker) as session:
        for n in range(37):
            await make_product(
                session,
                sku=f"{'OAK' if n % 3 else 'ELM'}-{n:04d}",
                name=f"{'Oak' if n % 2 else 'Walnut'} desk {n} «ü»",
                price=Decimal(n * 7 % 50) + Decimal("0.05") * (n % 3),
                stock=n % 9,
                is_active=n % 5 != 0,
                created_at=START + timedelta(minutes=n, microseconds=n * 1013),
            )
        for n in range(23):
            await make_customer(session, company=None if n % 4 else f"Firma {n}")
        session.add_all(
            AuditEvent(
                channel="api" if n % 2 else "admin",
                action="probe.seen",
                resource_type="product",
                resource_id=str(n),
                changes={"stock": [n, n + 1], "note": ["∅", 'naïve "quoted"']},
            )
            for n in range(15)
        )
        admin = await make_user(session, role="admin")
        viewer = await make_user(session, role="viewer")
        inactive = await make_user(session, role="admin", is_active=False)
        for name, owner, scopes in [
            ("admin", admin, ()),
            ("viewer", viewer, ()),
            ("scoped", admin, ("customers:read",)),
            ("inactive", inactive, ()),
            ("revoked", admin, ()),
        ]:
            row, tokens[name] = await create_token(
                session, system, owner, CreateToken(name=name, scopes=scopes)
            )
            if name == "revoked":
                row.revoked_at = START
        tokens["admin_email"] = admin.email
    return tokens


@pytest.fixture(scope="module")
async def world() -> AsyncIterator[World]:
    async with two_paths("bo_driver") as paths:
        tokens = await _seed(paths.sessions)
        yield World(
            paths.engine,
            paths.driver,
            paths.sessions,
            paths.driver_client,
            paths.session_client,
            tokens,
        )


LIST_URLS = [
    "/api/v1/products",
    "/api/v1/products?limit=7",
    "/api/v1/products?sort=-price&limit=5",
    "/api/v1/products?sort=created_at&include_total=true&limit=4",
    "/api/v1/products?q=oak&include_total=yes",
    "/api/v1/products?q=elm-00",
    "/api/v1/products?is_active=false&price_gte=10.5&stock_lte=4",
    "/api/v1/products?sort=name&created_at_gte=2026-03-01T09:40:00Z",
    "/api/v1/products?q=%C3%BC",
    "/api/v1/customers?limit=6&include_total=1",
    "/api/v1/customers?sort=-name",
    "/api/v1/customers?sort=company&limit=5",
    "/api/v1/customers?sort=-company&limit=30",
    "/api/v1/products?sort=-created_at&limit=30",
    "/api/v1/audit-events?limit=4",
    "/api/v1/audit-events?channel=api&include_total=true",
]


async def _walk(client: httpx.AsyncClient, url: str, token: str) -> list[tuple[int, bytes]]:
    """Every page of `url`, following next_cursor: (status, body) of each."""
    pages = []
    while True:
        response = await client.get(url, headers=bearer(token))
        pages.append((response.status_code, response.content))
        cursor = response.json().get("next_cursor") if response.status_code == 200 else None
        if not cursor or len(pages) > 40:
            return pages
        url = str(httpx.URL(url).copy_merge_params({"cursor": cursor}))


@pytest.mark.parametrize("url", LIST_URLS)
async def test_lists_read_on_the_driver_are_the_same_bytes_as_through_sessions(
    world: World, url: str
) -> None:
    token = world.tokens["admin"]

    on_driver = await _walk(world.driver_client, url, token)
    through_sessions = await _walk(world.session_client, url, token)

    assert [status for status, _ in on_driver] == [200] * len(on_driver)
    assert on_driver == through_sessions
    assert any(b'"items":[{' in body for _, body in on_driver)


@pytest.mark.parametrize(
    ("token", "url", "status"),
    [
        ("viewer", "/api/v1/products", 200),
        ("viewer", "/api/v1/audit-events", 403),
        ("scoped", "/api/v1/customers", 200),
        ("scoped", "/api/v1/products", 403),
        ("inactive", "/api/v1/products", 401),
        ("revoked", "/api/v1/products", 401),
        ("unknown", "/api/v1/products", 401),
    ],
)
async def test_refusals_are_the_same_on_both_paths(
    world: World, token: str, url: str, status: int
) -> None:
    plaintext = world.tokens.get(token, "bo_" + "x" * 43)
    responses = [
        await client.get(url, headers=bearer(plaintext))
        for client in (world.driver_client, world.session_client)
    ]

    assert [r.status_code for r in responses] == [status, status]
    if status != 200:
        assert responses[0].json()["title"] == responses[1].json()["title"]
        assert responses[0].headers["content-type"] == "application/problem+json"


async def test_a_bad_query_parameter_is_a_422_before_the_page_query(world: World) -> None:
    seen: list[str] = []
    world.driver.statement_observers.append(lambda sql, _args: seen.append(sql))
    try:
        response = await world.driver_client.get(
            "/api/v1/products?limit=0", headers=bearer(world.tokens["admin"])
        )
    finally:
        world.driver.statement_observers.clear()

    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["query", "limit"]
    assert seen, "the token lookup runs first"
    assert not [sql for sql in seen if "FROM products" in sql]


async def test_an_oauth_access_token_works_on_the_driver_path(world: World) -> None:
    token = await access_token(world.session_client, world.tokens["admin_email"])

    response = await world.driver_client.get("/api/v1/products?limit=2", headers=bearer(token))

    assert response.status_code == 200, response.text
    assert len(response.json()["items"]) == 2


async def test_a_page_sends_one_statement_on_the_driver_and_none_through_sqlalchemy(
    world: World,
) -> None:
    token = world.tokens["admin"]
    await world.driver_client.get("/api/v1/products", headers=bearer(token))  # stamps use
    on_driver: list[str] = []
    through_sqlalchemy: list[str] = []
    world.driver.statement_observers.append(lambda sql, _args: on_driver.append(sql))
    listener = lambda *args: through_sqlalchemy.append(args[2])  # noqa: E731
    event.listen(world.engine.sync_engine, "before_cursor_execute", listener)
    try:
        response = await world.driver_client.get("/api/v1/products", headers=bearer(token))
    finally:
        event.remove(world.engine.sync_engine, "before_cursor_execute", listener)
        world.driver.statement_observers.clear()

    assert response.status_code == 200
    # The token lookup rides on the page (app/infra/riding.py): one round trip.
    assert len(on_driver) == 1, on_driver
    assert "api_tokens.token_hash = $1" in on_driver[0]
    assert "FROM products" in on_driver[0]
    assert through_sqlalchemy == []


async def test_the_first_use_of_a_token_is_stamped_and_committed(world: World) -> None:
    async with transaction(world.sessions.sessionmaker) as session:
        _, plaintext = await create_token(
            session, Principal.system(), await make_user(session), CreateToken(name="fresh")
        )
    response = await world.driver_client.get("/api/v1/products?limit=1", headers=bearer(plaintext))
    assert response.status_code == 200

    async with world.sessions.sessionmaker() as session:
        token = (
            await session.execute(select(ApiToken).where(ApiToken.name == "fresh"))
        ).scalar_one()
    assert token.last_used_at is not None
    assert datetime.now(UTC) - token.last_used_at < timedelta(minutes=1)
    assert token.updated_at == token.last_used_at


async def test_a_lost_connection_is_invalidated_and_the_next_request_gets_a_new_one(
    world: World,
) -> None:
    statement = select(Product.__table__.c.id).limit(bindparam("n"))
    async with world.driver.reader() as reader:
        assert isinstance(reader, DriverReader)
        pid = reader.driver.get_server_pid()
        async with world.sessions.reader() as other:
            await other.rows(select(literal_column(f"pg_terminate_backend({pid})")), {})
        with pytest.raises(DBAPIError) as raised:
            await reader.rows(statement, {"n": 1})
    assert raised.value.connection_invalidated
    # For a while every checkout is pinged, so other dead connections are not handed out.
    assert _ping_policies[world.engine.sync_engine].suspect_until > time.monotonic()

    async with world.driver.reader() as reader:
        assert isinstance(reader, DriverReader)
        assert reader.driver.get_server_pid() != pid
        assert len(await reader.rows(statement, {"n": 2})) == 2


async def test_a_cancelled_statement_closes_its_connection_instead_of_pooling_it(
    world: World,
) -> None:
    started = asyncio.Event()

    async def slow_read() -> None:
        async with world.driver.reader() as reader:
            assert isinstance(reader, DriverReader)
            pids.append(reader.driver.get_server_pid())
            started.set()
            await reader.rows(select(literal_column("pg_sleep(5)")), {})

    pids: list[int] = []
    task = asyncio.create_task(slow_read())
    await asyncio.wait_for(started.wait(), timeout=5)
    await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    async with world.driver.reader() as reader:
        assert isinstance(reader, DriverReader)
        assert reader.driver.get_server_pid() != pids[0]
        assert list(await asyncio.wait_for(reader.rows(select(literal(1)), {}), 2)) == [(1,)]


async def test_a_statement_error_keeps_the_connection_and_is_sqlalchemys_error(
    world: World,
) -> None:
    async with world.driver.reader() as reader:
        assert isinstance(reader, DriverReader)
        with pytest.raises(DBAPIError) as raised:
            await reader.rows(select(literal_column("1/0")), {})
        assert not raised.value.connection_invalidated
        assert "division by zero" in str(raised.value.orig)
        assert list(await reader.rows(select(literal(5)), {})) == [(5,)]


async def test_sqlalchemy_type_processing_applies_on_the_driver(world: World) -> None:
    as_float = select(cast(literal(Decimal("1.25")), Numeric(10, 2, asdecimal=False)))
    async with world.driver.reader() as reader:
        rows = await reader.rows(as_float, {})

    assert rows == [(1.25,)] and isinstance(rows[0][0], float)


def test_statements_that_need_sqlalchemys_execution_are_refused(world: World) -> None:
    dialect = world.engine.dialect
    products = Product.__table__
    expanding = select(products.c.id).where(products.c.id.in_(bindparam("ids", expanding=True)))
    literal_execute = select(products.c.id).limit(bindparam("n", 5, literal_execute=True))
    with_onupdate_default = update(products).values(stock=1)
    a_literal_none = select(literal(None))

    for statement in (expanding, literal_execute, with_onupdate_default, a_literal_none):
        with pytest.raises(ValueError, match="execution-time values"):
            driver_statement(statement, dialect)
    # A fixed value whose type has a bind processor (UTCDateTime checks and converts).
    fixed_moment = select(products.c.id).where(products.c.created_at >= START)
    with pytest.raises(ValueError, match="bind processing"):
        driver_statement(fixed_moment, dialect)


async def test_the_sql_sent_on_the_driver_is_the_text_sqlalchemy_sends(world: World) -> None:
    """Compiled from public pieces (pyformat placeholders numbered here), the same bytes."""
    token = world.tokens["admin"]
    on_driver: list[str] = []
    through_sqlalchemy: list[str] = []
    world.driver.statement_observers.append(lambda sql, _args: on_driver.append(sql))
    listener = lambda *args: through_sqlalchemy.append(args[2])  # noqa: E731
    event.listen(world.engine.sync_engine, "before_cursor_execute", listener)
    try:
        for url in [*LIST_URLS, "/api/v1/products?sort=-created_at&limit=3"]:
            for client in (world.driver_client, world.session_client):
                await _walk(client, url, token)
    finally:
        event.remove(world.engine.sync_engine, "before_cursor_execute", listener)
        world.driver.statement_observers.clear()

    assert len(set(on_driver)) >= 20
    assert set(on_driver) <= set(through_sqlalchemy)


_INT4 = select(bindparam("n", type_=Integer()))
_MOMENT = select(literal_column("1")).where(bindparam("t", type_=UTCDateTime()).is_not(None))


def _raise(code: str) -> Any:
    return text(f"DO $$ BEGIN RAISE EXCEPTION 'probe' USING ERRCODE = '{code}'; END $$")


@pytest.mark.parametrize(
    ("statement", "params"),
    [
        (select(literal_column("1/0")), {}),  # 22012: a bug or the client's data
        (select(literal_column("no_such_column")), {}),  # 42703: ProgrammingError
        (_raise("23505"), {}),  # unique violation: IntegrityError
        (_raise("23503"), {}),  # foreign key violation
        (_raise("40P01"), {}),  # deadlock: a conflict, re-run
        (_raise("55P03"), {}),  # lock timeout: a conflict
        (_raise("57P03"), {}),  # cannot connect now: unavailable
        (_raise("XX000"), {}),  # internal error
        (_INT4, {"n": 2**40}),  # refused by asyncpg before sending: a value error
        (_MOMENT, {"t": datetime(2026, 1, 1)}),  # naive: UTCDateTime's bind processor
    ],
)
async def test_driver_errors_are_the_errors_sqlalchemy_raises(
    world: World, statement: Any, params: dict[str, Any]
) -> None:
    async with world.driver.reader() as reader:
        assert isinstance(reader, DriverReader)
        with pytest.raises(StatementError) as on_driver:
            await reader.rows(statement, params)
    async with world.engine.connect() as connection:
        with pytest.raises(StatementError) as through_sqlalchemy:
            await connection.execute(statement, params)

    driver_error, sqlalchemy_error = on_driver.value, through_sqlalchemy.value
    assert type(driver_error) is type(sqlalchemy_error)
    assert sqlstate(driver_error) == sqlstate(sqlalchemy_error)
    assert failure_kind(driver_error) == failure_kind(sqlalchemy_error)
    assert is_value_refused(driver_error) == is_value_refused(sqlalchemy_error)
    if isinstance(sqlalchemy_error, DBAPIError):
        assert isinstance(driver_error, DBAPIError)
        assert not driver_error.connection_invalidated
        # The PEP 249 class SQLAlchemy's adapter chose is (or derives from) ours.
        assert isinstance(sqlalchemy_error.orig, type(driver_error.orig))


def test_a_lean_endpoint_with_other_parameters_is_refused_at_start_up() -> None:
    router = APIRouter(route_class=ProblemRoute)

    with pytest.raises(TypeError, match="lean endpoint"):

        @router.get("/things")
        @lean
        async def list_things(
            request: Request,
            rows: ReaderDep,
            _: Annotated[Principal, Depends(require("products:read"))],
            limit: int = 1,
        ) -> Response:
            return Response()


def test_a_lean_endpoint_that_would_see_its_caller_is_refused_at_start_up() -> None:
    """Its caller is checked alongside its first read, after it started: it gets none."""
    router = APIRouter(route_class=ProblemRoute)

    with pytest.raises(TypeError, match="named `_`"):

        @router.get("/things")
        @lean
        async def list_things(
            request: Request,
            rows: ReaderDep,
            caller: Annotated[Principal, Depends(require("products:read"))],
        ) -> Response:
            return Response()
