"""Server-side admin sessions: start (rotating), resolve with idle/absolute expiry, revoke."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from app import audit
from app.auth import repository
from app.auth.principal import Principal, RequestMeta
from app.auth.repository import StaffSessionIdentity
from app.auth.tokens import digest, mint_opaque_secret
from app.errors import NotFound
from app.infra.db_reads import Reader
from app.infra.settings import Settings
from app.models import StaffSession, User
from app.models.base import utcnow
from app.permissions import can

LAST_SEEN_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class StartedSession:
    """A new session: the opaque token and CSRF secret go into the signed cookie only."""

    row: StaffSession
    token: str
    csrf_secret: str


async def start_session(
    session: AsyncSession, user: User, meta: RequestMeta, settings: Settings
) -> StartedSession:
    """Open a fresh session for `user` (a new one at every login: no fixation)."""
    token = mint_opaque_secret()
    now = utcnow()
    row = StaffSession(
        user_id=user.id,
        token_hash=digest(token),
        last_seen_at=now,
        expires_at=now + timedelta(hours=settings.session_max_hours),
        ip=meta.ip,
        user_agent=(meta.user_agent or "")[:255] or None,
    )
    session.add(row)
    await session.flush()
    return StartedSession(row=row, token=token, csrf_secret=secrets.token_urlsafe(32))


def session_is_live(
    revoked_at: datetime | None,
    expires_at: datetime,
    last_seen_at: datetime,
    user_is_active: bool,
    now: datetime,
    settings: Settings,
) -> bool:
    """THE rule: a session is dead when revoked, past its absolute lifetime, idle too
    long, or its user inactive."""
    if revoked_at is not None or expires_at <= now:
        return False
    if now - last_seen_at > timedelta(minutes=settings.session_idle_minutes):
        return False
    return user_is_active


def is_due_a_last_seen_stamp(last_seen_at: datetime, now: datetime) -> bool:
    """Whether to write the last-seen time (once a minute at most: not a write a page)."""
    return now - last_seen_at >= LAST_SEEN_RESOLUTION


async def resolve_session(
    session: AsyncSession, token: str, settings: Settings
) -> StaffSession | None:
    """The live session behind `token` as an ORM row (user and roles loaded), or None:
    for changing it (logout). Pages use `resolve_session_identity`."""
    row = await repository.get_staff_session_by_hash(session, digest(token))
    now = utcnow()
    if row is None or not session_is_live(
        row.revoked_at, row.expires_at, row.last_seen_at, row.user.is_active, now, settings
    ):
        return None
    if is_due_a_last_seen_stamp(row.last_seen_at, now):
        row.last_seen_at = now
    return row


async def resolve_session_identity(
    reader: Reader, token: str, settings: Settings
) -> StaffSessionIdentity | None:
    """The live session behind `token` and its user, or None: one Core statement, no
    transaction, plus the last-seen stamp when one is due."""
    found = await repository.staff_session_identity(reader, digest(token))
    now = utcnow()
    if found is None or not session_is_live(
        found.revoked_at,
        found.expires_at,
        found.last_seen_at,
        found.identity.is_active,
        now,
        settings,
    ):
        return None
    if is_due_a_last_seen_stamp(found.last_seen_at, now):
        await repository.stamp_session_seen(reader, found.session_id, now)
    return found


async def end_session(session: AsyncSession, principal: Principal, row: StaffSession) -> None:
    """Log out of one session."""
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        audit.record(
            session, principal, "session.ended", resource_type="staff_session", resource_id=row.id
        )


async def revoke_session(session: AsyncSession, principal: Principal, session_id: int) -> None:
    """End a session: one's own, or anyone's with users:manage (404 otherwise)."""
    row = await session.get(StaffSession, session_id)
    if row is None or not can(principal, "users:manage", row):
        raise NotFound("No such session.")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        audit.record(
            session,
            principal,
            "session.revoked",
            resource_type="staff_session",
            resource_id=row.id,
            changes={"user_id": [row.user_id, row.user_id], "revoked_at": [None, row.revoked_at]},
        )
