"""Products over the JSON API (SPEC §6, §7, §9): auth, permissions, money, ETags, audit."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.api.domain_helpers import (
    assert_problem,
    audit_events,
    error_fields,
    only_audit_event,
    token_caller,
)
from tests.factories import make_order, make_product

URL = "/api/v1/products"
MISSING_ID = 987_654_321
NEW_PRODUCT = {
    "sku": "WID-001",
    "name": "Widget",
    "description": "A very useful widget.",
    "price": "12.50",
    "stock": 100,
    "reorder_level": 10,
}


async def create(
    client: httpx.AsyncClient, headers: dict[str, str], **fields: object
) -> httpx.Response:
    return await client.post(URL, json={**NEW_PRODUCT, **fields}, headers=headers)


# --- authentication and permissions --------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", URL),
        ("GET", f"{URL}/1"),
        ("POST", URL),
        ("PATCH", f"{URL}/1"),
        ("DELETE", f"{URL}/1"),
    ],
)
async def test_anonymous_caller_gets_401_with_bearer_challenge(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    body = NEW_PRODUCT if method in {"POST", "PATCH"} else None

    response = await client.request(method, path, json=body)

    assert_problem(response, 401)
    assert response.headers["www-authenticate"] == "Bearer"


async def test_viewer_can_read_but_not_create_update_or_delete_products(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    product = await make_product(session, name="Unchanged")
    _, viewer = await token_caller(session, "viewer")

    assert (await client.get(f"{URL}/{product.id}", headers=viewer)).status_code == 200
    assert_problem(await create(client, viewer), 403)
    assert_problem(
        await client.patch(f"{URL}/{product.id}", json={"name": "Changed"}, headers=viewer), 403
    )
    assert_problem(await client.delete(f"{URL}/{product.id}", headers=viewer), 403)

    after = (await client.get(f"{URL}/{product.id}", headers=viewer)).json()
    assert (after["name"], after["version"]) == ("Unchanged", 1)
    assert await audit_events(session, "product", product.id) == []


async def test_clerk_cannot_create_edit_or_delete_products(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    product = await make_product(session)
    _, clerk = await token_caller(session, "clerk")

    body = assert_problem(await create(client, clerk), 403)
    assert "products:create" in body["detail"]
    assert_problem(await client.patch(f"{URL}/{product.id}", json={"stock": 0}, headers=clerk), 403)
    assert_problem(await client.delete(f"{URL}/{product.id}", headers=clerk), 403)
    assert (await client.get(URL, headers=clerk)).json()["items"][0]["sku"] == product.sku


async def test_manager_can_create_edit_and_delete_products(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    _, manager = await token_caller(session, "manager")

    created = await create(client, manager)
    assert created.status_code == 201, created.text
    product_url = created.headers["location"]
    edited = await client.patch(product_url, json={"stock": 5}, headers=manager)
    assert edited.status_code == 200, edited.text
    assert (await client.delete(product_url, headers=manager)).status_code == 204


# --- missing rows and invalid bodies -------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "body"),
    [("GET", None), ("PATCH", {"name": "Nothing"}), ("DELETE", None)],
)
async def test_unknown_product_is_404(
    client: httpx.AsyncClient, session: AsyncSession, method: str, body: object
) -> None:
    _, admin = await token_caller(session)

    response = await client.request(method, f"{URL}/{MISSING_ID}", json=body, headers=admin)

    assert_problem(response, 404)


async def test_invalid_product_lists_every_bad_field(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    _, admin = await token_caller(session)

    response = await client.post(
        URL,
        json={
            "sku": "lower case",
            "name": "",
            "price": "-1.00",
            "stock": -5,
            "reorder_level": "ten",
            "weight": 3,
        },
        headers=admin,
    )

    body = assert_problem(response, 422)
    assert error_fields(body) == {"sku", "name", "price", "stock", "reorder_level", "weight"}
    assert (await client.get(URL, headers=admin)).json()["items"] == []


async def test_missing_required_product_fields_are_each_listed(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    _, admin = await token_caller(session)

    body = assert_problem(await client.post(URL, json={"stock": 1}, headers=admin), 422)

    assert error_fields(body) == {"sku", "name", "price"}


@pytest.mark.parametrize("field", ["sku", "name", "price", "stock"])
async def test_explicit_null_for_a_required_field_is_422(
    client: httpx.AsyncClient, session: AsyncSession, field: str
) -> None:
    product = await make_product(session)
    _, admin = await token_caller(session)

    response = await client.patch(f"{URL}/{product.id}", json={field: None}, headers=admin)

    assert error_fields(assert_problem(response, 422)) == {field}
    assert (await client.get(f"{URL}/{product.id}", headers=admin)).json()["version"] == 1


# --- money ---------------------------------------------------------------------------------


@pytest.mark.parametrize("price", ["12.50", "12.5", " 12.5 ", "12.500"])
async def test_price_is_accepted_as_decimal_text_and_answered_as_a_decimal_string(
    client: httpx.AsyncClient, session: AsyncSession, price: object
) -> None:
    _, admin = await token_caller(session)

    response = await create(client, admin, price=price)

    assert response.status_code == 201, response.text
    assert response.json()["price"] == "12.50"
    fetched = await client.get(response.headers["location"], headers=admin)
    assert fetched.json()["price"] == "12.50"


async def test_whole_number_price_is_answered_with_two_decimals(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    _, admin = await token_caller(session)

    response = await create(client, admin, price="7")

    assert response.json()["price"] == "7.00"


@pytest.mark.parametrize("price", [12.5, 7, 0, 1e3])
async def test_a_json_number_is_no_price(
    client: httpx.AsyncClient, session: AsyncSession, price: object
) -> None:
    """Money is decimal text only: a float has already lost cents before it arrives."""
    _, admin = await token_caller(session)

    response = await create(client, admin, price=price)

    assert error_fields(assert_problem(response, 422)) == {"price"}


@pytest.mark.parametrize(
    "price", ["12.345", "-0.01", "1e12", "NaN", "Infinity", "twelve", True, [], "0x10"]
)
async def test_invalid_price_is_422_naming_price(
    client: httpx.AsyncClient, session: AsyncSession, price: object
) -> None:
    _, admin = await token_caller(session)

    response = await create(client, admin, price=price)

    assert error_fields(assert_problem(response, 422)) == {"price"}


async def test_price_update_keeps_exact_cents(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    product = await make_product(session, price=Decimal("0.10"))
    _, admin = await token_caller(session)

    response = await client.patch(f"{URL}/{product.id}", json={"price": "0.3"}, headers=admin)

    assert response.status_code == 200, response.text
    assert response.json()["price"] == "0.30"


# --- happy paths and conditional requests --------------------------------------------------


async def test_create_product_returns_201_with_location_and_etag(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    _, admin = await token_caller(session)

    response = await create(client, admin)

    assert response.status_code == 201, response.text
    body = response.json()
    assert response.headers["location"] == f"{URL}/{body['id']}"
    assert response.headers["etag"] == '"1"'
    assert {k: body[k] for k in NEW_PRODUCT} == NEW_PRODUCT
    assert (body["is_active"], body["version"]) == (True, 1)
    fetched = await client.get(response.headers["location"], headers=admin)
    assert fetched.json() == body


async def test_get_with_current_etag_in_if_none_match_is_304(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    product = await make_product(session)
    _, admin = await token_caller(session)
    etag = (await client.get(f"{URL}/{product.id}", headers=admin)).headers["etag"]

    cached = await client.get(f"{URL}/{product.id}", headers={**admin, "If-None-Match": etag})
    listed = await client.get(
        f"{URL}/{product.id}", headers={**admin, "If-None-Match": f'"0", {etag}'}
    )

    assert cached.status_code == 304
    assert cached.content == b""
    assert listed.status_code == 304


async def test_patch_with_stale_if_match_is_412_and_changes_nothing(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    product = await make_product(session, stock=10)
    _, admin = await token_caller(session)
    await client.patch(f"{URL}/{product.id}", json={"stock": 9}, headers=admin)

    late = await client.patch(
        f"{URL}/{product.id}", json={"stock": 1}, headers={**admin, "If-Match": '"1"'}
    )

    body = assert_problem(late, 412)
    assert body["current_version"] == 2
    after = (await client.get(f"{URL}/{product.id}", headers=admin)).json()
    assert (after["stock"], after["version"]) == (9, 2)


async def test_patch_with_current_if_match_bumps_version_and_etag(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    product = await make_product(session)
    _, admin = await token_caller(session)

    response = await client.patch(
        f"{URL}/{product.id}", json={"name": "Renamed"}, headers={**admin, "If-Match": '"1"'}
    )

    assert response.status_code == 200, response.text
    assert (response.json()["name"], response.json()["version"]) == ("Renamed", 2)
    assert response.headers["etag"] == '"2"'


async def test_delete_product_is_204_and_then_404(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    product = await make_product(session)
    _, admin = await token_caller(session)

    response = await client.delete(f"{URL}/{product.id}", headers={**admin, "If-Match": '"1"'})

    assert response.status_code == 204
    assert_problem(await client.get(f"{URL}/{product.id}", headers=admin), 404)


# --- conflicts -----------------------------------------------------------------------------


async def test_duplicate_sku_is_409_naming_sku(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await make_product(session, sku="DUP-001")
    _, admin = await token_caller(session)

    response = await create(client, admin, sku="DUP-001")

    body = assert_problem(response, 409)
    assert body["field"] == "sku"
    assert "SKU" in body["detail"]


async def test_changing_sku_to_a_taken_one_is_409_and_changes_nothing(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await make_product(session, sku="TAKEN-1")
    product = await make_product(session, sku="MINE-1")
    _, admin = await token_caller(session)

    response = await client.patch(f"{URL}/{product.id}", json={"sku": "TAKEN-1"}, headers=admin)

    assert assert_problem(response, 409)["field"] == "sku"
    assert (await client.get(f"{URL}/{product.id}", headers=admin)).json()["sku"] == "MINE-1"


async def test_deleting_a_product_on_orders_is_409_naming_the_count(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    product = await make_product(session)
    other = await make_product(session)
    for _ in range(3):
        await make_order(session, items=[(product, 1), (other, 2)])
    _, admin = await token_caller(session)

    response = await client.delete(f"{URL}/{product.id}", headers=admin)

    body = assert_problem(response, 409)
    assert "3 order" in body["detail"]
    assert body["referencing_orders"] == 3
    assert (await client.get(f"{URL}/{product.id}", headers=admin)).status_code == 200


# --- audit ---------------------------------------------------------------------------------


async def test_create_writes_an_audit_row_with_every_field(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user, admin = await token_caller(session)

    response = await create(client, admin, price="12.5")

    event = await only_audit_event(session, "product", response.json()["id"], "product.created")
    assert event.changes == {
        "sku": [None, "WID-001"],
        "name": [None, "Widget"],
        "description": [None, "A very useful widget."],
        "price": [None, "12.50"],
        "stock": [None, 100],
        "reorder_level": [None, 10],
        "is_active": [None, True],
    }
    assert (event.channel, event.actor_user_id, event.actor_email) == ("api", user.id, user.email)


async def test_update_writes_an_audit_row_with_old_and_new_values(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    product = await make_product(session, price=Decimal("9.99"), stock=10, name="Same")
    user, admin = await token_caller(session, "manager")

    await client.patch(
        f"{URL}/{product.id}",
        json={"price": "12.5", "stock": 4, "name": "Same"},
        headers=admin,
    )

    event = await only_audit_event(session, "product", product.id, "product.updated")
    assert event.changes == {"price": ["9.99", "12.50"], "stock": [10, 4]}
    assert (event.channel, event.actor_user_id) == ("api", user.id)


async def test_delete_writes_an_audit_row_with_the_old_values(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    product = await make_product(
        session, sku="DEL-001", name="Doomed", price=Decimal("1.00"), stock=3
    )
    user, admin = await token_caller(session)

    await client.delete(f"{URL}/{product.id}", headers=admin)

    event = await only_audit_event(session, "product", product.id, "product.deleted")
    assert event.changes == {
        "sku": ["DEL-001", None],
        "name": ["Doomed", None],
        "description": ["", None],
        "price": ["1.00", None],
        "stock": [3, None],
        "reorder_level": [0, None],
        "is_active": [True, None],
    }
    assert (event.channel, event.actor_user_id) == ("api", user.id)


async def test_refused_writes_leave_no_audit_row(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    product = await make_product(session)
    await make_order(session, items=[(product, 1)])
    _, admin = await token_caller(session)

    await client.patch(f"{URL}/{product.id}", json={"stock": -1}, headers=admin)
    await client.patch(
        f"{URL}/{product.id}", json={"stock": 1}, headers={**admin, "If-Match": '"5"'}
    )
    await client.delete(f"{URL}/{product.id}", headers=admin)

    assert await audit_events(session, "product", product.id) == []
