"""List conventions (SPEC §6): limit, cursors, keyset pagination under every sort, q, filters."""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit_log.service import LIST_SPEC as AUDIT_SPEC
from app.customers.service import LIST_SPEC as CUSTOMER_SPEC
from app.lists.cursors import CursorCodec
from app.models import AuditEvent
from app.orders.service import LIST_SPEC as ORDER_SPEC
from app.products.service import LIST_SPEC as PRODUCT_SPEC
from tests.api.domain_helpers import assert_problem, error_fields, token_caller
from tests.conftest import TEST_SECRET_KEY
from tests.factories import make_customer, make_order, make_product

ROWS = 25
PAGE = 4
BASE = datetime(2026, 1, 1, tzinfo=UTC)
_unique = itertools.count(1)

Row = dict[str, Any]  # the values a row was given, by field, plus its "id"
Seeder = Callable[[AsyncSession, int], Awaitable[Row]]


def moment(minutes: int) -> datetime:
    return BASE + timedelta(minutes=minutes)


# Each seeder makes row number `i` with values that repeat (so the id breaks ties) and that
# do not follow creation order (so a sort really reorders). Strings are fixed-width ASCII,
# ordered the same by every collation.


async def seed_customer(session: AsyncSession, i: int) -> Row:
    values: Row = {
        "name": f"name{(i * 7) % 5:02d}",
        "email": f"c{(i * 11) % 97:03d}-{next(_unique):05d}@example.com",
        "company": f"co{(i * 3) % 4}",
        "created_at": moment((i * 5) % 6),
        "updated_at": moment((i * 2) % 7),
    }
    customer = await make_customer(session, **values)
    return {**values, "id": customer.id}


async def seed_product(session: AsyncSession, i: int) -> Row:
    values: Row = {
        "sku": f"W{(i * 13) % 29:02d}-{next(_unique):05d}",
        "name": f"name{(i * 7) % 5:02d}",
        "price": Decimal(f"{(i * 3) % 4}.50"),
        "stock": (i * 5) % 3,
        "created_at": moment((i * 5) % 6),
        "updated_at": moment((i * 2) % 7),
    }
    product = await make_product(session, **values)
    return {**values, "id": product.id}


async def seed_order(session: AsyncSession, i: int) -> Row:
    values: Row = {
        "number": f"SO-W{(i * 13) % 29:02d}{next(_unique):05d}",
        "total": Decimal(f"{(i * 3) % 4}.25"),
        "created_at": moment((i * 5) % 6),
        "updated_at": moment((i * 2) % 7),
    }
    order = await make_order(session)
    for field, value in values.items():
        setattr(order, field, value)  # an explicit updated_at wins over its onupdate
    await session.flush()
    return {**values, "id": order.id}


async def seed_audit_event(session: AsyncSession, i: int) -> Row:
    values: Row = {"occurred_at": moment((i * 5) % 6)}
    event = AuditEvent(channel="system", action="test.listed", changes={}, **values)
    session.add(event)
    await session.flush()
    return {**values, "id": event.id}


@dataclass(frozen=True)
class Listed:
    url: str
    sortable: tuple[str, ...]
    seed: Seeder


RESOURCES = {
    "customers": Listed("/api/v1/customers", CUSTOMER_SPEC.sortable, seed_customer),
    "products": Listed("/api/v1/products", PRODUCT_SPEC.sortable, seed_product),
    "orders": Listed("/api/v1/orders", ORDER_SPEC.sortable, seed_order),
    "audit-events": Listed("/api/v1/audit-events", AUDIT_SPEC.sortable, seed_audit_event),
}
SORT_CASES = [
    pytest.param(name, f"{sign}{field}", id=f"{name}-{sign}{field}")
    for name, listed in RESOURCES.items()
    for field in listed.sortable
    for sign in ("", "-")
]


def expected_ids(rows: list[Row], sort: str) -> list[int]:
    field = sort.removeprefix("-")
    ordered = sorted(rows, key=lambda row: (row[field], row["id"]))
    ids = [row["id"] for row in ordered]
    return ids[::-1] if sort.startswith("-") else ids


async def seed(session: AsyncSession, listed: Listed, count: int = ROWS) -> list[Row]:
    return [await listed.seed(session, i) for i in range(count)]


async def walk(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    url: str,
    params: dict[str, str],
    between_pages: Callable[[], Awaitable[None]] | None = None,
) -> list[dict[str, Any]]:
    """Every item of a list, following next_cursor page by page."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(100):
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = await client.get(url, params=query, headers=headers)
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["items"]) <= int(params.get("limit", 50))
        items.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return items
        if between_pages is not None:
            await between_pages()
    raise AssertionError("the list never ended")


# --- keyset pagination ---------------------------------------------------------------------


@pytest.mark.parametrize(("resource", "sort"), SORT_CASES)
async def test_walking_every_page_returns_every_row_once_in_sort_order(
    client: httpx.AsyncClient, session: AsyncSession, resource: str, sort: str
) -> None:
    listed = RESOURCES[resource]
    _, admin = await token_caller(session)  # first: minting a token writes an audit row
    rows = await seed(session, listed)
    first_id = min(row["id"] for row in rows)

    items = await walk(
        client, admin, listed.url, {"sort": sort, "limit": str(PAGE), "id_gte": str(first_id)}
    )

    assert [item["id"] for item in items] == expected_ids(rows, sort)


@pytest.mark.parametrize(("resource", "sort"), SORT_CASES)
async def test_rows_inserted_between_pages_never_repeat_or_hide_existing_rows(
    client: httpx.AsyncClient, session: AsyncSession, resource: str, sort: str
) -> None:
    listed = RESOURCES[resource]
    _, admin = await token_caller(session)  # first: minting a token writes an audit row
    rows = await seed(session, listed)
    first_id = min(row["id"] for row in rows)
    inserted = itertools.count(ROWS)

    async def insert_two() -> None:
        # Values from the same ranges: some sort before the cursor, some after it.
        for _ in range(2):
            await listed.seed(session, next(inserted))

    items = await walk(
        client,
        admin,
        listed.url,
        {"sort": sort, "limit": str(PAGE), "id_gte": str(first_id)},
        between_pages=insert_two,
    )

    seen = [item["id"] for item in items]
    assert len(seen) == len(set(seen)), "a row came twice"
    original = {row["id"] for row in rows}
    assert [i for i in seen if i in original] == expected_ids(rows, sort)


async def test_default_sort_of_customers_is_by_id(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    rows = await seed(session, RESOURCES["customers"], 6)
    _, admin = await token_caller(session)

    items = await walk(client, admin, "/api/v1/customers", {"limit": "4"})

    assert [item["id"] for item in items][-6:] == [row["id"] for row in rows]


async def test_default_sort_of_orders_is_newest_first(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    rows = await seed(session, RESOURCES["orders"], 6)
    _, admin = await token_caller(session)
    first_id = str(rows[0]["id"])

    items = await walk(client, admin, "/api/v1/orders", {"limit": "4", "id_gte": first_id})

    assert [item["id"] for item in items] == [row["id"] for row in reversed(rows)]


# --- limit ---------------------------------------------------------------------------------


@pytest.mark.parametrize("limit", ["0", "201", "abc", "-1", "", "1.5", "²", "1e2"])
async def test_limit_outside_1_to_200_or_not_a_number_is_422(
    client: httpx.AsyncClient, session: AsyncSession, limit: str
) -> None:
    _, admin = await token_caller(session)

    response = await client.get("/api/v1/customers", params={"limit": limit}, headers=admin)

    body = assert_problem(response, 422)
    assert body["errors"][0]["loc"] == ["query", "limit"]


async def test_limit_defaults_to_50_and_allows_1_and_200(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    for i in range(51):
        await make_customer(session, email=f"many{i}-{next(_unique)}@example.com")
    _, admin = await token_caller(session)

    default = (await client.get("/api/v1/customers", headers=admin)).json()
    one = (await client.get("/api/v1/customers?limit=1", headers=admin)).json()
    most = (await client.get("/api/v1/customers?limit=200", headers=admin)).json()

    assert len(default["items"]) == 50
    assert default["next_cursor"] is not None
    assert len(one["items"]) == 1
    assert len(most["items"]) == 51
    assert most["next_cursor"] is None
    assert "total" not in default


# --- unknown parameters and cursors --------------------------------------------------------


@pytest.mark.parametrize("param", ["colour", "price_gte", "name_gte", "q_lte", "CURSOR"])
async def test_unknown_query_parameter_is_422_naming_it(
    client: httpx.AsyncClient, session: AsyncSession, param: str
) -> None:
    _, admin = await token_caller(session)

    response = await client.get("/api/v1/customers", params={param: "1"}, headers=admin)

    body = assert_problem(response, 422)
    assert body["errors"] == [
        {"loc": ["query", param], "message": "unknown parameter", "type": "unknown_parameter"}
    ]


@pytest.mark.parametrize("sort", ["nope", "-", "--name", "notes", "password_hash"])
async def test_sort_on_an_undocumented_field_is_422(
    client: httpx.AsyncClient, session: AsyncSession, sort: str
) -> None:
    _, admin = await token_caller(session)

    response = await client.get("/api/v1/customers", params={"sort": sort}, headers=admin)

    assert error_fields(assert_problem(response, 422)) == {"sort"}


async def first_cursor(
    client: httpx.AsyncClient, session: AsyncSession, headers: dict[str, str], sort: str
) -> str:
    await seed(session, RESOURCES["customers"], 3)
    page = await client.get(
        "/api/v1/customers", params={"sort": sort, "limit": "1"}, headers=headers
    )
    cursor: str = page.json()["next_cursor"]
    assert cursor
    return cursor


def tampered(cursor: str) -> str:
    middle = len(cursor) // 2
    return cursor[:middle] + ("A" if cursor[middle] != "A" else "B") + cursor[middle + 1 :]


async def test_tampered_cursor_is_400(client: httpx.AsyncClient, session: AsyncSession) -> None:
    _, admin = await token_caller(session)
    cursor = await first_cursor(client, session, admin, "name")

    response = await client.get(
        "/api/v1/customers", params={"sort": "name", "cursor": tampered(cursor)}, headers=admin
    )

    assert assert_problem(response, 400)["type"] == "/problems/bad-request"


@pytest.mark.parametrize(
    "cursor", ["garbage", "!!!", "a.b", "W10=.x", "x" * 5000, "\u00e9\u4e2d", "%00"]
)
async def test_garbage_cursor_is_400(
    client: httpx.AsyncClient, session: AsyncSession, cursor: str
) -> None:
    _, admin = await token_caller(session)

    response = await client.get("/api/v1/customers", params={"cursor": cursor}, headers=admin)

    assert_problem(response, 400)


@pytest.mark.parametrize("other_sort", ["-name", "email", "id"])
async def test_cursor_from_another_sort_is_400(
    client: httpx.AsyncClient, session: AsyncSession, other_sort: str
) -> None:
    _, admin = await token_caller(session)
    cursor = await first_cursor(client, session, admin, "name")

    response = await client.get(
        "/api/v1/customers", params={"sort": other_sort, "cursor": cursor}, headers=admin
    )

    assert "sort" in assert_problem(response, 400)["detail"]


@pytest.mark.parametrize(
    ("sort", "payload"),
    [
        ("created_at", ["created_at", "yesterday", 1]),
        ("created_at", ["created_at", "2026-01-01T00:00:00", 1]),
        ("id", ["id", 1, "one"]),
        ("id", ["id", 1, 2**40]),
        ("name", ["name", "x", None]),
        ("name", {"name": 1, "b": 2, "c": 3}),
        ("name", ["name", "x"]),
        ("name", "name"),
    ],
)
async def test_signed_cursor_with_a_nonsense_position_is_400(
    client: httpx.AsyncClient, session: AsyncSession, sort: str, payload: object
) -> None:
    # Only the server can sign a cursor; this is what a leaked key or a bug would produce.
    _, admin = await token_caller(session)
    cursor = CursorCodec(TEST_SECRET_KEY).sign(payload)

    response = await client.get(
        "/api/v1/customers", params={"sort": sort, "cursor": cursor}, headers=admin
    )

    assert_problem(response, 400)


# --- q search ------------------------------------------------------------------------------


async def names_found(
    client: httpx.AsyncClient, headers: dict[str, str], url: str, q: str
) -> set[str]:
    response = await client.get(url, params={"q": q, "limit": "200"}, headers=headers)
    assert response.status_code == 200, response.text
    return {item["name"] for item in response.json()["items"]}


async def test_q_search_is_case_insensitive_across_documented_fields(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await make_customer(session, name="ACME Widgets", email="w@example.com")
    await make_customer(session, name="Bob", email="bob@acme.example", company="Other")
    await make_customer(session, name="Carol", email="carol@example.com", company="Acme Ltd")
    await make_customer(session, name="Dave", email="dave@example.com", notes="acme")
    _, admin = await token_caller(session)

    found = await names_found(client, admin, "/api/v1/customers", "aCmE")

    assert found == {"ACME Widgets", "Bob", "Carol"}  # notes are not searched


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("100%", {"100% Cotton"}),
        ("e_c", {"snake_case"}),
        ("%", {"100% Cotton"}),
        ("_", {"snake_case"}),
        ("\\", {"back\\slash"}),
    ],
)
async def test_q_treats_like_wildcards_literally(
    client: httpx.AsyncClient, session: AsyncSession, q: str, expected: set[str]
) -> None:
    for name in ["100% Cotton", "100X Cotton", "snake_case", "snakeXcase", "back\\slash"]:
        await make_product(session, name=name)
    _, admin = await token_caller(session)

    assert await names_found(client, admin, "/api/v1/products", q) == expected


async def test_q_searches_product_sku(client: httpx.AsyncClient, session: AsyncSession) -> None:
    await make_product(session, sku="ZZQ-001", name="Findable")
    await make_product(session, sku="YYY-001", name="Other")
    _, admin = await token_caller(session)

    assert await names_found(client, admin, "/api/v1/products", "zzq") == {"Findable"}


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("kit-00", {"Kit part", "Kit spare"}),  # the start of the SKU, any case
        ("KIT-0042", {"Kit part"}),
        ("0042", set()),  # a SKU matches from its start only (names match anywhere)
        ("IT-00", set()),
        ("K_T", set()),  # LIKE wildcards are literal in the prefix too
        ("spare", {"Kit spare"}),
    ],
)
async def test_q_matches_the_start_of_a_sku(
    client: httpx.AsyncClient, session: AsyncSession, q: str, expected: set[str]
) -> None:
    await make_product(session, sku="KIT-0042", name="Kit part")
    await make_product(session, sku="KIT-0099", name="Kit spare")
    await make_product(session, sku="BOX-0042", name="Box")
    _, admin = await token_caller(session)

    assert await names_found(client, admin, "/api/v1/products", q) == expected


async def test_blank_q_matches_everything(client: httpx.AsyncClient, session: AsyncSession) -> None:
    await make_product(session, name="One")
    await make_product(session, name="Two")
    _, admin = await token_caller(session)

    assert await names_found(client, admin, "/api/v1/products", "   ") == {"One", "Two"}


# --- filters -------------------------------------------------------------------------------


async def product_names(
    client: httpx.AsyncClient, headers: dict[str, str], params: dict[str, str]
) -> set[str]:
    response = await client.get("/api/v1/products", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return {item["name"] for item in response.json()["items"]}


async def test_exact_filters_match_exactly(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await make_product(session, name="Live", sku="LIVE-1")
    await make_product(session, name="Retired", sku="DEAD-1", is_active=False)
    _, admin = await token_caller(session)

    assert await product_names(client, admin, {"is_active": "false"}) == {"Retired"}
    assert await product_names(client, admin, {"is_active": "true"}) == {"Live"}
    assert await product_names(client, admin, {"sku": "LIVE-1"}) == {"Live"}
    assert await product_names(client, admin, {"sku": "live-1"}) == set()


async def test_price_range_filters_include_their_bounds(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    for price in ["9.99", "10.00", "15.50", "20.00", "20.01"]:
        await make_product(session, name=price, price=Decimal(price))
    _, admin = await token_caller(session)

    found = await product_names(client, admin, {"price_gte": "10", "price_lte": "20.00"})

    assert found == {"10.00", "15.50", "20.00"}


async def test_created_at_lte_honours_the_timestamps_offset(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await make_product(session, name="early", created_at=moment(0))
    await make_product(session, name="late", created_at=moment(60))
    _, admin = await token_caller(session)

    # 01:30 at +02:00 is 23:30 UTC the day before: neither row.
    before = {"created_at_lte": "2026-01-01T01:30:00+02:00"}
    # 02:30 at +02:00 is 00:30 UTC: only the early row.
    between = {"created_at_lte": "2026-01-01T02:30:00+02:00"}
    zulu = {"created_at_gte": "2026-01-01T00:30:00Z"}

    assert await product_names(client, admin, before) == set()
    assert await product_names(client, admin, between) == {"early"}
    assert await product_names(client, admin, zulu) == {"late"}


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("created_at_lte", "2026-01-01T00:00:00"),
        ("created_at_gte", "2026-01-01"),
        ("created_at_gte", "yesterday"),
        ("created_at_gte", "9999-12-31T23:59:59-05:00"),
        ("price_gte", "ten"),
        ("price_gte", "NaN"),
        ("price_lte", "1e400"),
        ("stock_gte", "1.5"),
        ("stock_gte", str(2**40)),
        ("id_gte", str(2**64)),
        ("is_active", "maybe"),
        ("sku", "x" * 500),
        ("sku", "a\x00b"),
    ],
)
async def test_filter_value_that_does_not_parse_is_422_naming_the_parameter(
    client: httpx.AsyncClient, session: AsyncSession, param: str, value: str
) -> None:
    _, admin = await token_caller(session)

    response = await client.get("/api/v1/products", params={param: value}, headers=admin)

    body = assert_problem(response, 422)
    assert [error["loc"] for error in body["errors"]] == [["query", param]]


async def test_include_total_adds_the_filtered_count(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    for i in range(7):
        await make_product(session, is_active=i % 2 == 0)
    _, admin = await token_caller(session)

    response = await client.get(
        "/api/v1/products",
        params={"include_total": "true", "is_active": "true", "limit": "2"},
        headers=admin,
    )

    page = response.json()
    assert page["total"] == 4
    assert len(page["items"]) == 2
    assert page["next_cursor"] is not None


@pytest.mark.parametrize(
    ("spelling", "counted"),
    [("true", True), ("1", True), ("yes", True), ("On", True), ("false", False), ("0", False)],
)
async def test_include_total_takes_the_usual_boolean_spellings(
    client: httpx.AsyncClient, session: AsyncSession, spelling: str, counted: bool
) -> None:
    await make_product(session)
    _, admin = await token_caller(session)

    response = await client.get(
        "/api/v1/products", params={"include_total": spelling}, headers=admin
    )

    assert response.status_code == 200, response.text
    assert ("total" in response.json()) is counted
