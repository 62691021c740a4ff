"""Order reads on the driver path (app/orders/reads.py through app/infra/db_reads.py) on
real PostgreSQL: the same bytes as through sessions, one statement after the token's.

Committed data in a database of its own, served by two apps: one reading on the asyncpg
connection (as in production), one through sessions (as every other test).
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal

import httpx
import pytest

from app.auth.api_tokens import create_token
from app.auth.principal import Principal
from app.auth.token_commands import CreateToken
from app.infra.db import Database, create_engine, transaction
from app.infra.migrations import upgrade_engine
from app.main import create_app
from app.models import OrderStatus
from tests.conftest import create_postgres_database, drop_postgres_database, postgres_server_url
from tests.conftest import test_settings as settings_for
from tests.factories import make_customer, make_order, make_product, make_user

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
    server = postgres_server_url()
    if server is None:
        pytest.skip("TEST_DATABASE_URL is not set")
    name = f"bo_orders_{uuid.uuid4().hex[:10]}"
    url = await create_postgres_database(server, name)
    engine = create_engine(settings_for(url))
    try:
        await upgrade_engine(engine)
        driver = Database.from_engine(engine)
        sessions = dataclasses.replace(driver, driver_reads=False)
        assert driver.driver_reads
        headers, ids = await _seed(sessions)
        driver_client, session_client = (
            httpx.AsyncClient(
                transport=httpx.ASGITransport(
                    app=create_app(settings_for(url), database), raise_app_exceptions=False
                ),
                base_url="http://testserver",
            )
            for database in (driver, sessions)
        )
        yield World(driver, (driver_client, session_client), headers, ids)
        await driver_client.aclose()
        await session_client.aclose()
    finally:
        await engine.dispose()
        await drop_postgres_database(server, name)


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


async def test_an_order_read_on_the_driver_sends_one_statement_after_the_token(
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
            token, read = sent
            assert "api_tokens" in token
            assert "FROM orders" in read and "order_items" in read
    finally:
        world.driver.statement_observers.clear()
