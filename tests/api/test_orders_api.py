"""Orders over the API (SPEC §6, §7): shapes, guards, unknown rows and invalid bodies — on
SQLite and PostgreSQL. Items, If-Match and deletion are in test_order_edits.py, the lifecycle
in test_order_lifecycle.py."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Customer
from tests.api.order_helpers import (
    ORDERS,
    Caller,
    act,
    assert_problem,
    caller,
    count_audit_rows,
    create_order,
    drive_to,
    order_status,
)
from tests.factories import make_customer, make_product

# --- create and read ---------------------------------------------------------------------------


async def test_create_order_with_items_returns_201_location_and_the_full_read(
    client: httpx.AsyncClient, session: AsyncSession, admin_caller: Caller, customer: Customer
) -> None:
    widget = await make_product(session, price=Decimal("12.50"), name="Widget")
    bolt = await make_product(session, price=Decimal("3.10"), name="Bolt")

    response = await client.post(
        ORDERS,
        json={
            "customer_id": customer.id,
            "notes": "Leave at reception.",
            "items": [
                {"product_id": widget.id, "quantity": 2},
                {"product_id": bolt.id, "quantity": 3},
            ],
        },
        headers=admin_caller.headers,
    )

    assert response.status_code == 201, response.text
    body = response.json()
    assert response.headers["location"] == f"/api/v1/orders/{body['id']}"
    # Its first version is its created state: the number, known after the INSERT, is not
    # a second one.
    assert (body["version"], response.headers["etag"]) == (1, '"1"')
    assert body["number"] == f"SO-{body['id']:06d}"
    assert body["status"] == "draft"
    assert body["notes"] == "Leave at reception."
    assert body["placed_at"] is None
    assert body["created_by_id"] == admin_caller.user.id
    assert body["customer_id"] == customer.id
    assert body["customer"] == {
        "id": customer.id,
        "name": "Ada Shop",
        "email": customer.email,
        "company": "Ada Ltd",
    }
    lines = {item["product_id"]: item for item in body["items"]}
    assert lines[widget.id]["unit_price"] == "12.50"
    assert lines[widget.id]["quantity"] == 2
    assert lines[widget.id]["sku"] == widget.sku
    assert lines[widget.id]["line_total"] == "25.00"
    assert lines[bolt.id]["unit_price"] == "3.10"
    assert lines[bolt.id]["line_total"] == "9.30"
    assert body["total"] == "34.30"
    assert Decimal(body["total"]) == sum(Decimal(i["line_total"]) for i in body["items"])
    read = await client.get(response.headers["location"], headers=admin_caller.headers)
    assert read.status_code == 200
    assert read.json() == body


async def test_unit_price_is_copied_and_does_not_follow_later_price_changes(
    client: httpx.AsyncClient, session: AsyncSession, admin_caller: Caller, customer: Customer
) -> None:
    product = await make_product(session, price=Decimal("5.00"))
    order = await create_order(client, admin_caller.headers, customer.id, [(product.id, 2)])

    patched = await client.patch(
        f"/api/v1/products/{product.id}", json={"price": "7.25"}, headers=admin_caller.headers
    )
    assert patched.status_code == 200, patched.text

    read = (await client.get(f"{ORDERS}/{order['id']}", headers=admin_caller.headers)).json()
    assert read["items"][0]["unit_price"] == "5.00"
    assert read["total"] == "10.00"


async def test_create_order_repeating_a_product_merges_its_lines(
    client: httpx.AsyncClient, session: AsyncSession, admin_caller: Caller, customer: Customer
) -> None:
    product = await make_product(session, price=Decimal("2.00"))

    order = await create_order(
        client, admin_caller.headers, customer.id, [(product.id, 2), (product.id, 3)]
    )

    assert [(i["product_id"], i["quantity"]) for i in order["items"]] == [(product.id, 5)]
    assert order["total"] == "10.00"


async def test_create_order_without_items_is_an_empty_draft_totalling_zero(
    client: httpx.AsyncClient, admin_caller: Caller, customer: Customer
) -> None:
    order = await create_order(client, admin_caller.headers, customer.id)

    assert order["items"] == []
    assert order["total"] == "0.00"
    assert order["status"] == "draft"


async def test_order_numbers_follow_the_ids(
    client: httpx.AsyncClient, admin_caller: Caller, customer: Customer
) -> None:
    first = await create_order(client, admin_caller.headers, customer.id)
    second = await create_order(client, admin_caller.headers, customer.id)

    assert second["id"] > first["id"]
    assert [first["number"], second["number"]] == [
        f"SO-{first['id']:06d}",
        f"SO-{second['id']:06d}",
    ]
    stored = (await client.get(f"{ORDERS}/{first['id']}", headers=admin_caller.headers)).json()
    assert (stored["number"], stored["version"]) == (first["number"], 1)
    assert stored["updated_at"] == first["updated_at"]


# --- authentication and permissions ------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", ORDERS),
        ("POST", ORDERS),
        ("GET", f"{ORDERS}/1"),
        ("PATCH", f"{ORDERS}/1"),
        ("DELETE", f"{ORDERS}/1"),
        ("POST", f"{ORDERS}/1/place"),
        ("POST", f"{ORDERS}/1/items"),
    ],
)
async def test_anonymous_order_requests_are_401(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    json = {"customer_id": 1} if method in {"POST", "PATCH"} and "place" not in path else None

    response = await client.request(method, path, json=json)

    assert_problem(response, 401)
    assert response.headers["www-authenticate"] == "Bearer"


async def test_viewer_can_read_orders_but_not_create_them(
    client: httpx.AsyncClient, session: AsyncSession, customer: Customer
) -> None:
    viewer = await caller(session, "viewer")

    assert (await client.get(ORDERS, headers=viewer.headers)).status_code == 200
    response = await client.post(ORDERS, json={"customer_id": customer.id}, headers=viewer.headers)

    assert_problem(response, 403)
    assert "orders:create" in response.json()["detail"]


async def test_clerk_can_create_place_and_cancel_an_order(
    client: httpx.AsyncClient, session: AsyncSession, customer: Customer
) -> None:
    clerk = await caller(session, "clerk")
    product = await make_product(session, stock=5)

    order = await create_order(client, clerk.headers, customer.id, [(product.id, 2)])
    placed = await act(client, clerk.headers, order["id"], "place")
    cancelled = await act(client, clerk.headers, order["id"], "cancel")

    assert placed.status_code == 200, placed.text
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"


@pytest.mark.parametrize(("action", "status"), [("pay", "placed"), ("ship", "paid")])
async def test_clerk_cannot_pay_or_ship(
    client: httpx.AsyncClient,
    session: AsyncSession,
    admin_caller: Caller,
    customer: Customer,
    action: str,
    status: str,
) -> None:
    clerk = await caller(session, "clerk")
    product = await make_product(session, stock=5)
    order = await create_order(client, admin_caller.headers, customer.id, [(product.id, 1)])
    await drive_to(client, admin_caller.headers, order["id"], status)

    response = await act(client, clerk.headers, order["id"], action)

    body = assert_problem(response, 403)
    assert f"orders:{action}" in body["detail"]
    assert await order_status(session, order["id"]) == status


async def test_clerk_cannot_delete_an_order(
    client: httpx.AsyncClient, session: AsyncSession, admin_caller: Caller, customer: Customer
) -> None:
    clerk = await caller(session, "clerk")
    order = await create_order(client, admin_caller.headers, customer.id)

    response = await client.delete(f"{ORDERS}/{order['id']}", headers=clerk.headers)

    assert_problem(response, 403)
    assert (await client.get(f"{ORDERS}/{order['id']}", headers=clerk.headers)).status_code == 200


async def test_a_user_without_roles_cannot_read_orders(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    nobody = await caller(session, None)

    assert_problem(await client.get(ORDERS, headers=nobody.headers), 403)


# --- unknown rows ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "suffix", "json"),
    [
        ("GET", "", None),
        ("PATCH", "", {"notes": "x"}),
        ("DELETE", "", None),
        ("POST", "/place", None),
        ("POST", "/cancel", None),
        ("POST", "/items", {"product_id": 1, "quantity": 1}),
        ("PATCH", "/items/1", {"quantity": 1}),
        ("DELETE", "/items/1", None),
    ],
)
async def test_an_unknown_order_is_404(
    client: httpx.AsyncClient,
    admin_caller: Caller,
    method: str,
    suffix: str,
    json: dict[str, Any] | None,
) -> None:
    response = await client.request(
        method, f"{ORDERS}/987654321{suffix}", json=json, headers=admin_caller.headers
    )

    assert_problem(response, 404)


@pytest.mark.parametrize(("method", "json"), [("PATCH", {"quantity": 2}), ("DELETE", None)])
async def test_an_item_of_another_order_is_404(
    client: httpx.AsyncClient,
    session: AsyncSession,
    admin_caller: Caller,
    customer: Customer,
    method: str,
    json: dict[str, Any] | None,
) -> None:
    product = await make_product(session)
    mine = await create_order(client, admin_caller.headers, customer.id)
    other = await create_order(client, admin_caller.headers, customer.id, [(product.id, 1)])
    other_item = other["items"][0]["id"]

    response = await client.request(
        method,
        f"{ORDERS}/{mine['id']}/items/{other_item}",
        json=json,
        headers=admin_caller.headers,
    )

    assert_problem(response, 404)
    after = (await client.get(f"{ORDERS}/{other['id']}", headers=admin_caller.headers)).json()
    assert after["items"] == other["items"]


# --- invalid bodies ----------------------------------------------------------------------------


async def test_quantity_zero_is_422_naming_the_line(
    client: httpx.AsyncClient, session: AsyncSession, admin_caller: Caller, customer: Customer
) -> None:
    product = await make_product(session)

    response = await client.post(
        ORDERS,
        json={
            "customer_id": customer.id,
            "items": [
                {"product_id": product.id, "quantity": 1},
                {"product_id": product.id, "quantity": 0},
            ],
        },
        headers=admin_caller.headers,
    )

    body = assert_problem(response, 422)
    assert [e["loc"] for e in body["errors"]] == [["body", "items", 1, "quantity"]]


async def test_an_unknown_product_is_422_naming_its_line_and_creates_nothing(
    client: httpx.AsyncClient, session: AsyncSession, admin_caller: Caller, customer: Customer
) -> None:
    product = await make_product(session)
    audit_before = await count_audit_rows(session)

    response = await client.post(
        ORDERS,
        json={
            "customer_id": customer.id,
            "items": [
                {"product_id": product.id, "quantity": 1},
                {"product_id": 987654321, "quantity": 1},
            ],
        },
        headers=admin_caller.headers,
    )

    body = assert_problem(response, 422)
    assert [e["loc"] for e in body["errors"]] == [["body", "items", 1, "product_id"]]
    listed = await client.get(
        ORDERS, params={"customer_id": customer.id}, headers=admin_caller.headers
    )
    assert listed.json()["items"] == []
    assert await count_audit_rows(session) == audit_before


async def test_an_unknown_customer_is_422_naming_the_field(
    client: httpx.AsyncClient, admin_caller: Caller
) -> None:
    response = await client.post(
        ORDERS, json={"customer_id": 987654321}, headers=admin_caller.headers
    )

    body = assert_problem(response, 422)
    assert [e["loc"] for e in body["errors"]] == [["body", "customer_id"]]


async def test_every_listed_order_is_the_same_json_as_its_detail(
    client: httpx.AsyncClient, session: AsyncSession, admin_caller: Caller, customer: Customer
) -> None:
    # The list reads Core rows, the detail ORM objects: one schema must make them agree.
    products = [
        await make_product(session, price=Decimal(price), name=f"Part «{n}»")
        for n, price in enumerate(["0.05", "12.50", "9999.99"])
    ]
    other = await make_customer(session, name="Zed", company="")
    orders = [
        await create_order(client, admin_caller.headers, customer.id),
        await create_order(
            client,
            admin_caller.headers,
            other.id,
            [(products[2].id, 3), (products[0].id, 7), (products[1].id, 1)],
            notes="two\nlines",
        ),
        await create_order(client, admin_caller.headers, customer.id, [(products[1].id, 2)]),
    ]
    placed = await act(client, admin_caller.headers, orders[2]["id"], "place")
    assert placed.status_code == 200, placed.text
    first_id = min(order["id"] for order in orders)

    listed = await client.get(
        ORDERS, params={"id_gte": first_id, "limit": 2}, headers=admin_caller.headers
    )
    rest = await client.get(
        ORDERS,
        params={"id_gte": first_id, "limit": 2, "cursor": listed.json()["next_cursor"]},
        headers=admin_caller.headers,
    )

    items = listed.json()["items"] + rest.json()["items"]
    assert [item["id"] for item in items] == sorted((o["id"] for o in orders), reverse=True)
    for item in items:
        detail = await client.get(f"{ORDERS}/{item['id']}", headers=admin_caller.headers)
        assert item == detail.json()
    assert [line["product_id"] for line in items[1]["items"]] == [
        products[2].id,
        products[0].id,
        products[1].id,
    ]


@pytest.mark.parametrize(
    ("payload", "loc"),
    [
        ({}, ["body", "customer_id"]),
        ({"customer_id": "abc"}, ["body", "customer_id"]),
        ({"customer_id": 1, "items": [{"product_id": 1}]}, ["body", "items", 0, "quantity"]),
        ({"customer_id": 1, "items": [{"quantity": 1}]}, ["body", "items", 0, "product_id"]),
        ({"customer_id": 1, "status": "paid"}, ["body", "status"]),
    ],
)
async def test_malformed_order_bodies_are_422_listing_the_field(
    client: httpx.AsyncClient, admin_caller: Caller, payload: dict[str, Any], loc: list[Any]
) -> None:
    response = await client.post(ORDERS, json=payload, headers=admin_caller.headers)

    body = assert_problem(response, 422)
    assert loc in [e["loc"] for e in body["errors"]]


async def test_adding_an_unknown_product_is_422_naming_product_id(
    client: httpx.AsyncClient, admin_caller: Caller, customer: Customer
) -> None:
    order = await create_order(client, admin_caller.headers, customer.id)

    response = await client.post(
        f"{ORDERS}/{order['id']}/items",
        json={"product_id": 987654321, "quantity": 1},
        headers=admin_caller.headers,
    )

    body = assert_problem(response, 422)
    assert [e["loc"] for e in body["errors"]] == [["body", "product_id"]]
