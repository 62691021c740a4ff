"""The lock order of app/orders/repository.py on PostgreSQL: products in id order, in the
weakest mode that serves, so a draft being created never blocks a placement or a cancel,
and nothing waits for one product while holding one that comes after it.

Each deterministic test makes one transaction wait on a lock and checks, with a short
`lock_timeout`, what the other can still take: a wait fails the test instead of hanging.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.api_tokens import create_token
from app.auth.principal import Principal
from app.auth.token_commands import CreateToken
from app.errors import Conflict
from app.models import Customer, Order, OrderItem, OrderStatus, Product
from app.orders import service as orders
from app.orders.commands import Action, CreateOrder, NewItem
from app.products import importer
from app.products import service as products
from tests.api.live import LiveApp
from tests.api.order_helpers import ORDERS
from tests.factories import make_customer, make_order, make_product, make_user

pytestmark = [
    pytest.mark.postgres,
    # Row locks are PostgreSQL's: the shared live fixture, on its PostgreSQL database only.
    pytest.mark.parametrize("live", ["postgresql"], indirect=True),
]

T = TypeVar("T")
SYSTEM = Principal.system()
# Long enough for a lock that is free, short enough to fail fast on one that is not.
LOCK_TIMEOUT = "1s"
WAIT_SECONDS = 10.0
SOAK_SECONDS = 3.0
SOAK_TASKS = 8  # of each kind
SOAK_STOCK = 1000


async def two_products(live: LiveApp, stock: int = 10) -> tuple[Product, Product, Customer]:
    """Products A and B with A.id < B.id, and a customer, committed."""
    async with live.database.sessionmaker() as session:
        a = await make_product(session, stock=stock)
        b = await make_product(session, stock=stock)
        customer = await make_customer(session)
        await session.commit()
    assert a.id < b.id
    return a, b, customer


async def stock_of(live: LiveApp, product: Product) -> int:
    async with live.database.sessionmaker() as session:
        return int(await session.scalar(select(Product.stock).where(Product.id == product.id)))


async def with_lock_timeout(session: AsyncSession) -> None:
    """From here to the end of the transaction a lock wait fails instead of waiting."""
    await session.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))


def new_order(customer: Customer, items: list[tuple[int, int]]) -> CreateOrder:
    lines = tuple(NewItem(product_id=pid, quantity=qty) for pid, qty in items)
    return CreateOrder(customer_id=customer.id, items=lines)


async def draft_on_hold(live: LiveApp, customer: Customer, product: Product) -> AsyncSession:
    """A session inside POST /orders's transaction for `product`, not committed: its item's
    foreign key holds KEY SHARE on the product."""
    session = live.database.sessionmaker()
    await orders.create_order(session, SYSTEM, new_order(customer, [(product.id, 1)]))
    return session


async def act_beside_a_draft_being_created(
    live: LiveApp, customer: Customer, product: Product, order_id: int, action: Action
) -> Order:
    """`action` on the order (committed, under `lock_timeout`) while another transaction is
    inside POST /orders for `product`; that draft commits afterwards."""
    creating = await draft_on_hold(live, customer, product)
    try:
        async with live.database.sessionmaker() as acting:
            await with_lock_timeout(acting)
            order = await orders.transition(acting, SYSTEM, order_id, action, expected_version=None)
            await acting.commit()
            return order
    finally:
        await creating.commit()
        await creating.close()


async def wait_until_blocked_by(live: LiveApp, holder: AsyncSession) -> None:
    """Until another backend waits for a lock `holder`'s transaction holds."""
    pid = await holder.scalar(text("SELECT pg_backend_pid()"))
    blocked = text("SELECT count(*) FROM pg_stat_activity WHERE :pid = ANY(pg_blocking_pids(pid))")
    async with live.database.engine.connect() as connection:
        for _ in range(int(WAIT_SECONDS / 0.02)):
            waiting = await connection.scalar(blocked, {"pid": pid})
            await connection.commit()  # pg_stat_activity is read once per transaction
            if waiting:
                return
            await asyncio.sleep(0.02)
    pytest.fail("the work under test never waited for the held lock")


async def lock_row(session: AsyncSession, product: Product, mode: str) -> None:
    await session.execute(
        text(f"SELECT id FROM products WHERE id = :id FOR {mode}"), {"id": product.id}
    )


async def holds_nothing_past_what_it_waits_for(
    live: LiveApp,
    first: Product,
    then: Product,
    mode: str,
    work: Callable[[AsyncSession], Awaitable[T]],
) -> T:
    """Run `work` (committed) while another transaction holds `first` in `mode`; once `work`
    waits there, that transaction takes `then` (after `first` in id order) at once, or the
    test fails: waiting for `first`, `work` holds no product that comes after it."""

    async def run() -> T:
        async with live.database.sessionmaker() as session:
            result = await work(session)
            await session.commit()
            return result

    async with live.database.sessionmaker() as holder:
        await lock_row(holder, first, mode)
        task = asyncio.create_task(run())
        try:
            await wait_until_blocked_by(live, holder)
            await with_lock_timeout(holder)
            await lock_row(holder, then, mode)
            await holder.commit()
        finally:
            await holder.rollback()
            done = await asyncio.wait_for(asyncio.shield(task), WAIT_SECONDS)
    return done


async def test_placing_does_not_wait_for_a_draft_being_created_on_its_products(
    live: LiveApp,
) -> None:
    """The issue's deadlock, one step at a time: a POST /orders for B holds KEY SHARE on B;
    placing [A, B] must not wait for it (FOR UPDATE would, while holding A)."""
    a, b, customer = await two_products(live)
    async with live.database.sessionmaker() as session:
        order = await make_order(session, customer=customer, items=[(a, 1), (b, 2)])
        await session.commit()

    placed = await act_beside_a_draft_being_created(live, customer, b, order.id, "place")

    assert placed.status == OrderStatus.PLACED.value
    assert (await stock_of(live, a), await stock_of(live, b)) == (9, 8)


async def test_cancelling_returns_stock_without_waiting_for_a_draft_being_created(
    live: LiveApp,
) -> None:
    a, b, customer = await two_products(live)
    async with live.database.sessionmaker() as session:
        order = await make_order(session, customer=customer, items=[(a, 3), (b, 4)])
        await orders.transition(session, SYSTEM, order.id, "place", expected_version=None)
        await session.commit()
    assert (await stock_of(live, a), await stock_of(live, b)) == (7, 6)

    cancelled = await act_beside_a_draft_being_created(live, customer, b, order.id, "cancel")

    assert cancelled.status == OrderStatus.CANCELLED.value
    assert (await stock_of(live, a), await stock_of(live, b)) == (10, 10)


async def test_creating_an_order_references_its_products_in_id_order(live: LiveApp) -> None:
    """Items sent as [B, A]: while the create waits for A (held FOR UPDATE, as a SKU change
    holds it), it holds nothing on B. The foreign keys alone would lock B first."""
    a, b, customer = await two_products(live)

    async def create(session: AsyncSession) -> Order:
        items = [(b.id, 1), (a.id, 2)]
        return await orders.create_order(session, SYSTEM, new_order(customer, items))

    created = await holds_nothing_past_what_it_waits_for(live, a, b, "UPDATE", create)

    assert [(i.product_id, i.quantity) for i in created.items] == [(b.id, 1), (a.id, 2)]


async def test_deleting_a_product_waits_for_a_draft_being_created_with_it(live: LiveApp) -> None:
    """The delete locks the product before counting the orders that reference it, so it
    sees the draft's item once that commits: a 409, not a foreign key violation."""
    a, _, customer = await two_products(live)
    creating = await draft_on_hold(live, customer, a)

    async def delete() -> None:
        async with live.database.sessionmaker() as session:
            await products.delete_product(session, SYSTEM, a.id, expected_version=None)
            await session.commit()

    task = asyncio.create_task(delete())
    try:
        await wait_until_blocked_by(live, creating)
    finally:
        await creating.commit()
        await creating.close()
    with pytest.raises(Conflict, match="referenced by 1 order"):
        await asyncio.wait_for(task, WAIT_SECONDS)
    assert await stock_of(live, a) == 10


async def test_importing_locks_the_products_it_updates_in_id_order(live: LiveApp) -> None:
    """A file listing B before A, while a placement holds A and is about to take B."""
    a, b, _ = await two_products(live)
    data = (
        f"sku,name,price,stock\n{b.sku},Bee,1.00,50\n{a.sku},Ay,2.00,40\nNEW-{b.id},New,3.00,5\n"
    ).encode()

    async def import_file(session: AsyncSession) -> importer.ImportReport:
        return await importer.import_products(session, SYSTEM, data)

    report = await holds_nothing_past_what_it_waits_for(live, a, b, "NO KEY UPDATE", import_file)

    assert (report.applied, report.updated, report.created) == (True, 2, 1)
    assert (await stock_of(live, a), await stock_of(live, b)) == (40, 50)


async def test_a_bulk_action_locked_up_front_takes_products_in_id_order(live: LiveApp) -> None:
    """Orders acted on in the order [lists B, lists A] in one transaction (as an admin bulk
    action does): locked first, it never holds B while waiting for A."""
    a, b, customer = await two_products(live)
    async with live.database.sessionmaker() as session:
        wants_b = await make_order(session, customer=customer, items=[(b, 1)])
        wants_a = await make_order(session, customer=customer, items=[(a, 1)])
        await session.commit()
    order_ids = [wants_b.id, wants_a.id]

    async def place_both(session: AsyncSession) -> list[str]:
        await orders.lock_for_bulk_action(session, order_ids)
        placed = [
            await orders.transition(session, SYSTEM, oid, "place", expected_version=None)
            for oid in order_ids
        ]
        return [order.status for order in placed]

    statuses = await holds_nothing_past_what_it_waits_for(live, a, b, "NO KEY UPDATE", place_both)

    assert statuses == ["placed", "placed"]
    assert (await stock_of(live, a), await stock_of(live, b)) == (9, 9)


async def callers(live: LiveApp, client: httpx.AsyncClient, count: int) -> list[dict[str, str]]:
    """Headers for `count` admins' personal tokens, committed and used once. One per task:
    the rate limit is per person; and a token's first use stamps it, which would queue the
    racing requests on the token's row instead of the products'."""
    async with live.database.sessionmaker() as session:
        plaintexts = []
        for n in range(count):
            user = await make_user(session, role="admin")
            plaintexts.append(
                (await create_token(session, SYSTEM, user, CreateToken(name=f"lock-{n}")))[1]
            )
        await session.commit()
    headers = [{"Authorization": f"Bearer {plaintext}"} for plaintext in plaintexts]
    for each in headers:
        assert (await client.get("/api/v1/me", headers=each)).status_code == 200
    return headers


async def deadlocks_so_far(live: LiveApp) -> int:
    """The server's deadlock count for this database, once every pooled backend has exited
    (a backend reports its counts when it goes)."""
    await live.database.engine.dispose()
    await asyncio.sleep(0.5)
    async with live.database.engine.connect() as connection:
        statement = text(
            "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()"
        )
        count = int(await connection.scalar(statement))
    await live.database.engine.dispose()
    return count


async def placed_quantities(live: LiveApp, product: Product) -> int:
    async with live.database.sessionmaker() as session:
        statement = (
            select(func.coalesce(func.sum(OrderItem.quantity), 0))
            .join(Order, Order.id == OrderItem.order_id)
            .where(OrderItem.product_id == product.id, Order.status == OrderStatus.PLACED.value)
        )
        return int(await session.scalar(statement))


async def test_drafts_and_placements_on_the_same_products_in_opposite_orders(
    live: LiveApp,
    live_client: httpx.AsyncClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The issue's reproduction, shortened: half the tasks create drafts with [B, A], half
    create and place [A, B], through the API. No 500 or 503, no deadlock (in the logs or in
    the server's count), and the stock is what the placed orders took."""
    a, b, customer = await two_products(live, stock=SOAK_STOCK)
    drafting = await callers(live, live_client, SOAK_TASKS)
    placing = await callers(live, live_client, SOAK_TASKS)
    caplog.set_level(logging.WARNING)
    before = await deadlocks_so_far(live)
    codes: Counter[int] = Counter()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + SOAK_SECONDS

    async def create(headers: dict[str, str], first: Product, second: Product) -> httpx.Response:
        items = [{"product_id": first.id, "quantity": 1}, {"product_id": second.id, "quantity": 1}]
        body: dict[str, Any] = {"customer_id": customer.id, "items": items}
        response = await live_client.post(ORDERS, json=body, headers=headers)
        codes[response.status_code] += 1
        return response

    async def draft_b_a(headers: dict[str, str]) -> None:
        while loop.time() < deadline:
            await create(headers, b, a)

    async def place_a_b(headers: dict[str, str]) -> None:
        while loop.time() < deadline:
            created = await create(headers, a, b)
            if created.status_code == 201:
                url = f"{ORDERS}/{created.json()['id']}/place"
                codes[(await live_client.post(url, headers=headers)).status_code] += 1

    await asyncio.gather(
        *(draft_b_a(headers) for headers in drafting), *(place_a_b(headers) for headers in placing)
    )

    assert set(codes) <= {200, 201, 409}, codes
    assert codes[200] > 0 and codes[201] > SOAK_TASKS, codes
    # A deadlock re-run or answered 503 is logged as a transient conflict, whatever the
    # wording: nothing here is worth a warning.
    warned = [f"{r.name}: {r.getMessage()}" for r in caplog.records if r.levelno >= logging.WARNING]
    assert not warned, warned
    assert await deadlocks_so_far(live) == before
    for product in (a, b):
        taken = await placed_quantities(live, product)
        assert taken == codes[200]
        assert await stock_of(live, product) == SOAK_STOCK - taken
