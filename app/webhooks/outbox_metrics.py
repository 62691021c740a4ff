"""The webhook worker's figures for /metrics, read from the outbox (SPEC §12).

The worker runs apart from the web (a Heroku worker dyno takes no inbound traffic, so it
cannot be scraped): what it has done and has still to do is in `webhook_deliveries`, which
every web worker can read. So whichever web worker answers a scrape reports the whole fleet
of delivery workers, dead or alive, and a worker that stopped shows as a growing lag.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from prometheus_client.core import GaugeMetricFamily, Metric
from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import WebhookDelivery
from app.models.base import utcnow
from app.models.webhooks import DELIVERY_STATUSES


@dataclass(frozen=True)
class OutboxFigures:
    by_status: dict[str, int]
    retrying: int  # pending after at least one failed attempt
    due: int  # pending and due now (in flight included)
    lag_seconds: float  # how long the oldest due delivery has been waiting; 0 if none


async def read_outbox(session: AsyncSession) -> OutboxFigures:
    """Two aggregate queries (the due one on ix_webhook_deliveries_due)."""
    now = utcnow()
    rows = await session.execute(
        select(
            WebhookDelivery.status,
            func.count(),
            func.sum(case((WebhookDelivery.attempt_count > 0, 1), else_=0)),
        ).group_by(WebhookDelivery.status)
    )
    by_status = {status: 0 for status in DELIVERY_STATUSES}
    retrying = 0
    for status, count, attempted in rows.all():
        by_status[status] = count
        if status == "pending":
            retrying = int(attempted or 0)
    due, oldest = (
        await session.execute(
            select(func.count(), func.min(WebhookDelivery.next_attempt_at)).where(
                WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= now
            )
        )
    ).one()
    return OutboxFigures(by_status, retrying, due, _age(now, oldest))


def _age(now: datetime, then: datetime | None) -> float:
    if then is None:
        return 0.0
    if then.tzinfo is None:  # SQLite gives back naive UTC
        then = then.replace(tzinfo=UTC)
    return max((now - then).total_seconds(), 0.0)


def outbox_families(figures: OutboxFigures) -> list[Metric]:
    deliveries = GaugeMetricFamily(
        "backoffice_webhook_deliveries", "Webhook deliveries by status", labels=["status"]
    )
    for status, count in sorted(figures.by_status.items()):
        deliveries.add_metric([status], count)
    return [
        deliveries,
        GaugeMetricFamily(
            "backoffice_webhook_backlog",
            "Webhook deliveries not yet delivered nor given up (pending)",
            value=figures.by_status.get("pending", 0),
        ),
        GaugeMetricFamily(
            "backoffice_webhook_retrying",
            "Pending webhook deliveries whose earlier attempts failed",
            value=figures.retrying,
        ),
        GaugeMetricFamily(
            "backoffice_webhook_due",
            "Pending webhook deliveries due now (being sent or waiting for a worker)",
            value=figures.due,
        ),
        GaugeMetricFamily(
            "backoffice_webhook_lag_seconds",
            "Age of the oldest due webhook delivery (0 when none is due)",
            value=figures.lag_seconds,
        ),
    ]
