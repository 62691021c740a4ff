"""SQL statements per request (SPEC §11): a list costs the same whatever its `limit` (no N+1,
orders with their customer and items included), and authentication adds at most one."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.api.deps import get_principal
from app.auth.principal import Principal
from app.edge.callers import identity_of, principal_for
from app.models import AuditEvent
from tests.api.order_helpers import Caller, StatementLog, caller, statements_on
from tests.auth_helpers import access_token, bearer
from tests.factories import make_customer, make_order, make_product

ROWS = 60
ITEMS_PER_ORDER = 3
# Generous ceiling: auth, page, one batch of children, plus the savepoint pair of the test
# harness. A per-row query would blow through it even at limit=1 vs limit=50 equality.
MAX_STATEMENTS = 6
LISTS = ["/api/v1/customers", "/api/v1/products", "/api/v1/orders", "/api/v1/audit-events"]


@pytest.fixture
async def seeded(session: AsyncSession) -> None:
    """ROWS customers, products, orders (each with several items, distinct customers) and
    audit events."""
    products = [await make_product(session) for _ in range(ROWS)]
    for n in range(ROWS):
        customer = await make_customer(session)
        lines = [(products[(n + k) % ROWS], k + 1) for k in range(ITEMS_PER_ORDER)]
        await make_order(session, customer=customer, items=lines)
    session.add_all(
        AuditEvent(channel="system", action="probe.seeded", resource_type="probe", changes={})
        for _ in range(ROWS)
    )
    await session.flush()


async def measured_get(
    client: httpx.AsyncClient, engine: AsyncEngine, url: str, headers: dict[str, str], **params: Any
) -> tuple[StatementLog, httpx.Response]:
    with statements_on(engine) as log:
        response = await client.get(url, params=params, headers=headers)
    assert response.status_code == 200, response.text
    return log, response


@pytest.mark.parametrize("url", LISTS)
async def test_a_list_runs_the_same_statements_for_1_or_50_rows(
    client: httpx.AsyncClient, engine: AsyncEngine, session: AsyncSession, seeded: None, url: str
) -> None:
    admin = await caller(session, "admin")
    # The token's first use writes last_used_at; measure requests after it.
    await measured_get(client, engine, url, admin.headers, limit=1)

    one, one_page = await measured_get(client, engine, url, admin.headers, limit=1)
    fifty, fifty_page = await measured_get(client, engine, url, admin.headers, limit=50)

    assert len(one_page.json()["items"]) == 1
    assert len(fifty_page.json()["items"]) == 50
    assert fifty.count == one.count, "\n".join(fifty.statements)
    assert fifty.count <= MAX_STATEMENTS, "\n".join(fifty.statements)


async def test_an_order_page_embeds_customers_and_items_without_extra_queries(
    client: httpx.AsyncClient, engine: AsyncEngine, session: AsyncSession, seeded: None
) -> None:
    admin = await caller(session, "admin")
    await measured_get(client, engine, "/api/v1/orders", admin.headers, limit=1)

    log, response = await measured_get(client, engine, "/api/v1/orders", admin.headers, limit=50)

    orders = response.json()["items"]
    assert all(len(order["items"]) == ITEMS_PER_ORDER for order in orders)
    assert all(order["customer"]["id"] == order["customer_id"] for order in orders)
    assert all(item["sku"] for order in orders for item in order["items"])
    assert len({order["customer_id"] for order in orders}) == 50
    # One statement: the page, its customers joined, its items with their products
    # aggregated per order (app/orders/reads.py), no second statement with an IN list.
    [page] = log.touching("FROM orders")
    assert log.touching("FROM order_items") == [page], "\n".join(log.statements)
    assert " IN (" not in page
    assert log.touching("FROM customers") == []
    assert log.touching("FROM products") == []


async def test_a_later_page_costs_the_same_as_the_first(
    client: httpx.AsyncClient, engine: AsyncEngine, session: AsyncSession, seeded: None
) -> None:
    admin = await caller(session, "admin")
    await measured_get(client, engine, "/api/v1/orders", admin.headers, limit=20)

    first, page = await measured_get(client, engine, "/api/v1/orders", admin.headers, limit=20)
    second, _ = await measured_get(
        client, engine, "/api/v1/orders", admin.headers, limit=20, cursor=page.json()["next_cursor"]
    )

    assert second.count == first.count


def principal_of(who: Caller, auth_method: str) -> Principal:
    token_id = who.token_id if auth_method == "personal_token" else None
    return principal_for(
        identity_of(who.user, token_id=token_id),
        channel="api",
        auth_method=auth_method,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("url", ["/api/v1/customers", "/api/v1/orders", "/api/v1/me"])
async def test_personal_token_authentication_adds_at_most_one_statement(
    app: FastAPI,
    client: httpx.AsyncClient,
    engine: AsyncEngine,
    session: AsyncSession,
    seeded: None,
    url: str,
) -> None:
    admin = await caller(session, "admin")
    first_use, _ = await measured_get(client, engine, url, admin.headers, limit=5)
    authenticated, _ = await measured_get(client, engine, url, admin.headers, limit=5)
    app.dependency_overrides[get_principal] = lambda: principal_of(admin, "personal_token")
    try:
        handler_only, _ = await measured_get(client, engine, url, {}, limit=5)
    finally:
        app.dependency_overrides.clear()

    # The first use stamps last_used_at (at most once a minute); the second does not.
    assert len(first_use.touching("UPDATE api_tokens")) == 1
    assert authenticated.touching("UPDATE api_tokens") == []
    assert authenticated.count - handler_only.count <= 1, "\n".join(authenticated.statements)
    assert len(authenticated.touching("FROM api_tokens")) >= 1


async def test_access_token_authentication_adds_at_most_one_statement(
    app: FastAPI,
    client: httpx.AsyncClient,
    engine: AsyncEngine,
    session: AsyncSession,
    seeded: None,
) -> None:
    manager = await caller(session, "manager")
    headers = bearer(await access_token(client, manager.user.email))
    await measured_get(client, engine, "/api/v1/orders", headers, limit=5)
    authenticated, _ = await measured_get(client, engine, "/api/v1/orders", headers, limit=5)
    app.dependency_overrides[get_principal] = lambda: principal_of(manager, "access_token")
    try:
        handler_only, _ = await measured_get(client, engine, "/api/v1/orders", {}, limit=5)
    finally:
        app.dependency_overrides.clear()

    assert authenticated.count - handler_only.count <= 1, "\n".join(authenticated.statements)
