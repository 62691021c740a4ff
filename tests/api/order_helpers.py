"""Helpers for the order, CSV, audit-log and query-count API tests: callers, reads, counters."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.auth.api_tokens import create_token
from app.auth.principal import Principal
from app.auth.token_commands import CreateToken
from app.models import AuditEvent, Order, Product, User, WebhookEvent
from tests.factories import make_user

ORDERS = "/api/v1/orders"
# How to drive a fresh draft to each status through the API.
PATH_TO_STATUS: dict[str, tuple[str, ...]] = {
    "draft": (),
    "placed": ("place",),
    "paid": ("place", "pay"),
    "shipped": ("place", "pay", "ship"),
    "cancelled": ("place", "cancel"),
}


@dataclass(frozen=True)
class Caller:
    """A user and the headers that authenticate them with a personal API token."""

    user: User
    headers: dict[str, str]
    token_id: int


async def caller(session: AsyncSession, role: str | None = "admin") -> Caller:
    """A user with `role` and a fresh personal token (no password hashing, no login limit)."""
    user = await make_user(session, role=role)
    token, plaintext = await create_token(
        session, Principal.system(), user, CreateToken(name="tests")
    )
    return Caller(user, {"Authorization": f"Bearer {plaintext}"}, token.id)


def with_if_match(headers: dict[str, str], etag: str) -> dict[str, str]:
    return {**headers, "If-Match": etag}


async def create_order(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    customer_id: int,
    items: Sequence[tuple[int, int]] = (),
    **body: Any,
) -> dict[str, Any]:
    """POST /orders; asserts 201 and returns the order read."""
    payload = {
        "customer_id": customer_id,
        "items": [{"product_id": pid, "quantity": qty} for pid, qty in items],
        **body,
    }
    response = await client.post(ORDERS, json=payload, headers=headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def act(
    client: httpx.AsyncClient, headers: dict[str, str], order_id: int, action: str
) -> httpx.Response:
    """POST /orders/{id}/{action}."""
    return await client.post(f"{ORDERS}/{order_id}/{action}", headers=headers)


async def drive_to(
    client: httpx.AsyncClient, headers: dict[str, str], order_id: int, status: str
) -> dict[str, Any]:
    """Take a draft to `status` through the API's own actions; returns the last read."""
    response = await client.get(f"{ORDERS}/{order_id}", headers=headers)
    for action in PATH_TO_STATUS[status]:
        response = await act(client, headers, order_id, action)
        assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


async def stock_of(session: AsyncSession, product_id: int) -> int:
    """The stock as the database has it now (a column read bypasses the identity map)."""
    statement = select(Product.stock).where(Product.id == product_id)
    return int((await session.execute(statement)).scalar_one())


async def order_status(session: AsyncSession, order_id: int) -> str:
    statement = select(Order.status).where(Order.id == order_id)
    return str((await session.execute(statement)).scalar_one())


async def audit_rows(
    session: AsyncSession, action: str | None = None, *, resource_id: object | None = None
) -> list[AuditEvent]:
    """Audit events, oldest first, optionally for one action and resource id."""
    statement = select(AuditEvent).order_by(AuditEvent.id)
    if action is not None:
        statement = statement.where(AuditEvent.action == action)
    if resource_id is not None:
        statement = statement.where(AuditEvent.resource_id == str(resource_id))
    statement = statement.execution_options(populate_existing=True)
    return list((await session.execute(statement)).scalars())


async def count_audit_rows(session: AsyncSession) -> int:
    return int((await session.execute(select(func.count()).select_from(AuditEvent))).scalar_one())


async def outbox_events(session: AsyncSession, event_type: str | None = None) -> list[WebhookEvent]:
    """webhook_events rows, oldest first, optionally of one type."""
    statement = select(WebhookEvent).order_by(WebhookEvent.id)
    if event_type is not None:
        statement = statement.where(WebhookEvent.type == event_type)
    statement = statement.execution_options(populate_existing=True)
    return list((await session.execute(statement)).scalars())


@dataclass
class StatementLog:
    """The SQL statements an engine ran while the log was open."""

    statements: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.statements)

    def touching(self, table: str) -> list[str]:
        return [s for s in self.statements if table in s]


@contextmanager
def statements_on(engine: AsyncEngine) -> Iterator[StatementLog]:
    """Record every statement sent to the database through `engine` inside the block."""
    log = StatementLog()

    def before_cursor_execute(*args: Any) -> None:
        # (connection, cursor, statement, parameters, context, executemany)
        log.statements.append(" ".join(str(args[2]).split()))

    event.listen(engine.sync_engine, "before_cursor_execute", before_cursor_execute)
    try:
        yield log
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", before_cursor_execute)


STATUSES = ("draft", "placed", "paid", "shipped", "cancelled")
ACTIONS = ("place", "pay", "ship", "cancel")
# SPEC §7, written out here rather than read from the service, so a wrong table fails.
ALLOWED: dict[tuple[str, str], str] = {
    ("draft", "place"): "placed",
    ("placed", "pay"): "paid",
    ("paid", "ship"): "shipped",
    ("draft", "cancel"): "cancelled",
    ("placed", "cancel"): "cancelled",
    ("paid", "cancel"): "cancelled",
}


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


async def observed_state(
    client: httpx.AsyncClient, session: AsyncSession, headers: dict[str, str], order_id: int
) -> dict[str, Any]:
    """Everything a refused request must leave alone: the order, stock, audit log, outbox."""
    read = await client.get(f"{ORDERS}/{order_id}", headers=headers)
    assert read.status_code == 200, read.text
    body = read.json()
    return {
        "order": body,
        "etag": read.headers["etag"],
        "stock": {i["product_id"]: await stock_of(session, i["product_id"]) for i in body["items"]},
        "audit_rows": await count_audit_rows(session),
        "events": len(await outbox_events(session)),
    }
