"""The credential lookup riding on a page (app/infra/riding.py), on SQLite and PostgreSQL.

A page read with the lookup carried must be the very page read alone (every sort, both
directions, NULLs and ties, every page of the walk), the lookup's rows the very rows it
reads alone; a read whose order is not described, or whose parameters clash, is sent on
its own after the lookup; a refusal of the lookup's rows hides the page; and over HTTP,
the caller's refusals come first and a bad credential never reaches a page row.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.auth import repository
from app.auth.tokens import digest
from app.customers import service as customers
from app.errors import NotAuthenticated
from app.infra.db import Database
from app.infra.db_reads import Reader, Row, SqlaReader
from app.infra.riding import Rider, RidingReader
from app.lists.cursors import CursorCodec
from app.lists.grammar import ListSpec, parse_list_query
from app.lists.pages import Page, fetch_rows_page
from app.lists.statements import columns_select
from app.main import create_app
from app.models import Product, Role, user_roles
from app.products import service as products
from tests.api.order_helpers import Caller, caller, statements_on
from tests.auth_helpers import client_for
from tests.conftest import test_settings as settings_for
from tests.conftest import url_of
from tests.factories import make_customer, make_product, make_user

CODEC = CursorCodec("riding-tests-" + "k" * 32)
START = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


async def _rows(session: AsyncSession) -> None:
    """Ties in every sortable column, NULLs in the nullable one (customers.company)."""
    for n in range(53):
        await make_product(
            session,
            name=f"Desk {n % 4}",
            price=Decimal(n % 3) + Decimal("0.50"),
            stock=n % 2,
            created_at=START + timedelta(minutes=n % 5),
        )
        await make_customer(
            session,
            name=f"Customer {n % 3}",
            company=None if n % 3 else f"Firma {n % 2}",
        )
    await session.flush()


class Seen:
    """The rider's rows as they arrived."""

    def __init__(self) -> None:
        self.rows: list[Sequence[Row]] = []

    async def __call__(self, rows: Sequence[Row]) -> None:
        self.rows.append(rows)


def _rider(who: Caller, seen: Seen) -> Rider:
    plaintext = who.headers["Authorization"].removeprefix("Bearer ")
    query = repository.token_identity_query(digest(plaintext))
    return Rider(query.statement, query.params, seen)


async def _walk(reader_for: Any, spec: ListSpec, params: dict[str, str]) -> list[Page]:
    """Every page of the list, following the cursors; a fresh reader for each page."""
    columns = columns_select(spec, ["id", *spec.sortable[1:]])
    pages: list[Page] = []
    while len(pages) < 30:
        query = parse_list_query(spec, params, CODEC)
        pages.append(await fetch_rows_page(reader_for(), spec, query, CODEC, columns))
        if pages[-1].next_cursor is None:
            return pages
        params = {**params, "cursor": pages[-1].next_cursor}
    raise AssertionError("the walk does not end")


def _sorts(spec: ListSpec) -> list[str]:
    return [*spec.sortable, *(f"-{name}" for name in spec.sortable)]


@pytest.mark.parametrize("limit", ["4", "30"])  # a big page: a sort the database may not keep
@pytest.mark.parametrize(
    ("spec", "sort"),
    [(products.LIST_SPEC, sort) for sort in _sorts(products.LIST_SPEC)]
    + [(customers.LIST_SPEC, sort) for sort in _sorts(customers.LIST_SPEC)],
)
async def test_a_page_carrying_the_lookup_is_the_page_read_alone(
    session: AsyncSession, spec: ListSpec, sort: str, limit: str
) -> None:
    await _rows(session)
    who = await caller(session, "admin")
    plain = SqlaReader(session)
    seen = Seen()

    alone = await _walk(lambda: plain, spec, {"sort": sort, "limit": limit})
    carried = await _walk(
        lambda: RidingReader(plain, _rider(who, seen)), spec, {"sort": sort, "limit": limit}
    )

    assert len(alone) >= 2
    assert [list(map(tuple, page.items)) for page in carried] == [
        list(map(tuple, page.items)) for page in alone
    ]
    assert [page.next_cursor for page in carried] == [page.next_cursor for page in alone]
    assert len(seen.rows) == len(carried)  # every page carried its lookup


async def test_the_rider_gets_the_rows_its_lookup_reads_alone(session: AsyncSession) -> None:
    who = await caller(session, "admin")
    viewer = (await session.execute(select(Role.id).where(Role.name == "viewer"))).scalar_one()
    # Two roles: two rows of the lookup.
    await session.execute(user_roles.insert().values(user_id=who.user.id, role_id=viewer))
    seen = Seen()
    rider = _rider(who, seen)
    alone = await SqlaReader(session).rows(rider.statement, rider.params)

    query = parse_list_query(products.LIST_SPEC, {}, CODEC)
    columns = columns_select(products.LIST_SPEC, ["id", *products.LIST_SPEC.sortable[1:]])
    await fetch_rows_page(
        RidingReader(SqlaReader(session), rider), products.LIST_SPEC, query, CODEC, columns
    )

    assert len(alone) == 2
    [rows] = seen.rows
    assert sorted(map(tuple, rows), key=repr) == sorted(map(tuple, alone), key=repr)


async def test_an_empty_page_still_carries_its_lookup(session: AsyncSession) -> None:
    who = await caller(session, "admin")
    seen = Seen()
    query = parse_list_query(products.LIST_SPEC, {"q": "no such product"}, CODEC)
    columns = columns_select(products.LIST_SPEC, ["id", *products.LIST_SPEC.sortable[1:]])

    page = await fetch_rows_page(
        RidingReader(SqlaReader(session), _rider(who, seen)),
        products.LIST_SPEC,
        query,
        CODEC,
        columns,
    )

    assert page.items == [] and len(seen.rows) == 1 and len(seen.rows[0]) == 1


def _names(log: Any) -> list[str]:
    return [s for s in log.statements if s.lstrip().upper().startswith(("SELECT", "WITH"))]


_PRODUCT_IDS = select(Product.id).where(Product.id >= bindparam("from_id")).order_by(Product.id)


@pytest.mark.parametrize("why", ["order not described", "parameter names clash"])
async def test_a_read_that_cannot_carry_the_lookup_goes_after_it(
    session: AsyncSession, engine: AsyncEngine, why: str
) -> None:
    who = await caller(session, "admin")
    await make_product(session)
    seen = Seen()
    rider = _rider(who, seen)
    riding: Reader = RidingReader(SqlaReader(session), rider)
    if why == "order not described":
        statement, params, order = _PRODUCT_IDS, {"from_id": 1}, None
    else:
        clash = _PRODUCT_IDS.where(Product.sku != bindparam("token_hash"))
        statement, params, order = clash, {"from_id": 1, "token_hash": "x"}, ((0, False),)

    with statements_on(engine) as log:
        rows = await riding.rows(statement, params, order=order)
        again = await riding.rows(statement, params, order=order)

    lookup, read, read_again = _names(log)
    assert "api_tokens" in lookup and "api_tokens" not in read
    assert len(seen.rows) == 1 and rows and list(rows) == list(again) and read == read_again


async def test_a_refused_caller_never_gets_the_page(session: AsyncSession) -> None:
    await make_product(session)

    async def refuse(rows: Sequence[Row]) -> None:
        assert rows == []  # an unknown token: its lookup finds nothing
        raise NotAuthenticated()

    query = repository.token_identity_query(digest("bo_" + "u" * 43))
    riding = RidingReader(SqlaReader(session), Rider(query.statement, query.params, refuse))
    page_query = parse_list_query(products.LIST_SPEC, {}, CODEC)
    columns = columns_select(products.LIST_SPEC, ["id", *products.LIST_SPEC.sortable[1:]])

    with pytest.raises(NotAuthenticated):
        await fetch_rows_page(riding, products.LIST_SPEC, page_query, CODEC, columns)
    await riding.settle()  # taken already: nothing is sent twice, nothing raised twice


async def test_settle_sends_a_lookup_no_read_took(
    session: AsyncSession, engine: AsyncEngine
) -> None:
    who = await caller(session, "admin")
    seen = Seen()
    riding = RidingReader(SqlaReader(session), _rider(who, seen))

    with statements_on(engine) as log:
        await riding.settle()
        await riding.settle()

    assert len(_names(log)) == 1 and len(seen.rows) == 1 and len(seen.rows[0]) == 1


# Over HTTP: what an attacker sends to a lean read, and what the caller's checks answer.


async def test_an_unknown_token_is_a_401_with_no_page_in_one_statement(
    client: httpx.AsyncClient, session: AsyncSession, engine: AsyncEngine
) -> None:
    await make_product(session, name="Secret desk")
    headers = {"Authorization": "Bearer bo_" + "z" * 43}

    with statements_on(engine) as log:
        response = await client.get("/api/v1/products", headers=headers)

    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert b"Secret desk" not in response.content and b"items" not in response.content
    assert len(_names(log)) == 1


@pytest.mark.parametrize(
    "authorization", ["", "Basic abc", "Bearer ", "Bearer not.a.jwt", "Bearer " + "x" * 5000]
)
async def test_no_credential_worth_looking_up_is_a_401_with_no_statement(
    client: httpx.AsyncClient, engine: AsyncEngine, authorization: str
) -> None:
    headers = {"Authorization": authorization} if authorization else {}

    with statements_on(engine) as log:
        response = await client.get("/api/v1/products", headers=headers)

    assert response.status_code == 401
    assert _names(log) == []


@pytest.mark.parametrize(
    ("url", "good", "bad"),
    [
        ("/api/v1/products?cursor=forged", 400, 401),
        ("/api/v1/products?limit=100000", 422, 401),
        ("/api/v1/orders/0", 422, 401),
        ("/api/v1/orders/2147483647", 404, 401),
        ("/api/v1/audit-events?cursor=forged", 400, 401),
    ],
)
async def test_the_callers_refusal_comes_before_the_requests_own(
    client: httpx.AsyncClient, session: AsyncSession, url: str, good: int, bad: int
) -> None:
    admin = await caller(session, "admin")
    viewer = await caller(session, "viewer")  # may not read the audit log
    unknown = {"Authorization": "Bearer bo_" + "q" * 43}

    as_admin = await client.get(url, headers=admin.headers)
    as_unknown = await client.get(url, headers=unknown)
    as_viewer = await client.get(url, headers=viewer.headers)

    assert (as_admin.status_code, as_unknown.status_code) == (good, bad)
    assert as_viewer.status_code == (403 if "audit" in url else good)


async def test_a_caller_without_the_permission_gets_a_403_and_no_row(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    viewer = await caller(session, "viewer")
    await make_user(session, email="someone.else@example.com")

    response = await client.get("/api/v1/audit-events", headers=viewer.headers)

    assert response.status_code == 403
    assert b"items" not in response.content and b"someone.else" not in response.content


@pytest.mark.usefixtures("steady_rate_window")
async def test_a_throttled_caller_costs_the_database_no_page(
    engine: AsyncEngine, database: Database, session: AsyncSession
) -> None:
    """Past the rate limit, a caller's next reads send the lookup alone: hammering with a
    good token costs what hammering with a bad one does, not a page per request."""
    who = await caller(session, "admin")
    await make_product(session, name="Counted desk")
    app = create_app(settings_for(url_of(engine), rate_limit_api="2/hour"), database)

    async with client_for(app) as client:
        allowed = [await client.get("/api/v1/products", headers=who.headers) for _ in range(2)]
        first_refusal = await client.get("/api/v1/products", headers=who.headers)
        with statements_on(engine) as log:
            later = [await client.get("/api/v1/products", headers=who.headers) for _ in range(3)]

    assert [r.status_code for r in allowed] == [200, 200]
    assert first_refusal.status_code == 429
    assert [r.status_code for r in later] == [429, 429, 429]
    reads = _names(log)
    assert len(reads) == 3 and all("FROM products" not in sql for sql in reads), reads
