"""Webhook endpoint rules: safe URLs, known events, a secret shown once, pings and re-sends."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app import audit
from app.auth.principal import Principal
from app.errors import Conflict, NotFound, ValidationFailed
from app.lists.grammar import ListSpec
from app.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from app.models.base import utcnow
from app.settings import Settings
from app.webhooks.outbox import EVENT_TYPES
from app.webhooks.signing import new_secret
from app.webhooks.urls import check_url

FIELDS = ["url", "description", "events", "is_active"]
SUBSCRIBABLE = tuple(e for e in EVENT_TYPES if e != "ping")
ENDPOINT_SPEC = ListSpec(
    model=WebhookEndpoint,
    sortable=("id", "url", "created_at", "updated_at"),
    default_sort="id",
    searchable=("url", "description"),
    exact=("is_active",),
    ranges=("id", "created_at", "updated_at"),
)
DELIVERY_SPEC = ListSpec(
    model=WebhookDelivery,
    sortable=("id", "created_at", "next_attempt_at"),
    default_sort="-id",
    searchable=("last_error",),
    exact=("status", "endpoint_id", "event_id"),
    ranges=("id", "created_at"),
)


def _checked_events(events: Sequence[str]) -> list[str]:
    unknown = sorted(set(events) - set(SUBSCRIBABLE))
    if unknown or not events:
        raise ValidationFailed(
            "Choose one or more known events."
            if not unknown
            else f"Unknown event(s): {', '.join(unknown)}.",
            errors=[
                {
                    "loc": ["body", "events"],
                    "message": f"one or more of {list(SUBSCRIBABLE)}",
                    "type": "enum",
                }
            ],
        )
    return sorted(set(events))


async def _checked_url(url: str, settings: Settings) -> str:
    return await check_url(
        url, require_https=settings.is_production, allow_private=settings.webhooks_allow_private
    )


async def get_endpoint(session: AsyncSession, endpoint_id: int) -> WebhookEndpoint:
    endpoint = await session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None:
        raise NotFound("No such webhook endpoint.")
    return endpoint


async def create_endpoint(
    session: AsyncSession, principal: Principal, settings: Settings, values: dict[str, Any]
) -> tuple[WebhookEndpoint, str]:
    """Register an endpoint; returns it with its signing secret (shown this once)."""
    secret = new_secret()
    endpoint = WebhookEndpoint(
        url=await _checked_url(values["url"], settings),
        description=(values.get("description") or "").strip()[:255],
        events=_checked_events(values.get("events") or []),
        is_active=values.get("is_active", True),
        secret=secret,
    )
    session.add(endpoint)
    await session.flush()
    changes = audit.diff(None, audit.snapshot(endpoint, FIELDS))
    changes["secret"] = [None, audit.REDACTED]
    audit.record(
        session,
        principal,
        "webhook.created",
        resource_type="webhook_endpoint",
        resource_id=endpoint.id,
        changes=changes,
    )
    return endpoint, secret


async def update_endpoint(
    session: AsyncSession,
    principal: Principal,
    settings: Settings,
    endpoint: WebhookEndpoint,
    values: dict[str, Any],
) -> WebhookEndpoint:
    """Edit an endpoint; re-enabling one clears its failure streak."""
    if "url" in values:
        values["url"] = await _checked_url(values["url"], settings)
    if "events" in values:
        values["events"] = _checked_events(values["events"])
    if values.get("is_active") and not endpoint.is_active:
        endpoint.failing_since = None
        endpoint.disabled_at = None
        endpoint.disabled_reason = ""
    changes = audit.apply_changes(endpoint, values)
    if changes:
        await session.flush()
        audit.record(
            session,
            principal,
            "webhook.updated",
            resource_type="webhook_endpoint",
            resource_id=endpoint.id,
            changes=changes,
        )
    return endpoint


async def rotate_secret(
    session: AsyncSession, principal: Principal, endpoint: WebhookEndpoint
) -> str:
    """Issue a new signing secret, returned this once; the old one stops signing at once."""
    endpoint.secret = new_secret()
    await session.flush()
    audit.record(
        session,
        principal,
        "webhook.secret_rotated",
        resource_type="webhook_endpoint",
        resource_id=endpoint.id,
        changes={"secret": [audit.REDACTED, audit.REDACTED]},
    )
    return endpoint.secret


async def delete_endpoint(
    session: AsyncSession, principal: Principal, endpoint: WebhookEndpoint
) -> None:
    before = audit.snapshot(endpoint, FIELDS)
    await session.delete(endpoint)
    await session.flush()
    audit.record(
        session,
        principal,
        "webhook.deleted",
        resource_type="webhook_endpoint",
        resource_id=endpoint.id,
        changes=audit.diff(before, None),
    )


async def ping(
    session: AsyncSession, principal: Principal, endpoint: WebhookEndpoint
) -> WebhookDelivery:
    """Queue a `ping` event for this one endpoint (delivered by the worker)."""
    event = WebhookEvent(
        type="ping", data={"endpoint_id": endpoint.id, "message": "Hello from Backoffice"}
    )
    session.add(event)
    await session.flush()
    delivery = WebhookDelivery(event_id=event.id, endpoint_id=endpoint.id, next_attempt_at=utcnow())
    session.add(delivery)
    await session.flush()
    audit.record(
        session,
        principal,
        "webhook.pinged",
        resource_type="webhook_endpoint",
        resource_id=endpoint.id,
    )
    return delivery


async def resend(session: AsyncSession, principal: Principal, delivery_id: int) -> WebhookDelivery:
    """Put a failed (or delivered) delivery back in the queue; its attempts are kept."""
    delivery = (
        (
            await session.execute(
                select(WebhookDelivery)
                .where(WebhookDelivery.id == delivery_id)
                .with_for_update(of=WebhookDelivery)
            )
        )
        .unique()
        .scalar_one_or_none()
    )
    if delivery is None:
        raise NotFound("No such delivery.")
    if delivery.status == "pending":
        raise Conflict("The delivery is already queued.")
    old = delivery.status
    delivery.status = "pending"
    delivery.next_attempt_at = utcnow()
    delivery.locked_until = None
    # A re-send gets a fresh 24 h of retries.
    delivery.created_at = utcnow()
    await session.flush()
    audit.record(
        session,
        principal,
        "webhook.delivery_resent",
        resource_type="webhook_delivery",
        resource_id=delivery.id,
        changes={"status": [old, "pending"]},
    )
    return delivery
