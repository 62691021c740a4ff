"""Malformed input (SPEC §6): 415 content types, 413 body sizes, 400/422 bodies, never a 500."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.edge.body_guard import JSON_LIMIT
from app.models import Customer, Product
from tests.api.domain_helpers import assert_problem, error_fields, token_caller
from tests.factories import make_customer, make_product

CUSTOMERS = "/api/v1/customers"
PRODUCTS = "/api/v1/products"
VALID_PRODUCT = b'{"sku": "GRD-001", "name": "Guarded", "price": "1.00"}'


async def count(session: AsyncSession, model: type[Customer] | type[Product]) -> int:
    return int((await session.execute(select(func.count()).select_from(model))).scalar_one())


def oversized_json() -> bytes:
    """A syntactically valid JSON object just over the 1 MiB limit."""
    padding = "x" * (JSON_LIMIT + 1)
    return b'{"sku": "BIG-001", "name": "Big", "price": "1.00", "description": "' + (
        padding.encode() + b'"}'
    )


# --- content type --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/xml", "application/x-www-form-urlencoded", "multipart/form-data"],
)
async def test_body_in_another_content_type_is_415(
    client: httpx.AsyncClient, session: AsyncSession, content_type: str
) -> None:
    _, admin = await token_caller(session)

    response = await client.post(
        PRODUCTS, content=VALID_PRODUCT, headers={**admin, "content-type": content_type}
    )

    body = assert_problem(response, 415)
    assert body["type"] == "/problems/unsupported-media-type"
    assert "application/json" in body["detail"]
    assert await count(session, Product) == 0


async def test_patch_in_another_content_type_is_415_and_changes_nothing(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    product = await make_product(session, name="Kept")
    _, admin = await token_caller(session)

    response = await client.patch(
        f"{PRODUCTS}/{product.id}",
        content=b'{"name": "Changed"}',
        headers={**admin, "content-type": "text/plain"},
    )

    assert_problem(response, 415)
    assert (await client.get(f"{PRODUCTS}/{product.id}", headers=admin)).json()["name"] == "Kept"


async def test_body_without_a_content_type_is_415(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    _, admin = await token_caller(session)
    request = client.build_request("POST", PRODUCTS, content=VALID_PRODUCT, headers=admin)
    assert "content-type" not in request.headers

    assert_problem(await client.send(request), 415)


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "application/json; charset=utf-8", "Application/JSON"],
)
async def test_json_content_types_are_accepted(
    client: httpx.AsyncClient, session: AsyncSession, content_type: str
) -> None:
    _, admin = await token_caller(session)

    response = await client.post(
        PRODUCTS, content=VALID_PRODUCT, headers={**admin, "content-type": content_type}
    )

    assert response.status_code == 201, response.text


async def test_unauthenticated_wrong_content_type_is_still_refused_without_500(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        PRODUCTS, content=b"<product/>", headers={"content-type": "application/xml"}
    )

    assert response.status_code in {401, 415}
    assert response.headers["content-type"].startswith("application/problem+json")


# --- body size -----------------------------------------------------------------------------


async def test_json_over_1_mib_with_content_length_is_413(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    _, admin = await token_caller(session)

    response = await client.post(
        PRODUCTS,
        content=oversized_json(),
        headers={**admin, "content-type": "application/json"},
    )

    body = assert_problem(response, 413)
    assert body["type"] == "/problems/payload-too-large"
    assert await count(session, Product) == 0


async def test_json_over_1_mib_streamed_without_content_length_is_413(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    _, admin = await token_caller(session)
    payload = oversized_json()

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(payload), 64 * 1024):
            yield payload[start : start + 64 * 1024]

    request = client.build_request(
        "POST", PRODUCTS, content=chunks(), headers={**admin, "content-type": "application/json"}
    )
    assert "content-length" not in request.headers

    assert_problem(await client.send(request), 413)
    assert await count(session, Product) == 0


async def test_oversized_patch_is_413_and_changes_nothing(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    customer = await make_customer(session, notes="kept")
    _, admin = await token_caller(session)
    notes = b'{"notes": "' + b"n" * (JSON_LIMIT + 1) + b'"}'

    response = await client.patch(
        f"{CUSTOMERS}/{customer.id}",
        content=notes,
        headers={**admin, "content-type": "application/json"},
    )

    assert_problem(response, 413)
    after = (await client.get(f"{CUSTOMERS}/{customer.id}", headers=admin)).json()
    assert after["notes"] == "kept"


async def test_json_just_under_1_mib_is_not_refused_for_size(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    _, admin = await token_caller(session)
    body = b'{"name": "Ok", "email": "ok@example.com", "notes": "' + b"n" * 9_000 + b'"}'
    padded = body + b" " * (JSON_LIMIT - len(body))
    assert len(padded) == JSON_LIMIT

    response = await client.post(
        CUSTOMERS, content=padded, headers={**admin, "content-type": "application/json"}
    )

    assert response.status_code == 201, response.text


# --- malformed and mistyped bodies ---------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [
        b'{"name": "x", "email": ',
        b"{'name': 'x'}",
        b'{"name": "x",}',
        b"\xff\xfe\x00{",
        b'{"name": "\xff"}',
        b"[" * 100_000 + b"]" * 100_000,
        b'{"stock": 1' + b"0" * 5_000 + b"}",
    ],
    ids=["truncated", "single-quotes", "trailing-comma", "binary", "bad-utf8", "deep", "huge-int"],
)
async def test_malformed_json_is_400(
    client: httpx.AsyncClient, session: AsyncSession, content: bytes
) -> None:
    _, admin = await token_caller(session)

    response = await client.post(
        CUSTOMERS, content=content, headers={**admin, "content-type": "application/json"}
    )

    assert assert_problem(response, 400)["type"] == "/problems/bad-request"
    assert await count(session, Customer) == 0


@pytest.mark.parametrize(
    "content",
    [
        b'[{"name": "x", "email": "x@example.com"}]',
        b'"a customer"',
        b"42",
        b"null",
        b"true",
    ],
)
async def test_json_that_is_not_an_object_is_422(
    client: httpx.AsyncClient, session: AsyncSession, content: bytes
) -> None:
    _, admin = await token_caller(session)

    response = await client.post(
        CUSTOMERS, content=content, headers={**admin, "content-type": "application/json"}
    )

    body = assert_problem(response, 422)
    assert body["errors"][0]["loc"] == ["body"]
    assert await count(session, Customer) == 0


async def test_empty_json_body_is_422_not_500(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    _, admin = await token_caller(session)

    response = await client.post(
        CUSTOMERS, content=b"", headers={**admin, "content-type": "application/json"}
    )

    assert_problem(response, 422)


# --- hostile values in fields --------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "field"),
    [
        (b'{"sku": "H-001", "name": "x", "price": NaN}', "price"),
        (b'{"sku": "H-001", "name": "x", "price": Infinity}', "price"),
        (b'{"sku": "H-001", "name": "x", "price": -Infinity}', "price"),
        (b'{"sku": "H-001", "name": "x", "price": 1e999}', "price"),
        (b'{"sku": "H-001", "name": "x", "price": 1e308}', "price"),
        (b'{"sku": "H-001", "name": "x", "price": "1", "stock": 100000000000000000000}', "stock"),
        (b'{"sku": "H-001", "name": "x", "price": "1", "stock": NaN}', "stock"),
        (b'{"sku": "H-001", "name": "x", "price": "1", "stock": 1.5}', "stock"),
        (b'{"sku": "H-001", "name": "x", "price": "1", "reorder_level": -1}', "reorder_level"),
        (b'{"sku": "H-001", "name": ' + b"[" * 300 + b"]" * 300 + b', "price": "1"}', "name"),
        (b'{"sku": "H-001", "name": {"$gt": ""}, "price": "1"}', "name"),
        (b'{"sku": "h\\u0000", "name": "x", "price": "1"}', "sku"),
        (b'{"sku": "\\ud800", "name": "x", "price": "1"}', "sku"),
        (b'{"sku": "H-001", "name": "\\ud800", "price": "1"}', "name"),
        (b'{"sku": "H-001", "name": "x", "price": "1", "is_active": "yes please"}', "is_active"),
    ],
)
async def test_hostile_field_values_are_422_naming_the_field(
    client: httpx.AsyncClient, session: AsyncSession, content: bytes, field: str
) -> None:
    _, admin = await token_caller(session)

    response = await client.post(
        PRODUCTS, content=content, headers={**admin, "content-type": "application/json"}
    )

    assert error_fields(assert_problem(response, 422)) == {field}
    assert await count(session, Product) == 0


@pytest.mark.parametrize(
    "body",
    [
        {"customer_id": 10**100},
        {"customer_id": 2**31},
        {"customer_id": -1},
        {"customer_id": 1, "items": [{"product_id": 2**40, "quantity": 1}]},
        {"customer_id": 1, "items": [{"product_id": 1, "quantity": 10**12}]},
        {"customer_id": 1, "items": [{"product_id": 1, "quantity": 0}]},
        {"customer_id": 1, "items": {"product_id": 1}},
    ],
)
async def test_out_of_range_ids_and_quantities_in_an_order_are_422(
    client: httpx.AsyncClient, session: AsyncSession, body: dict[str, object]
) -> None:
    _, admin = await token_caller(session)

    response = await client.post("/api/v1/orders", json=body, headers=admin)

    assert_problem(response, 422)


@pytest.mark.parametrize(
    "path",
    [
        f"{CUSTOMERS}/0",
        f"{CUSTOMERS}/-1",
        f"{CUSTOMERS}/{2**31}",
        f"{CUSTOMERS}/{2**64}",
        f"{CUSTOMERS}/1.5",
        f"{CUSTOMERS}/abc",
        f"/api/v1/orders/{2**40}",
        f"/api/v1/orders/1/items/{2**40}",
        f"/api/v1/users/{2**64}",
        f"/api/v1/roles/{2**64}",
    ],
)
async def test_row_ids_outside_the_integer_range_are_422_not_500(
    client: httpx.AsyncClient, session: AsyncSession, path: str
) -> None:
    _, admin = await token_caller(session)

    response = await client.request(
        "PATCH" if "/items/" in path else "GET", path, json={"quantity": 1}, headers=admin
    )

    body = assert_problem(response, 422)
    assert body["errors"][0]["loc"][0] == "path"


@pytest.mark.parametrize(
    "text",
    [
        "Zoë Ø'Brien-Łukasiewicz",
        "名前テスト",
        "\u202eevil\u202c",
        "zero\u200bwidth",
        "emoji 🧾🚚",
        "<script>alert(1)</script>",
        "'; DROP TABLE customers; --",
        "a" * 200,
    ],
)
async def test_unusual_but_valid_text_round_trips_unchanged(
    client: httpx.AsyncClient, session: AsyncSession, text: str
) -> None:
    _, admin = await token_caller(session)

    response = await client.post(
        CUSTOMERS, json={"name": text, "email": "odd@example.com", "notes": text}, headers=admin
    )

    assert response.status_code == 201, response.text
    fetched = await client.get(response.headers["location"], headers=admin)
    assert (fetched.json()["name"], fetched.json()["notes"]) == (text, text)


async def test_nul_character_in_a_text_field_never_gives_500(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    # SQLite stores it; PostgreSQL text cannot hold it, which must be a 422, not a crash.
    _, admin = await token_caller(session)

    response = await client.post(
        CUSTOMERS, json={"name": "nul\x00name", "email": "nul@example.com"}, headers=admin
    )

    if response.status_code == 201:
        assert response.json()["name"] == "nul\x00name"
    else:
        assert_problem(response, 422)


@pytest.mark.parametrize(
    "params",
    [
        {"q": "\x00"},
        {"q": "x" * 201},
        {"company": "\x00"},
        {"sort": "\x00"},
        {"limit": "9" * 5000},
        {"include_total": "perhaps"},
    ],
)
async def test_hostile_query_strings_are_4xx_never_500(
    client: httpx.AsyncClient, session: AsyncSession, params: dict[str, str]
) -> None:
    _, admin = await token_caller(session)

    response = await client.get(CUSTOMERS, params=params, headers=admin)

    assert_problem(response, 422)


@pytest.mark.parametrize("query", ["q=%ff%fe", "q=%ed%a0%80", "q=%", "company=%c0%80"])
async def test_query_strings_that_are_not_utf_8_are_answered_without_500(
    client: httpx.AsyncClient, session: AsyncSession, query: str
) -> None:
    await make_customer(session, name="Someone")
    _, admin = await token_caller(session)

    response = await client.get(f"{CUSTOMERS}?{query}", headers=admin)

    assert response.status_code == 200, response.text
    assert response.json()["items"] == []
