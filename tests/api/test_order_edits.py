"""Editing orders over the API (SPEC §6, §7): items, If-Match and deletion — on SQLite and
PostgreSQL. Creating and reading are in test_orders_api.py, the lifecycle in
test_order_lifecycle.py."""

from __future__ import annotations

from decimal import Decimal

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
    create_order,
    drive_to,
    observed_state,
    order_status,
    stock_of,
    with_if_match,
)
from tests.factories import make_product

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
