"""Webhook delivery: claim due deliveries, POST them signed, record every attempt, retry.

Claiming takes a lease (`locked_until`) under `FOR UPDATE SKIP LOCKED`, committed before
anything is sent: several workers never send the same delivery at once, and a worker that
dies mid-send leaves a lease that expires, so another worker sends it again (at least once).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import or_, select

from app.infra.db import Database, transaction
from app.infra.jsonutil import dumps
from app.infra.settings import Settings
from app.models import WebhookDelivery, WebhookEndpoint
from app.models.base import utcnow
from app.webhooks.log_hygiene import keep_target_urls_out_of_logs
from app.webhooks.signing import signature_headers
from app.webhooks.urls import Target, UnsafeTarget, origin, resolve_targets

logger = logging.getLogger(__name__)
# Whichever process sends deliveries loads this module first: from then on the HTTP
# client's log records name a target's origin only (its path and query hold secrets).
keep_target_urls_out_of_logs()
# A delivery's whole attempt (resolve, connect, send, read) ends within the deadline, and
# its lease outlives it several times over: no second worker takes a delivery still in flight.
DEADLINE_SECONDS = 10.0
LEASE = timedelta(seconds=60)
GIVE_UP_AFTER = timedelta(hours=24)
DISABLE_AFTER = timedelta(hours=24)
MAX_DELAY_SECONDS = 3600.0
EXCERPT_BYTES = 1024
USER_AGENT = "Backoffice-Webhooks/1"


@dataclass(frozen=True)
class Job:
    """Everything needed to send one delivery, copied out of the claiming transaction."""

    delivery_id: int
    endpoint_id: int
    url: str
    secret: str
    event_id: int
    event_type: str
    body: bytes


@dataclass(frozen=True)
class Attempt:
    """The outcome of one POST."""

    at: datetime
    status_code: int | None
    duration_ms: int
    error: str
    excerpt: str

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    def as_dict(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "status_code": self.status_code,
            "duration_ms": self.duration_ms,
            "error": self.error,
            "excerpt": self.excerpt,
        }


def public_event_id(event_id: int) -> str:
    """The event's id as receivers see it (body `id`, both id headers), every attempt alike."""
    return f"evt_{event_id}"


def payload(event_id: int, event_type: str, created_at: datetime, data: dict[str, Any]) -> bytes:
    return dumps(
        {
            "id": public_event_id(event_id),
            "type": event_type,
            "created_at": created_at.isoformat(),
            "data": data,
        }
    )


def retry_delay(attempt_count: int, base_seconds: float) -> float:
    """Exponential backoff with ±20% jitter: base, 2×base, 4×base … capped at an hour."""
    delay = min(base_seconds * 2 ** max(attempt_count - 1, 0), MAX_DELAY_SECONDS)
    return delay * random.uniform(0.8, 1.2)


async def claim_due(database: Database, *, limit: int = 10) -> list[Job]:
    """Lease up to `limit` due deliveries to this worker (committed before sending)."""
    now = utcnow()
    async with transaction(database.sessionmaker) as session:
        statement = (
            select(WebhookDelivery)
            .where(
                WebhookDelivery.status == "pending",
                WebhookDelivery.next_attempt_at <= now,
                or_(WebhookDelivery.locked_until.is_(None), WebhookDelivery.locked_until < now),
            )
            .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
            .limit(limit)
            .with_for_update(of=WebhookDelivery, skip_locked=True)
        )
        deliveries = list((await session.execute(statement)).unique().scalars())
        jobs = []
        for delivery in deliveries:
            delivery.locked_until = now + LEASE
            event, endpoint = delivery.event, delivery.endpoint
            jobs.append(
                Job(
                    delivery_id=delivery.id,
                    endpoint_id=endpoint.id,
                    url=endpoint.url,
                    secret=endpoint.secret,
                    event_id=event.id,
                    event_type=event.type,
                    body=payload(event.id, event.type, event.created_at, event.data),
                )
            )
    return jobs


async def send(client: httpx.AsyncClient, job: Job, settings: Settings) -> Attempt:
    """POST one delivery within DEADLINE_SECONDS, all told (no redirects followed; at most
    EXCERPT_BYTES of the answer read).

    httpx's timeouts are per phase and a read's restarts with every byte, so a receiver
    trickling its answer could hold a delivery (and its lease) for ever: one deadline bounds
    resolving, connecting, sending and reading together.
    """
    started = time.perf_counter()
    at = utcnow()
    timestamp = str(int(at.timestamp()))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        **signature_headers(job.secret, public_event_id(job.event_id), timestamp, job.body),
    }
    targets: list[Target] = []
    try:
        async with asyncio.timeout(DEADLINE_SECONDS):
            targets = await resolve_targets(job.url, allow_private=settings.webhooks_allow_private)
            for target in targets[:-1]:
                try:
                    return await _post(client, target, job.body, headers, at, started)
                except httpx.ConnectError:
                    continue  # the host's next address
            return await _post(client, targets[-1], job.body, headers, at, started)
    except UnsafeTarget as exc:
        return Attempt(at, None, _ms(started), f"refused: {exc}", "")
    except TimeoutError:
        return Attempt(at, None, _ms(started), f"no answer within {DEADLINE_SECONDS:g} s", "")
    except httpx.HTTPError as exc:
        return Attempt(at, None, _ms(started), _describe(exc, job.url, targets), "")


def _describe(exc: Exception, url: str, targets: list[Target]) -> str:
    """The error as staff will see it, without the addresses the host resolved to (the
    internal DNS answers are not theirs to read) or the URL's path and query (secrets)."""
    text = f"{type(exc).__name__}: {exc}"
    host = urlsplit(url).hostname or ""
    for target in targets:
        text = text.replace(target.url, origin(url)).replace(target.address, host)
    return text.replace(url, origin(url))[:300]


async def _post(
    client: httpx.AsyncClient,
    target: Target,
    body: bytes,
    headers: dict[str, str],
    at: datetime,
    started: float,
) -> Attempt:
    """POST to one address; the attempt as the receiver answered it."""
    async with client.stream(
        "POST",
        target.url,
        content=body,
        headers=headers | target.headers,
        extensions=target.extensions,
        follow_redirects=False,
        timeout=DEADLINE_SECONDS,
    ) as response:
        excerpt = b""
        async for chunk in response.aiter_bytes():
            excerpt += chunk
            if len(excerpt) >= EXCERPT_BYTES:
                break
        return Attempt(
            at,
            response.status_code,
            _ms(started),
            "",
            excerpt[:EXCERPT_BYTES].decode("utf-8", "replace"),
        )


def _ms(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)


async def record(database: Database, job: Job, attempt: Attempt, settings: Settings) -> str:
    """Store the attempt; schedule a retry, give up after 24 h, or mark success.

    Returns the delivery's new status. Also keeps the endpoint's failure streak and
    disables an endpoint that has failed for 24 h straight.
    """
    now = utcnow()
    async with transaction(database.sessionmaker) as session:
        # The endpoint's failure streak is shared by every delivery to it, and a worker
        # records a whole batch at once: lock the endpoint so those records queue instead
        # of racing (the loser's versioned UPDATE would fail and its attempt be lost).
        # Endpoint before delivery: the order in which deleting an endpoint locks them.
        # NO KEY UPDATE: the streak is not a key, and a stronger lock would make every
        # request that queues a delivery to this endpoint (its foreign key check) wait.
        endpoint = await session.get(
            WebhookEndpoint, job.endpoint_id, with_for_update={"key_share": True}
        )
        delivery = (
            (
                await session.execute(
                    select(WebhookDelivery)
                    .where(WebhookDelivery.id == job.delivery_id)
                    .with_for_update(of=WebhookDelivery)
                )
            )
            .unique()
            .scalar_one_or_none()
        )
        if delivery is None or delivery.status != "pending":
            return delivery.status if delivery else "gone"
        delivery.attempts = [*delivery.attempts, attempt.as_dict()]
        delivery.attempt_count += 1
        delivery.last_status_code = attempt.status_code
        delivery.last_error = attempt.error
        delivery.locked_until = None
        if attempt.succeeded:
            delivery.status = "succeeded"
            delivery.delivered_at = now
            if endpoint is not None:
                endpoint.failing_since = None
        else:
            if now - delivery.created_at >= GIVE_UP_AFTER:
                delivery.status = "failed"
            else:
                delay = retry_delay(delivery.attempt_count, settings.webhook_retry_base_seconds)
                delivery.next_attempt_at = now + timedelta(seconds=delay)
            if endpoint is not None:
                endpoint.failing_since = endpoint.failing_since or now
                if endpoint.is_active and now - endpoint.failing_since >= DISABLE_AFTER:
                    endpoint.is_active = False
                    endpoint.disabled_at = now
                    endpoint.disabled_reason = "failing for 24 hours"
                    logger.warning(
                        "webhook endpoint %s disabled after 24 h of failures", endpoint.id
                    )
        return delivery.status
