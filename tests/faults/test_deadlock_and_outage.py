"""A real deadlock is re-run, not a 500; a database that is gone is 503, then recovers."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal

import httpx
import pytest
from sqlalchemy import select, text

from app.infra.db_errors import FailureKind, failure_kind
from app.infra.retry_policy import RETRY_AFTER_SECONDS
from app.models import Order, OrderStatus
from tests.api.domain_helpers import assert_problem, token_caller
from tests.factories import make_customer, make_order, make_product
from tests.faults.conftest import ProxiedApp

pytestmark = pytest.mark.postgres


async def _lock_waiters(proxied: ProxiedApp) -> int:
    async with proxied.direct.connect() as connection:
        return int(
            await connection.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            )
            or 0
        )


async def test_a_placement_chosen_as_deadlock_victim_is_run_again_and_succeeds(
    proxied: ProxiedApp, proxied_client: httpx.AsyncClient
) -> None:
    async with proxied.database.sessionmaker() as session:
        _, headers = await token_caller(session)
        first = await make_product(session, stock=5, price=Decimal("1.00"))
        second = await make_product(session, stock=5, price=Decimal("1.00"))
        order = await make_order(
            session, customer=await make_customer(session), items=[(first, 1), (second, 1)]
        )
        await session.commit()
    async with proxied.direct.connect() as other:
        # Another transaction holds the second product; the placement takes the first
        # (id order) and waits for the second.
        await other.execute(
            text("SELECT id FROM products WHERE id = :id FOR UPDATE"), {"id": second.id}
        )
        placing = asyncio.create_task(
            proxied_client.post(f"/api/v1/orders/{order.id}/place", headers=headers)
        )
        for _ in range(100):
            if await _lock_waiters(proxied) == 1:
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.3)
        # Now the other transaction wants the first product: a cycle. The placement has
        # waited longer, so its deadlock check runs first and it is the one aborted.
        await other.execute(
            text("SELECT id FROM products WHERE id = :id FOR UPDATE"), {"id": first.id}
        )
        await other.rollback()
        answer = await placing

    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "placed"
    async with proxied.direct.connect() as connection:
        status = await connection.scalar(select(Order.status).where(Order.id == order.id))
        stocks = (
            await connection.execute(
                text("SELECT stock FROM products WHERE id IN (:a, :b) ORDER BY id"),
                {"a": first.id, "b": second.id},
            )
        ).scalars()
        assert status == OrderStatus.PLACED
        assert list(stocks) == [4, 4]


async def test_with_the_database_gone_every_path_is_503_then_it_recovers(
    proxied: ProxiedApp, proxied_client: httpx.AsyncClient
) -> None:
    async with proxied.database.sessionmaker() as session:
        _, headers = await token_caller(session)
        customer = await make_customer(session)
        order = await make_order(session, customer=customer)
        await session.commit()
    await proxied.proxy.stop()
    requests = [
        ("GET", "/api/v1/products", None, {}),  # a lean route on the driver connection
        ("GET", f"/api/v1/orders/{order.id}", None, {}),
        ("POST", "/api/v1/customers", {"name": "A", "email": "a@example.com"}, {}),
        (
            "POST",
            "/api/v1/customers",
            {"name": "B", "email": "b@example.com"},
            {"Idempotency-Key": "while-down"},
        ),
        ("PATCH", f"/api/v1/customers/{customer.id}", {"name": "C"}, {}),
    ]
    try:
        for method, path, body, extra in requests:
            started = time.monotonic()
            answer = await proxied_client.request(
                method, path, json=body, headers={**headers, **extra}
            )
            assert_problem(answer, 503)
            assert answer.headers["retry-after"] == str(RETRY_AFTER_SECONDS), path
            assert time.monotonic() - started < 5, path
        ready = await proxied_client.get("/readyz")
        assert ready.status_code == 503
    finally:
        await proxied.proxy.start()

    recovered = await proxied_client.post(
        "/api/v1/customers",
        json={"name": "B", "email": "b@example.com"},
        headers={**headers, "Idempotency-Key": "while-down"},
    )
    assert recovered.status_code == 201, recovered.text
    assert (await proxied_client.get("/api/v1/products", headers=headers)).status_code == 200
    async with proxied.direct.connect() as connection:
        named = await connection.scalar(
            text("SELECT count(*) FROM customers WHERE email IN ('a@example.com', 'b@example.com')")
        )
    assert named == 1  # only the keyed create, after recovery


async def test_a_deadlock_and_a_lock_timeout_are_conflicts(proxied: ProxiedApp) -> None:
    async with proxied.direct.connect() as holder, proxied.direct.connect() as waiter:
        await holder.execute(text("CREATE TABLE IF NOT EXISTS lock_probe (id int)"))
        await holder.commit()
        await holder.execute(text("LOCK TABLE lock_probe IN ACCESS EXCLUSIVE MODE"))
        await waiter.execute(text("SET lock_timeout = '100ms'"))
        with pytest.raises(Exception) as raised:
            await waiter.execute(text("SELECT count(*) FROM lock_probe"))
        await holder.rollback()
    assert failure_kind(raised.value) is FailureKind.CONFLICT
