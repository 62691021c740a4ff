"""One locked load per order write (issue 15): the statements of POST /orders/{id}/{action}
and of the other writes to an order, counted, on SQLite and PostgreSQL.

Before, placing an order read it three times (the route's locked read for If-Match, the
service's, and a reload for the answer: six SELECTs, and one more per product to refresh
its stock): 18 statements for two products, 15 of them the handler's. Now: one statement
loads and locks the order with its customer, items and products; one locks the products
in id order; then only writes, and the answer is built from the object just written.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.models import Order
from app.orders import repository
from tests.api.order_helpers import (
    ORDERS,
    Caller,
    StatementLog,
    assert_problem,
    caller,
    create_order,
    drive_to,
    observed_state,
    statements_on,
    with_if_match,
)
from tests.factories import make_customer, make_product

PRODUCTS = 2
LOAD = 1  # the order, its customer, its items and their products, locked
STOCK = 1 + PRODUCTS  # the products locked in id order, then one guarded UPDATE each
# UPDATE orders, then the audit row, the event and its deliveries (app/webhooks/outbox.py):
# one statement on PostgreSQL, three on SQLite (no INSERT inside a WITH there).
OUTCOME = {"postgresql": 1 + 1, "sqlite": 1 + 3}
LOAD_AND_STOCK = {
    "place": LOAD + STOCK,  # PostgreSQL 6, SQLite 8 (was 15)
    "pay": LOAD,  # PostgreSQL 3, SQLite 5 (was 10)
    "ship": LOAD,  # PostgreSQL 3, SQLite 5 (was 10)
    "cancel": LOAD + STOCK,  # as place: a placed order's stock goes back
}
START = {"place": "draft", "pay": "placed", "ship": "paid", "cancel": "placed"}


def handler_statements(log: StatementLog) -> list[str]:
    """What the request ran for the order: not the test harness's savepoint pair around
    it, nor the personal token's lookup (tests/api/test_query_counts.py pins that)."""
    return [
        s
        for s in log.statements
        if not s.startswith(("SAVEPOINT", "RELEASE SAVEPOINT")) and "api_tokens" not in s
    ]


def loads_of_the_order(log: StatementLog) -> list[str]:
    return [s for s in log.statements if s.startswith("SELECT") and "FROM orders" in s]


async def an_order(client: httpx.AsyncClient, session: AsyncSession, who: Caller) -> dict[str, Any]:
    """A draft with one line for each of PRODUCTS products, read through the API once (the
    token's first use stamps it: that write is not the order's)."""
    customer = await make_customer(session)
    products = [await make_product(session, stock=50) for _ in range(PRODUCTS)]
    await client.get(ORDERS, headers=who.headers)
    return await create_order(client, who.headers, customer.id, [(p.id, 2) for p in products])


@pytest.mark.parametrize("action", list(LOAD_AND_STOCK))
async def test_a_state_change_loads_the_order_once_and_answers_from_that_load(
    client: httpx.AsyncClient, engine: AsyncEngine, session: AsyncSession, action: str
) -> None:
    admin = await caller(session, "admin")
    order = await an_order(client, session, admin)
    await drive_to(client, admin.headers, order["id"], START[action])

    with statements_on(engine) as log:
        response = await client.post(f"{ORDERS}/{order['id']}/{action}", headers=admin.headers)

    assert response.status_code == 200, response.text
    shown = "\n".join(log.statements)
    [load] = loads_of_the_order(log)
    # Customer, items and products come with the order, not in statements of their own.
    assert all(
        f"{table} AS {table}_1" in load for table in ("customers", "order_items", "products")
    )
    assert [s for s in log.statements if "FROM order_items" in s or "FROM customers" in s] == []
    if engine.dialect.name == "postgresql":
        assert load.endswith("FOR NO KEY UPDATE OF orders"), load
    expected = LOAD_AND_STOCK[action] + OUTCOME[engine.dialect.name]
    assert len(handler_statements(log)) == expected, shown
    # The answer is the order as stored: what a fresh read shows, ETag included.
    read = await client.get(f"{ORDERS}/{order['id']}", headers=admin.headers)
    assert response.json() == read.json()
    assert response.headers["etag"] == read.headers["etag"]


@pytest.mark.parametrize("write", ["patch", "add item", "update item", "remove item", "delete"])
async def test_every_other_write_to_an_order_loads_it_once(
    client: httpx.AsyncClient, engine: AsyncEngine, session: AsyncSession, write: str
) -> None:
    admin = await caller(session, "admin")
    order = await an_order(client, session, admin)
    url = f"{ORDERS}/{order['id']}"
    item_url = f"{url}/items/{order['items'][0]['id']}"
    extra = await make_product(session)
    requests = {
        "patch": ("PATCH", url, {"notes": "ring twice"}),
        "add item": ("POST", f"{url}/items", {"product_id": extra.id, "quantity": 1}),
        "update item": ("PATCH", item_url, {"quantity": 5}),
        "remove item": ("DELETE", item_url, None),
        "delete": ("DELETE", url, None),
    }
    method, path, body = requests[write]

    with statements_on(engine) as log:
        response = await client.request(method, path, json=body, headers=admin.headers)

    assert response.status_code in (200, 201, 204), response.text
    assert len(loads_of_the_order(log)) == 1, "\n".join(log.statements)
    if write != "delete":
        read = await client.get(url, headers=admin.headers)
        assert response.json() == read.json()
        assert response.headers["etag"] == read.headers["etag"]


async def test_a_version_that_moves_between_the_load_and_the_write_is_a_412(
    client: httpx.AsyncClient,
    session: AsyncSession,
    admin_caller: Caller,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The lock makes this impossible on PostgreSQL; a load that could not lock (here: the
    order's version bumped behind the loaded copy's back) still never overwrites blindly."""
    order = await an_order(client, session, admin_caller)
    before = await observed_state(client, session, admin_caller.headers, order["id"])
    real_load = repository.load_order

    async def load_then_someone_writes(*args: Any, **kwargs: Any) -> Any:
        loaded = await real_load(*args, **kwargs)
        if loaded is not None:
            await args[0].execute(
                update(Order)
                .where(Order.id == loaded.id)
                .values(version=Order.version + 1)
                .execution_options(synchronize_session=False)
            )
        return loaded

    monkeypatch.setattr(repository, "load_order", load_then_someone_writes)
    headers = with_if_match(admin_caller.headers, f'"{order["version"]}"')
    response = await client.patch(f"{ORDERS}/{order['id']}", json={"notes": "x"}, headers=headers)
    monkeypatch.undo()

    assert_problem(response, 412)
    assert await observed_state(client, session, admin_caller.headers, order["id"]) == before
