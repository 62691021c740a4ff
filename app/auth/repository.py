"""Every query about credentials: tokens, refresh tokens, staff sessions, users with roles."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from app.models import ApiToken, RefreshToken, StaffSession, User


async def get_user_with_roles(session: AsyncSession, user_id: int) -> User | None:
    """One query: the user and their roles."""
    statement = select(User).options(joinedload(User.roles)).where(User.id == user_id)
    return (await session.execute(statement)).unique().scalar_one_or_none()


async def get_api_token_by_hash(session: AsyncSession, token_hash: str) -> ApiToken | None:
    """One query: the token, its owner and the owner's roles."""
    statement = (
        select(ApiToken)
        .options(joinedload(ApiToken.user).joinedload(User.roles))
        .where(ApiToken.token_hash == token_hash)
    )
    return (await session.execute(statement)).unique().scalar_one_or_none()


async def list_api_tokens(session: AsyncSession, user_id: int) -> list[ApiToken]:
    statement = (
        select(ApiToken)
        .where(ApiToken.user_id == user_id)
        .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
    )
    return list((await session.execute(statement)).scalars())


async def get_api_token(session: AsyncSession, token_id: int) -> ApiToken | None:
    return await session.get(ApiToken, token_id)


async def get_refresh_token_by_hash(session: AsyncSession, token_hash: str) -> RefreshToken | None:
    statement = select(RefreshToken).where(RefreshToken.token_hash == token_hash).with_for_update()
    return (await session.execute(statement)).scalar_one_or_none()


async def revoke_refresh_family(session: AsyncSession, family_id: str, now: datetime) -> int:
    statement = (
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now, updated_at=now)
    )
    result = await session.execute(statement)
    return int(result.rowcount)  # type: ignore[attr-defined]


async def revoke_user_refresh_tokens(session: AsyncSession, user_id: int, now: datetime) -> None:
    statement = (
        update(RefreshToken)
        .where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now, updated_at=now)
    )
    await session.execute(statement)


async def get_staff_session_by_hash(session: AsyncSession, token_hash: str) -> StaffSession | None:
    """One query: the session, its user and the user's roles."""
    statement = (
        select(StaffSession)
        .options(joinedload(StaffSession.user).joinedload(User.roles))
        .where(StaffSession.token_hash == token_hash)
    )
    return (await session.execute(statement)).unique().scalar_one_or_none()


async def list_active_staff_sessions(
    session: AsyncSession, user_id: int, now: datetime
) -> list[StaffSession]:
    statement = (
        select(StaffSession)
        .where(
            StaffSession.user_id == user_id,
            StaffSession.revoked_at.is_(None),
            StaffSession.expires_at > now,
        )
        .order_by(StaffSession.last_seen_at.desc())
    )
    return list((await session.execute(statement)).scalars())


async def revoke_user_staff_sessions(
    session: AsyncSession, user_id: int, now: datetime, *, except_id: int | None = None
) -> None:
    statement = update(StaffSession).where(
        StaffSession.user_id == user_id, StaffSession.revoked_at.is_(None)
    )
    if except_id is not None:
        statement = statement.where(StaffSession.id != except_id)
    await session.execute(statement.values(revoked_at=now, updated_at=now))
