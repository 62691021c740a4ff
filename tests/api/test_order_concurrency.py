"""Orders under real concurrency (SPEC §6, §7): stock never oversold, one winner per If-Match,
unique order numbers; and no request answered 500 for having met another.

These need requests that overlap in separate transactions, so they run against a throwaway
database whose changes are committed, not against the rolled-back test transaction: a
PostgreSQL database (row locks) and a SQLite file (one writer at a time, queued at BEGIN).
"""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx
import pytest
from sqlalchemy import func, select

from app.auth.api_tokens import create_token
from app.auth.principal import Principal
from app.auth.token_commands import CreateToken
from app.models import AuditEvent, Order, Product, WebhookEvent
from tests.api.live import LiveApp
from tests.api.order_helpers import ORDERS, with_if_match
from tests.factories import make_customer, make_order, make_product, make_user

CONCURRENT_ORDERS = 50
STOCK = 10
# Races are won by timing: a few rounds make a lucky pass unlikely.
ROUNDS = 5


@pytest.fixture
def client(live_client: httpx.AsyncClient) -> httpx.AsyncClient:
    return live_client


@pytest.fixture
async def headers(live: LiveApp, client: httpx.AsyncClient) -> dict[str, str]:
    """An admin's personal token, committed and used once.

    The first use stamps `last_used_at`, which row-locks the token until that request
    commits: requests racing on a fresh token would queue there, not at the stock.
    """
    async with live.database.sessionmaker() as session:
        user = await make_user(session, role="admin")
        _, plaintext = await create_token(
            session, Principal.system(), user, CreateToken(name="concurrency")
        )
        await session.commit()
    headers = {"Authorization": f"Bearer {plaintext}"}
    assert (await client.get("/api/v1/me", headers=headers)).status_code == 200
    return headers


async def stock_of(live: LiveApp, product_id: int) -> int:
    async with live.database.sessionmaker() as session:
        statement = select(Product.stock).where(Product.id == product_id)
        return int((await session.execute(statement)).scalar_one())


async def statuses_of(live: LiveApp, order_ids: list[int]) -> Counter[str]:
    async with live.database.sessionmaker() as session:
        statement = select(Order.status).where(Order.id.in_(order_ids))
        return Counter((await session.execute(statement)).scalars())


async def placed_events_for(live: LiveApp, order_ids: list[int]) -> int:
    async with live.database.sessionmaker() as session:
        events = (
            await session.execute(select(WebhookEvent).where(WebhookEvent.type == "order.placed"))
        ).scalars()
        return sum(1 for event in events if event.data["order"]["id"] in order_ids)


async def placed_audit_rows_for(live: LiveApp, order_ids: list[int]) -> int:
    async with live.database.sessionmaker() as session:
        statement = (
            select(func.count())
            .select_from(AuditEvent)
            .where(
                AuditEvent.action == "order.placed",
                AuditEvent.resource_id.in_([str(i) for i in order_ids]),
            )
        )
        return int((await session.execute(statement)).scalar_one())


async def place_all(
    client: httpx.AsyncClient, headers: dict[str, str], order_ids: list[int]
) -> list[httpx.Response]:
    """POST /place for every order at once."""
    return list(
        await asyncio.gather(
            *(client.post(f"{ORDERS}/{order_id}/place", headers=headers) for order_id in order_ids)
        )
    )


async def test_fifty_concurrent_placements_sell_exactly_the_stock(
    live: LiveApp, client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    """50 drafts each want 1 of a product with 10 in stock: 10 win, 40 get 409, stock ends at 0."""
    async with live.database.sessionmaker() as session:
        product = await make_product(session, stock=STOCK)
        customer = await make_customer(session)
        orders = [
            await make_order(session, customer=customer, items=[(product, 1)])
            for _ in range(CONCURRENT_ORDERS)
        ]
        await session.commit()
    order_ids = [order.id for order in orders]

    responses = await place_all(client, headers, order_ids)

    codes = Counter(response.status_code for response in responses)
    assert codes == {200: STOCK, 409: CONCURRENT_ORDERS - STOCK}, [r.text for r in responses]
    for response in responses:
        if response.status_code == 409:
            short = response.json()["products_short"]
            assert [entry["sku"] for entry in short] == [product.sku]
    assert await stock_of(live, product.id) == 0
    assert await statuses_of(live, order_ids) == {
        "placed": STOCK,
        "draft": CONCURRENT_ORDERS - STOCK,
    }
    assert await placed_events_for(live, order_ids) == STOCK
    assert await placed_audit_rows_for(live, order_ids) == STOCK


async def test_concurrent_placements_sharing_two_products_neither_deadlock_nor_oversell(
    live: LiveApp, client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    """Orders list the products in either order; the locks are taken in one order regardless."""
    async with live.database.sessionmaker() as session:
        first = await make_product(session, stock=5)
        second = await make_product(session, stock=100)
        customer = await make_customer(session)
        orders = [
            await make_order(
                session,
                customer=customer,
                items=[(first, 1), (second, 2)] if n % 2 else [(second, 2), (first, 1)],
            )
            for n in range(20)
        ]
        await session.commit()

    responses = await place_all(client, headers, [order.id for order in orders])

    codes = Counter(response.status_code for response in responses)
    assert codes == {200: 5, 409: 15}, [r.text for r in responses]
    assert await stock_of(live, first.id) == 0
    assert await stock_of(live, second.id) == 100 - 2 * 5


async def test_placing_one_order_twice_at_once_reserves_its_stock_once(
    live: LiveApp, client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    """The loser waits for the winner's lock, then sees the order as placed (not a stale draft)."""
    for _ in range(ROUNDS):
        async with live.database.sessionmaker() as session:
            product = await make_product(session, stock=10)
            order = await make_order(session, items=[(product, 3)])
            await session.commit()

        responses = await place_all(client, headers, [order.id, order.id])

        assert sorted(r.status_code for r in responses) == [200, 409], [r.text for r in responses]
        loser = next(r for r in responses if r.status_code == 409)
        assert "it is placed" in loser.json()["detail"]
        assert await stock_of(live, product.id) == 7
        assert await placed_events_for(live, [order.id]) == 1
        assert await placed_audit_rows_for(live, [order.id]) == 1


async def test_two_actions_with_one_if_match_never_both_go_through(
    live: LiveApp, client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    """place and cancel, both sent with the ETag of the draft: the second one is stale."""
    for _ in range(ROUNDS):
        async with live.database.sessionmaker() as session:
            product = await make_product(session, stock=10)
            order = await make_order(session, items=[(product, 3)])
            await session.commit()
        url = f"{ORDERS}/{order.id}"
        guarded = with_if_match(headers, (await client.get(url, headers=headers)).headers["etag"])

        responses = await asyncio.gather(
            client.post(f"{url}/place", headers=guarded),
            client.post(f"{url}/cancel", headers=guarded),
        )

        codes = sorted(response.status_code for response in responses)
        assert codes in ([200, 409], [200, 412]), [r.text for r in responses]
        final = (await client.get(url, headers=headers)).json()["status"]
        assert final in {"placed", "cancelled"}
        assert await stock_of(live, product.id) == (7 if final == "placed" else 10)


async def test_two_concurrent_patches_with_one_if_match_never_both_win(
    live: LiveApp, client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    for _ in range(ROUNDS):
        async with live.database.sessionmaker() as session:
            product = await make_product(session, name="Before")
            await session.commit()
        url = f"/api/v1/products/{product.id}"
        etag = (await client.get(url, headers=headers)).headers["etag"]

        responses = await asyncio.gather(
            client.patch(url, json={"name": "Alice"}, headers=with_if_match(headers, etag)),
            client.patch(url, json={"name": "Bob"}, headers=with_if_match(headers, etag)),
        )

        codes = sorted(response.status_code for response in responses)
        assert codes in ([200, 409], [200, 412]), [r.text for r in responses]
        winner = next(r for r in responses if r.status_code == 200)
        final = (await client.get(url, headers=headers)).json()
        assert final["name"] == winner.json()["name"]
        assert final["version"] == product.version + 1


async def test_concurrent_order_creation_gives_unique_numbers(
    live: LiveApp, client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    async with live.database.sessionmaker() as session:
        customer = await make_customer(session)
        await session.commit()

    responses = await asyncio.gather(
        *(
            client.post(ORDERS, json={"customer_id": customer.id}, headers=headers)
            for _ in range(30)
        )
    )

    assert all(r.status_code == 201 for r in responses), [r.text for r in responses]
    bodies = [r.json() for r in responses]
    numbers = [body["number"] for body in bodies]
    assert len(set(numbers)) == len(numbers)
    assert all(body["number"] == f"SO-{body['id']:06d}" for body in bodies)
