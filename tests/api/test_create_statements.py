"""A keyed create customer in at most 5 statements (SPEC §11), its audit row, event and
deliveries included, on SQLite and PostgreSQL.

On PostgreSQL the request runs: the bearer token's lookup, the idempotency claim, INSERT
customers, one statement writing the audit row, the webhook event and its deliveries
(app/change_log.py), and the idempotency record's UPDATE with the response. SQLite, with
no INSERT inside a WITH, writes those three rows in three statements.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.customers import service as customer_service
from app.models import AuditEvent, Customer, WebhookDelivery, WebhookEndpoint, WebhookEvent
from app.models.base import utcnow
from app.webhooks.outbox import emit
from tests.api.order_helpers import Caller, StatementLog, caller, statements_on

CUSTOMERS = "/api/v1/customers"
# credential, idempotency claim, INSERT customers, audit + event + deliveries, record UPDATE
POSTGRESQL_STATEMENTS = 5
# The same, with the audit row, the event and the deliveries in three statements.
SQLITE_STATEMENTS = 7


def request_statements(log: StatementLog) -> list[str]:
    """What the request ran: not the test harness's savepoints around its commit."""
    return [s for s in log.statements if not s.startswith(("SAVEPOINT", "RELEASE SAVEPOINT"))]


async def an_endpoint(session: AsyncSession, events: list[str], *, active: bool = True) -> int:
    endpoint = WebhookEndpoint(
        url=f"https://hooks.example.com/{uuid.uuid4().hex}",
        events=events,
        is_active=active,
        secret="whsec_" + "A" * 43,
    )
    session.add(endpoint)
    await session.flush()
    return endpoint.id


def body() -> dict[str, Any]:
    unique = uuid.uuid4().hex
    return {"name": f"Count {unique[:8]}", "email": f"count-{unique}@example.com"}


async def keyed_create(
    client: httpx.AsyncClient, who: Caller, sent: dict[str, Any] | None = None
) -> httpx.Response:
    headers = {**who.headers, "Idempotency-Key": uuid.uuid4().hex}
    return await client.post(CUSTOMERS, json=sent or body(), headers=headers)


async def test_a_keyed_create_customer_runs_at_most_five_statements(
    client: httpx.AsyncClient, engine: AsyncEngine, session: AsyncSession
) -> None:
    admin = await caller(session, "admin")
    await an_endpoint(session, ["customer.created"])
    await an_endpoint(session, ["order.placed"])
    # Steady state: the token's first use stamps its last_used_at (at most once a minute,
    # app/auth/api_tokens.py); that write belongs to the first request, not to every one.
    assert (await keyed_create(client, admin)).status_code == 201

    with statements_on(engine) as log:
        response = await keyed_create(client, admin)

    assert response.status_code == 201, response.text
    ran = request_statements(log)
    shown = "\n".join(ran)
    expected = POSTGRESQL_STATEMENTS if engine.dialect.name == "postgresql" else SQLITE_STATEMENTS
    assert len(ran) <= expected, shown
    if engine.dialect.name == "postgresql":
        [together] = [s for s in ran if "INSERT INTO webhook_deliveries" in s]
        assert "INSERT INTO audit_events" in together and "INSERT INTO webhook_events" in together


async def test_the_create_writes_its_audit_row_event_and_one_delivery_per_subscriber(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    admin = await caller(session, "admin")
    wanted = [
        await an_endpoint(session, ["customer.created"]),
        await an_endpoint(session, ["order.placed", "customer.created"]),
    ]
    await an_endpoint(session, ["customer.created"], active=False)
    await an_endpoint(session, ["order.placed", "product.low_stock"])

    start = utcnow()
    response = await keyed_create(client, admin)
    end = utcnow()

    assert response.status_code == 201, response.text
    created = response.json()
    [audit] = (
        await session.execute(
            select(AuditEvent).where(
                AuditEvent.action == "customer.created",
                AuditEvent.resource_id == str(created["id"]),
            )
        )
    ).scalars()
    assert audit.resource_type == "customer"
    assert audit.channel == "api"
    assert audit.actor_user_id == admin.user.id
    assert audit.token_id == admin.token_id
    assert audit.changes["email"] == [None, created["email"]]
    assert audit.request_id == response.headers["x-request-id"]
    assert start <= audit.occurred_at <= end and start <= audit.created_at <= end
    [event] = (
        await session.execute(select(WebhookEvent).where(WebhookEvent.type == "customer.created"))
    ).scalars()
    assert event.data["customer"]["id"] == created["id"]
    assert event.data["customer"]["email"] == created["email"]
    assert start <= event.created_at == event.updated_at <= end
    deliveries = (
        await session.execute(select(WebhookDelivery).where(WebhookDelivery.event_id == event.id))
    ).scalars()
    rows = sorted(deliveries, key=lambda d: d.endpoint_id)
    assert [d.endpoint_id for d in rows] == sorted(wanted)
    for delivery in rows:
        assert (delivery.status, delivery.attempt_count, delivery.attempts) == ("pending", 0, [])
        assert delivery.last_error == "" and delivery.locked_until is None
        assert start <= delivery.next_attempt_at <= end  # due now


async def test_a_create_rolled_back_after_writing_leaves_no_audit_row_event_or_delivery(
    client: httpx.AsyncClient, session: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The one statement belongs to the request's transaction: a failure after it (here:
    the process dies right after the write) takes the audit row, event and deliveries away."""
    admin = await caller(session, "admin")
    await an_endpoint(session, ["customer.created"])
    before = await outbox_counts(session)
    written: list[int] = []

    async def emit_then_crash(*args: Any, **kwargs: Any) -> int:
        written.append(await emit(*args, **kwargs))
        raise RuntimeError("the process died after writing the event")

    monkeypatch.setattr(customer_service, "emit", emit_then_crash)
    sent = body()
    response = await keyed_create(client, admin, sent)

    assert response.status_code == 500
    assert written, "the audit row, event and delivery were written before the failure"
    assert await outbox_counts(session) == before
    emails = select(Customer.id).where(Customer.email == sent["email"])
    assert list((await session.execute(emails)).scalars()) == []


async def outbox_counts(session: AsyncSession) -> tuple[int, ...]:
    """How many audit rows, events and deliveries there are."""
    models = (AuditEvent, WebhookEvent, WebhookDelivery)
    statements = [select(func.count()).select_from(model) for model in models]
    return tuple([(await session.execute(s)).scalar_one() for s in statements])
