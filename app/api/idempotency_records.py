"""The records behind `Idempotency-Key`: claim a key in the request's transaction, or say
what a repeat gets from the record already there (see app/api/idempotency.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Insert, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from app.infra.db_errors import sqlstate
from app.models import IdempotencyRecord
from app.models.base import utcnow

RETENTION = timedelta(hours=24)
# An in-flight record is never committed any more; one older than this was left by an
# earlier version of the service whose request died, and is cleared.
ABANDONED_AFTER = timedelta(minutes=5)
# PostgreSQL's lock_not_available: the claim waited for a concurrent first request longer
# than the connection's lock timeout (app/infra/db.py).
LOCK_TIMEOUT_SQLSTATE = "55P03"
IN_PROGRESS = (
    409,
    "A request with this Idempotency-Key is still in progress; retry after a moment to get "
    "its response.",
)
NOT_REPLAYABLE = (
    409,
    "The request under this Idempotency-Key ran; its response carried a secret, which is "
    "never stored, so it cannot be replayed. Use a new key to run it again.",
)
DIFFERENT_REQUEST = (422, "This Idempotency-Key was used with a different request.")


@dataclass(frozen=True)
class Stored:
    """A recorded response, as a repeat gets it."""

    status: int
    headers: dict[str, str]
    body: bytes


@dataclass
class Claim:
    """What the claim found: go ahead (record_id), a response to replay, or a refusal."""

    record_id: int | None = None
    replay: Stored | None = None
    refusal: tuple[int, str] | None = None


@dataclass(frozen=True)
class Identity:
    """Who sent which key for what: the record's identifying fields."""

    principal_key: str
    key: str
    path: str
    fingerprint: str


def _insert(session: AsyncSession, values: dict[str, Any]) -> Insert:
    """INSERT the record, doing nothing when the key is there (waiting for a concurrent one)."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    return (
        dialect.insert(IdempotencyRecord)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["principal_key", "key"])
        .returning(IdempotencyRecord.id)
    )


def _record_values(identity: Identity, now: datetime) -> dict[str, Any]:
    return {
        "principal_key": identity.principal_key,
        "key": identity.key,
        "method": "POST",
        "path": identity.path,
        "request_hash": identity.fingerprint,
        "response_headers": {},
        "created_at": now,
        "expires_at": now + RETENTION,
    }


async def insert_record(
    session: AsyncSession, identity: Identity, **response: Any
) -> int | tuple[int, str] | None:
    """The new record's id; None if the key is taken; IN_PROGRESS if the wait timed out."""
    values = _record_values(identity, utcnow()) | response
    try:
        return (await session.execute(_insert(session, values))).scalar_one_or_none()
    except DBAPIError as error:
        if sqlstate(error) != LOCK_TIMEOUT_SQLSTATE:
            raise
        await session.rollback()
        return IN_PROGRESS


async def claim_key(session: AsyncSession, identity: Identity) -> Claim:
    """Claim the key in this transaction, or say what a repeat gets instead."""
    for _ in range(2):
        inserted = await insert_record(session, identity)
        if isinstance(inserted, tuple):
            return Claim(refusal=inserted)
        if inserted is not None:
            return Claim(record_id=inserted)
        found = await outcome_of_existing(session, identity)
        if found is not None:
            return found
        # The key's record had expired (or was abandoned) and is gone: claim it again.
    return Claim(refusal=IN_PROGRESS)


async def outcome_of_existing(session: AsyncSession, identity: Identity) -> Claim | None:
    """What a repeat gets from the committed record; None when the record was cleared."""
    record = (
        await session.execute(
            select(IdempotencyRecord).where(
                IdempotencyRecord.principal_key == identity.principal_key,
                IdempotencyRecord.key == identity.key,
            )
        )
    ).scalar_one_or_none()
    if record is None:
        return None  # deleted between our INSERT and this SELECT (expired, purged)
    now = utcnow()
    abandoned = record.response_status is None and now - record.created_at > ABANDONED_AFTER
    if record.expires_at <= now or abandoned:
        await session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.id == record.id))
        return None
    if record.request_hash != identity.fingerprint:
        return Claim(refusal=DIFFERENT_REQUEST)
    if record.response_status is None:
        return Claim(refusal=IN_PROGRESS)
    if record.response_body is None:
        return Claim(refusal=NOT_REPLAYABLE)
    return Claim(
        replay=Stored(record.response_status, dict(record.response_headers), record.response_body)
    )
