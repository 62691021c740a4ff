"""Order reads on the driver path (app/orders/reads.py through app/infra/db_reads.py) on
real PostgreSQL: the same bytes as through sessions, one statement after the token's.

Committed data in a database of its own, served by two apps: one reading on the asyncpg
connection (as in production), one through sessions (as every other test).
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from decimal import Decimal

import httpx
import pytest

from app.auth.api_tokens import create_token
from app.auth.principal import Principal
from app.auth.token_commands import CreateToken
from app.infra.db import Database, transaction
from app.models import OrderStatus
from tests.factories import make_customer, make_order, make_product, make_user
from tests.ops.two_paths import two_paths

pytestmark = pytest.mark.postgres


@dataclasses.dataclass
class World:
    driver: Database
    clients: tuple[httpx.AsyncClient, httpx.AsyncClient]  # driver, sessions
    headers: dict[str, str]
    order_ids: list[int]


async def _seed(database: Database) -> tuple[dict[str, str], list[int]]:
    async with transaction(database.sessionmaker) as session:
        products = [
            await make_product(session, name=f'Desk {n} «ü» "q"', price=Decimal(n) / 4)
            for n in range(9)
        ]
        ids = []
        for n in range(30):
            customer = await make_customer(session, company=None if n % 3 else f"Firma {n}")
            lines = [(products[(n * 5 + k) % 9], k + 1) for k in range(n % 5)]
            status = list(OrderStatus)[n % 2]
            ids.append(
                (await make_order(session, customer=customer, items=lines, status=status)).id
            )
        admin = await make_user(session, role="admin")
        _, token = await create_token(session, Principal.system(), admin, CreateToken(name="t"))
    return {"Authorization": f"Bearer {token}"}, ids


@pytest.fixture(scope="module")
async def world() -> AsyncIterator[World]:
    async with two_paths("bo_orders") as paths:
        headers, ids = await _seed(paths.sessions)
        yield World(paths.driver, (paths.driver_client, paths.session_client), headers, ids)


URLS = [
    "/api/v1/orders",
    "/api/v1/orders?limit=7",
    "/api/v1/orders?sort=number&limit=4&include_total=true",
    "/api/v1/orders?sort=-total&status=placed",
    "/api/v1/orders?q=SO-T&limit=3",
    "/api/v1/orders/2147483647",
    "/api/v1/orders/0",
    "/api/v1/orders/abc",
]


async def test_order_reads_are_the_same_bytes_on_the_driver_as_through_sessions(
    world: World,
) -> None:
    urls = [*URLS, *(f"/api/v1/orders/{order_id}" for order_id in world.order_ids)]
    driver, sessions = world.clients
    for url in urls:
        fast = await driver.get(url, headers=world.headers)
        slow = await sessions.get(url, headers=world.headers)
        assert fast.status_code == slow.status_code, (url, fast.text)
        if fast.status_code == 200:
            assert fast.content == slow.content, url
            assert fast.headers.get("etag") == slow.headers.get("etag"), url
        else:
            assert (
                fast.json()["errors" if fast.status_code == 422 else "detail"]
                == (slow.json()["errors" if slow.status_code == 422 else "detail"])
            )
    # Walking the cursor: every page the same on both paths.
    cursor: str | None = ""
    while cursor is not None:
        params = {"limit": "4", "sort": "number", **({"cursor": cursor} if cursor else {})}
        fast = await driver.get("/api/v1/orders", params=params, headers=world.headers)
        slow = await sessions.get("/api/v1/orders", params=params, headers=world.headers)
        assert fast.content == slow.content
        cursor = fast.json()["next_cursor"]


async def test_an_order_read_on_the_driver_is_one_statement_with_the_token(
    world: World,
) -> None:
    sent: list[str] = []
    world.driver.statement_observers.append(lambda sql, _args: sent.append(sql))
    driver, _ = world.clients
    try:
        await driver.get("/api/v1/orders", headers=world.headers)  # last_used_at stamped
        for url in (f"/api/v1/orders/{world.order_ids[4]}", "/api/v1/orders?limit=50"):
            sent.clear()
            response = await driver.get(url, headers=world.headers)
            assert response.status_code == 200
            [read] = sent  # the token lookup rides on the read (app/infra/riding.py)
            assert "api_tokens" in read
            assert "FROM orders" in read and "order_items" in read
    finally:
        world.driver.statement_observers.clear()
