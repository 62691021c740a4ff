"""The transactional outbox: events are rows written in the same transaction as the change."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.infra.jsonutil import to_jsonable
from app.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
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


async def emit(session: AsyncSession, event_type: str, data: dict[str, Any]) -> WebhookEvent:
    """Record an event and one pending delivery per active endpoint that wants it.

    Nothing is sent here: the worker delivers after the commit, so a rolled-back change
    sends nothing and a committed one cannot be lost.
    """
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {event_type!r}")
    event = WebhookEvent(type=event_type, data=to_jsonable(data))
    session.add(event)
    await session.flush()
    endpoints = (
        await session.execute(select(WebhookEndpoint).where(WebhookEndpoint.is_active.is_(True)))
    ).scalars()
    now = utcnow()
    for endpoint in endpoints:
        if event_type in endpoint.events:
            session.add(
                WebhookDelivery(event_id=event.id, endpoint_id=endpoint.id, next_attempt_at=now)
            )
    return event
