"""Housekeeping (`backoffice purge`, and daily in the worker): drop what has outlived its use."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, or_

from app.infra.db import Database, transaction
from app.models import (
    ApiToken,
    AuditEvent,
    IdempotencyRecord,
    RefreshToken,
    StaffSession,
    WebhookDelivery,
    WebhookEvent,
)
from app.models.base import utcnow

DEFAULT_RETENTION_DAYS = 30


@dataclass(frozen=True)
class PurgeReport:
    idempotency_records: int
    api_tokens: int
    refresh_tokens: int
    staff_sessions: int
    webhook_events: int
    audit_events: int

    def __str__(self) -> str:
        return ", ".join(
            f"{name.replace('_', ' ')}: {count}" for name, count in self.__dict__.items()
        )


async def purge(
    database: Database,
    *,
    older_than_days: int = DEFAULT_RETENTION_DAYS,
    audit_older_than_days: int | None = None,
) -> PurgeReport:
    """Delete expired idempotency records, dead tokens and sessions past retention, and
    delivered webhook events past retention. The audit log only when asked explicitly."""
    now = utcnow()
    cutoff = now - timedelta(days=older_than_days)
    async with transaction(database.sessionmaker) as session:

        async def run(statement: object) -> int:
            result = await session.execute(statement)  # type: ignore[call-overload]
            return int(result.rowcount)

        report = PurgeReport(
            idempotency_records=await run(
                delete(IdempotencyRecord).where(IdempotencyRecord.expires_at <= now)
            ),
            api_tokens=await run(
                delete(ApiToken).where(
                    or_(ApiToken.revoked_at < cutoff, ApiToken.expires_at < cutoff)
                )
            ),
            refresh_tokens=await run(
                delete(RefreshToken).where(
                    or_(RefreshToken.expires_at < cutoff, RefreshToken.revoked_at < cutoff)
                )
            ),
            staff_sessions=await run(
                delete(StaffSession).where(
                    or_(StaffSession.expires_at < cutoff, StaffSession.revoked_at < cutoff)
                )
            ),
            webhook_events=await run(
                delete(WebhookEvent).where(
                    WebhookEvent.created_at < cutoff,
                    ~WebhookEvent.id.in_(
                        WebhookDelivery.__table__.select()
                        .with_only_columns(WebhookDelivery.event_id)
                        .where(WebhookDelivery.status == "pending")
                    ),
                )
            ),
            audit_events=await run(
                delete(AuditEvent).where(
                    AuditEvent.occurred_at < now - timedelta(days=audit_older_than_days)
                )
            )
            if audit_older_than_days is not None
            else 0,
        )
    return report
