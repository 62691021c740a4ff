"""Orders over the API (SPEC §6, §7): shapes, guards, unknown rows, invalid bodies, items,
If-Match and deletion — on SQLite and PostgreSQL. The lifecycle is in test_order_lifecycle.py."""

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
    audit_rows,
    caller,
    count_audit_rows,
    create_order,
    drive_to,
    observed_state,
    order_status,
    stock_of,
    with_if_match,
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
    assert response.headers["etag"] == f'"{body["version"]}"'
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


# --- items -------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["placed", "paid", "shipped", "cancelled"])
@pytest.mark.parametrize("edit", ["add", "update", "remove"])
async def test_items_are_editable_only_on_drafts(
    client: httpx.AsyncClient,
    session: AsyncSession,
    admin_caller: Caller,
    customer: Customer,
    status: str,
    edit: str,
) -> None:
    product = await make_product(session, stock=10)
    extra = await make_product(session, stock=10)
    order = await create_order(client, admin_caller.headers, customer.id, [(product.id, 2)])
    await drive_to(client, admin_caller.headers, order["id"], status)
    item_url = f"{ORDERS}/{order['id']}/items/{order['items'][0]['id']}"
    before = await observed_state(client, session, admin_caller.headers, order["id"])

    if edit == "add":
        response = await client.post(
            f"{ORDERS}/{order['id']}/items",
            json={"product_id": extra.id, "quantity": 1},
            headers=admin_caller.headers,
        )
    elif edit == "update":
        response = await client.patch(item_url, json={"quantity": 5}, headers=admin_caller.headers)
    else:
        response = await client.delete(item_url, headers=admin_caller.headers)

    body = assert_problem(response, 409)
    assert "draft" in body["detail"]
    assert await observed_state(client, session, admin_caller.headers, order["id"]) == before


async def test_the_total_follows_item_edits(
    client: httpx.AsyncClient, session: AsyncSession, admin_caller: Caller, customer: Customer
) -> None:
    pen = await make_product(session, price=Decimal("1.25"))
    pad = await make_product(session, price=Decimal("4.00"))
    order = await create_order(client, admin_caller.headers, customer.id, [(pen.id, 4)])
    url = f"{ORDERS}/{order['id']}"
    assert order["total"] == "5.00"

    added = await client.post(
        f"{url}/items", json={"product_id": pad.id, "quantity": 2}, headers=admin_caller.headers
    )
    assert added.status_code == 201, added.text
    assert added.json()["total"] == "13.00"
    pad_item = next(i for i in added.json()["items"] if i["product_id"] == pad.id)

    updated = await client.patch(
        f"{url}/items/{pad_item['id']}", json={"quantity": 3}, headers=admin_caller.headers
    )
    assert updated.status_code == 200, updated.text
    assert updated.json()["total"] == "17.00"

    removed = await client.delete(f"{url}/items/{pad_item['id']}", headers=admin_caller.headers)
    assert removed.status_code == 200, removed.text
    assert [i["product_id"] for i in removed.json()["items"]] == [pen.id]
    assert removed.json()["total"] == "5.00"

    read = (await client.get(url, headers=admin_caller.headers)).json()
    assert read["total"] == "5.00"
    assert Decimal(read["total"]) == sum(Decimal(i["line_total"]) for i in read["items"])


async def test_adding_a_product_already_on_the_order_merges_the_line(
    client: httpx.AsyncClient, session: AsyncSession, admin_caller: Caller, customer: Customer
) -> None:
    product = await make_product(session, price=Decimal("2.50"))
    order = await create_order(client, admin_caller.headers, customer.id, [(product.id, 1)])

    response = await client.post(
        f"{ORDERS}/{order['id']}/items",
        json={"product_id": product.id, "quantity": 2},
        headers=admin_caller.headers,
    )

    assert response.status_code == 201, response.text
    items = response.json()["items"]
    assert [(i["id"], i["quantity"]) for i in items] == [(order["items"][0]["id"], 3)]
    assert response.json()["total"] == "7.50"


async def test_an_item_quantity_of_zero_is_422(
    client: httpx.AsyncClient, session: AsyncSession, admin_caller: Caller, customer: Customer
) -> None:
    product = await make_product(session)
    order = await create_order(client, admin_caller.headers, customer.id, [(product.id, 1)])

    response = await client.patch(
        f"{ORDERS}/{order['id']}/items/{order['items'][0]['id']}",
        json={"quantity": 0},
        headers=admin_caller.headers,
    )

    body = assert_problem(response, 422)
    assert [e["loc"] for e in body["errors"]] == [["body", "quantity"]]


# --- If-Match ----------------------------------------------------------------------------------


@pytest.mark.parametrize("action", ["place", "cancel"])
async def test_an_action_with_a_stale_if_match_is_412_and_changes_nothing(
    client: httpx.AsyncClient,
    session: AsyncSession,
    admin_caller: Caller,
    customer: Customer,
    action: str,
) -> None:
    product = await make_product(session, stock=10)
    order = await create_order(client, admin_caller.headers, customer.id, [(product.id, 1)])
    stale = f'"{order["version"]}"'
    await client.patch(
        f"{ORDERS}/{order['id']}", json={"notes": "changed"}, headers=admin_caller.headers
    )
    before = await observed_state(client, session, admin_caller.headers, order["id"])
    assert before["etag"] != stale

    response = await act(client, with_if_match(admin_caller.headers, stale), order["id"], action)

    assert_problem(response, 412)
    assert await observed_state(client, session, admin_caller.headers, order["id"]) == before


async def test_an_action_with_the_current_if_match_goes_through(
    client: httpx.AsyncClient, session: AsyncSession, admin_caller: Caller, customer: Customer
) -> None:
    product = await make_product(session, stock=10)
    order = await create_order(client, admin_caller.headers, customer.id, [(product.id, 1)])
    read = await client.get(f"{ORDERS}/{order['id']}", headers=admin_caller.headers)

    response = await act(
        client, with_if_match(admin_caller.headers, read.headers["etag"]), order["id"], "place"
    )

    assert response.status_code == 200, response.text


@pytest.mark.parametrize("edit", ["add", "update", "remove"])
async def test_an_item_edit_with_a_stale_if_match_is_412(
    client: httpx.AsyncClient,
    session: AsyncSession,
    admin_caller: Caller,
    customer: Customer,
    edit: str,
) -> None:
    product = await make_product(session, price=Decimal("1.00"))
    order = await create_order(client, admin_caller.headers, customer.id, [(product.id, 1)])
    stale = f'"{order["version"]}"'
    # Another client's item edit moves the order's ETag on.
    bumped = await client.patch(
        f"{ORDERS}/{order['id']}/items/{order['items'][0]['id']}",
        json={"quantity": 2},
        headers=admin_caller.headers,
    )
    assert bumped.headers["etag"] != stale
    before = await observed_state(client, session, admin_caller.headers, order["id"])
    headers = with_if_match(admin_caller.headers, stale)
    item_url = f"{ORDERS}/{order['id']}/items/{order['items'][0]['id']}"

    if edit == "add":
        response = await client.post(
            f"{ORDERS}/{order['id']}/items",
            json={"product_id": product.id, "quantity": 1},
            headers=headers,
        )
    elif edit == "update":
        response = await client.patch(item_url, json={"quantity": 7}, headers=headers)
    else:
        response = await client.delete(item_url, headers=headers)

    assert_problem(response, 412)
    assert await observed_state(client, session, admin_caller.headers, order["id"]) == before


async def test_a_patch_with_a_stale_if_match_is_412(
    client: httpx.AsyncClient, admin_caller: Caller, customer: Customer
) -> None:
    order = await create_order(client, admin_caller.headers, customer.id)
    url = f"{ORDERS}/{order['id']}"
    read_etag = f'"{order["version"]}"'
    first = await client.patch(
        url, json={"notes": "one"}, headers=with_if_match(admin_caller.headers, read_etag)
    )
    assert first.status_code == 200, first.text

    second = await client.patch(
        url, json={"notes": "two"}, headers=with_if_match(admin_caller.headers, read_etag)
    )

    assert_problem(second, 412)
    assert (await client.get(url, headers=admin_caller.headers)).json()["notes"] == "one"


# --- deletion ----------------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["draft", "cancelled"])
async def test_draft_and_cancelled_orders_can_be_deleted(
    client: httpx.AsyncClient,
    session: AsyncSession,
    admin_caller: Caller,
    customer: Customer,
    status: str,
) -> None:
    product = await make_product(session, stock=10)
    order = await create_order(client, admin_caller.headers, customer.id, [(product.id, 2)])
    await drive_to(client, admin_caller.headers, order["id"], status)

    response = await client.delete(f"{ORDERS}/{order['id']}", headers=admin_caller.headers)

    assert response.status_code == 204, response.text
    gone = await client.get(f"{ORDERS}/{order['id']}", headers=admin_caller.headers)
    assert gone.status_code == 404
    (event,) = await audit_rows(session, "order.deleted", resource_id=order["id"])
    assert event.changes["number"] == [order["number"], None]
    assert await stock_of(session, product.id) == 10


@pytest.mark.parametrize("status", ["placed", "paid", "shipped"])
async def test_orders_holding_stock_cannot_be_deleted(
    client: httpx.AsyncClient,
    session: AsyncSession,
    admin_caller: Caller,
    customer: Customer,
    status: str,
) -> None:
    product = await make_product(session, stock=10)
    order = await create_order(client, admin_caller.headers, customer.id, [(product.id, 2)])
    await drive_to(client, admin_caller.headers, order["id"], status)

    response = await client.delete(f"{ORDERS}/{order['id']}", headers=admin_caller.headers)

    assert_problem(response, 409)
    assert await order_status(session, order["id"]) == status
    assert await audit_rows(session, "order.deleted", resource_id=order["id"]) == []


async def test_a_product_on_an_order_cannot_be_deleted(
    client: httpx.AsyncClient, session: AsyncSession, admin_caller: Caller, customer: Customer
) -> None:
    product = await make_product(session)
    await create_order(client, admin_caller.headers, customer.id, [(product.id, 1)])

    response = await client.delete(f"/api/v1/products/{product.id}", headers=admin_caller.headers)

    body = assert_problem(response, 409)
    assert body["referencing_orders"] == 1
