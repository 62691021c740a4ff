"""Webhook endpoint rules: safe URLs, known events, a secret shown once, pings and re-sends.

Each write takes its command (app/webhooks/commands.py: every field already checked), the
principal and, for an endpoint that exists, the version the caller expects (None: names
none). It checks the permission with the row, the version and where the URL may point,
and writes the audit row.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app import audit
from app.auth.principal import Principal
from app.commands import authorize, check_version, flush_versioned
from app.errors import Conflict, NotFound, ValidationFailed
from app.infra.settings import Settings
from app.lists.grammar import ListSpec
from app.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from app.models.base import utcnow
from app.webhooks.commands import CreateWebhookEndpoint, UpdateWebhookEndpoint
from app.webhooks.signing import new_secret
from app.webhooks.urls import check_url

FIELDS = ["url", "description", "events", "is_active"]
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


async def _checked_url(url: str, settings: Settings) -> str:
    """Where the URL may point under these settings (and what its host resolves to now).
    The refusal names `url` as a command's does (`url: …`), so every door shows it alike."""
    try:
        return await check_url(
            url,
            require_https=settings.is_production,
            allow_private=settings.webhooks_allow_private,
        )
    except ValidationFailed as exc:
        raise ValidationFailed(
            f"url: {exc.detail}",
            errors=[{**error, "message": exc.detail} for error in exc.errors or []],
        ) from None


async def get_endpoint(session: AsyncSession, endpoint_id: int) -> WebhookEndpoint:
    endpoint = await session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None:
        raise NotFound("No such webhook endpoint.")
    return endpoint


async def create_endpoint(
    session: AsyncSession,
    principal: Principal,
    settings: Settings,
    command: CreateWebhookEndpoint,
) -> tuple[WebhookEndpoint, str]:
    """Register an endpoint; returns it with its signing secret (shown this once)."""
    authorize(principal, "webhooks:manage")
    secret = new_secret()
    values = command.model_dump()
    values["url"] = await _checked_url(command.url, settings)
    endpoint = WebhookEndpoint(**values, secret=secret)
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
    endpoint_id: int,
    command: UpdateWebhookEndpoint,
    *,
    expected_version: int | None,
) -> WebhookEndpoint:
    """Edit an endpoint; re-enabling one clears its failure streak."""
    endpoint = await get_endpoint(session, endpoint_id)
    authorize(principal, "webhooks:manage", endpoint)
    check_version(endpoint, expected_version)
    values = command.changes()
    if "url" in values:
        values["url"] = await _checked_url(values["url"], settings)
    if values.get("is_active") and not endpoint.is_active:
        endpoint.failing_since = None
        endpoint.disabled_at = None
        endpoint.disabled_reason = ""
    changes = audit.apply_changes(endpoint, values)
    if changes:
        await flush_versioned(session, {})
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
    session: AsyncSession, principal: Principal, endpoint_id: int, *, expected_version: int | None
) -> tuple[WebhookEndpoint, str]:
    """Issue a new signing secret, returned this once; the old one stops signing at once."""
    endpoint = await get_endpoint(session, endpoint_id)
    authorize(principal, "webhooks:manage", endpoint)
    check_version(endpoint, expected_version)
    endpoint.secret = new_secret()
    await flush_versioned(session, {})
    audit.record(
        session,
        principal,
        "webhook.secret_rotated",
        resource_type="webhook_endpoint",
        resource_id=endpoint.id,
        changes={"secret": [audit.REDACTED, audit.REDACTED]},
    )
    return endpoint, endpoint.secret


async def delete_endpoint(
    session: AsyncSession, principal: Principal, endpoint_id: int, *, expected_version: int | None
) -> None:
    """Remove an endpoint (its deliveries go with it)."""
    endpoint = await get_endpoint(session, endpoint_id)
    authorize(principal, "webhooks:manage", endpoint)
    check_version(endpoint, expected_version)
    before = audit.snapshot(endpoint, FIELDS)
    await session.delete(endpoint)
    await flush_versioned(session, {})
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
