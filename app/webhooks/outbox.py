"""The transactional outbox: events are rows written in the same transaction as the change.

An event, its deliveries (one per active endpoint that wants its type) and, when the change
is audited, the audit row go together: on PostgreSQL in one statement (data-modifying
CTEs), on SQLite, which has no INSERT inside a WITH, in one statement per table.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    FromClause,
    Insert,
    Table,
    exists,
    func,
    insert,
    literal,
    select,
    true,
    type_coerce,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from app.infra.jsonutil import to_jsonable
from app.models import AuditEvent, WebhookDelivery, WebhookEndpoint, WebhookEvent
from app.models.base import utcnow

EVENT_TYPES = (
    "order.placed",
    "order.paid",
    "order.shipped",
    "order.cancelled",
    "product.low_stock",
    "customer.created",
    "ping",
)

AUDIT_EVENTS: Table = AuditEvent.__table__  # type: ignore[assignment]
EVENTS: Table = WebhookEvent.__table__  # type: ignore[assignment]
DELIVERIES: Table = WebhookDelivery.__table__  # type: ignore[assignment]
ENDPOINTS: Table = WebhookEndpoint.__table__  # type: ignore[assignment]


async def emit(
    session: AsyncSession,
    event_type: str,
    data: dict[str, Any],
    *,
    audit: Mapping[str, Any] | None = None,
) -> int:
    """Record an event and one pending delivery per active endpoint that wants it, with
    the audit row of the change (`app.audit.entry(...)`) if given; returns the event's id.

    Nothing is sent here: the worker delivers after the commit, so a rolled-back change
    sends nothing and a committed one cannot be lost.
    """
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {event_type!r}")
    now = utcnow()
    # Column defaults (created_at, …) are not applied to an INSERT inside a WITH, so
    # every column is given here, on both databases alike.
    stamps = {"created_at": now, "updated_at": now}
    event = insert(EVENTS).values(type=event_type, data=to_jsonable(data), **stamps)
    audit_row = insert(AUDIT_EVENTS).values(**audit, **stamps) if audit is not None else None
    if session.get_bind().dialect.name == "postgresql":
        written = event.returning(EVENTS.c.id, EVENTS.c.type).cte("event")
        subscribed = written.join(ENDPOINTS, _postgresql_wants(written.c.type))
        deliveries = _deliveries(written.c.id, now, subscribed).cte("deliveries")
        # WITH audit AS (INSERT …), event AS (INSERT … RETURNING id, type),
        # deliveries AS (INSERT … SELECT … FROM event JOIN webhook_endpoints …)
        # SELECT event.id FROM event: PostgreSQL runs every data-modifying WITH, used or not.
        audited = [audit_row.cte("audit")] if audit_row is not None else []
        statement = select(written.c.id).add_cte(*audited, deliveries)
        return int((await session.execute(statement)).scalar_one())
    if audit_row is not None:
        await session.execute(audit_row)
    event_id = int((await session.execute(event.returning(EVENTS.c.id))).scalar_one())
    await session.execute(
        _deliveries(literal(event_id), now, ENDPOINTS, _sqlite_wants(literal(event_type)))
    )
    return event_id


def _deliveries(
    event_id: ColumnElement[Any], now: datetime, source: FromClause, *where: ColumnElement[bool]
) -> Insert:
    """INSERT … SELECT: one pending delivery of the event per active endpoint in `source`."""
    values: dict[str, ColumnElement[Any]] = {
        "event_id": event_id,
        "endpoint_id": ENDPOINTS.c.id,
        "status": literal("pending"),
        "attempt_count": literal(0),
        "next_attempt_at": literal(now, DELIVERIES.c.next_attempt_at.type),
        "last_error": literal(""),
        "attempts": literal([], DELIVERIES.c.attempts.type),
        "created_at": literal(now, DELIVERIES.c.created_at.type),
        "updated_at": literal(now, DELIVERIES.c.updated_at.type),
    }
    wanting = (
        select(*values.values())
        .select_from(source)
        .where(ENDPOINTS.c.is_active.is_(true()), *where)
    )
    return insert(DELIVERIES).from_select(list(values), wanting)


def _postgresql_wants(event_type: ColumnElement[Any]) -> ColumnElement[bool]:
    # `events` is JSONB on PostgreSQL (app/models/base.py JSONType): `events ? type`.
    return type_coerce(ENDPOINTS.c.events, JSONB).has_key(event_type)


def _sqlite_wants(event_type: ColumnElement[Any]) -> ColumnElement[bool]:
    # EXISTS (SELECT 1 FROM json_each(events) WHERE value = type)
    names = func.json_each(ENDPOINTS.c.events).table_valued("value")
    return exists().select_from(names).where(names.c.value == event_type)
