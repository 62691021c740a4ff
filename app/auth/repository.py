"""Every query about credentials: tokens, refresh tokens, staff sessions, users with roles."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import FromClause, Select, Table, bindparam, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from app.infra.db_reads import Reader, Row
from app.models import ApiToken, RefreshToken, Role, StaffSession, User, user_roles

# Plain tables, not ORM entities: the per-request credential lookup is a Core query whose
# rows are tuples, with no identity map, instances or loader strategies to build.
_users: Table = User.__table__  # type: ignore[assignment]
_roles: Table = Role.__table__  # type: ignore[assignment]
_tokens: Table = ApiToken.__table__  # type: ignore[assignment]
_staff_sessions: Table = StaffSession.__table__  # type: ignore[assignment]


@dataclass(frozen=True)
class Identity:
    """A user as a bearer credential resolved to them, with their roles' permissions.

    The token fields are set when the credential is a personal token.
    """

    user_id: int
    email: str
    is_active: bool
    security_stamp: str
    role_permissions: tuple[tuple[str, ...], ...]
    token_id: int | None = None
    scopes: tuple[str, ...] = ()
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None


def _identity_select(source: FromClause, *extra: Any) -> Select[Any]:
    """The user's columns and one row per role (none when the user has no role)."""
    return (
        select(
            _users.c.id,
            _users.c.email,
            _users.c.is_active,
            _users.c.security_stamp,
            _roles.c.permissions,
            *extra,
        )
        .select_from(source)
        .outerjoin(user_roles, user_roles.c.user_id == _users.c.id)
        .outerjoin(_roles, _roles.c.id == user_roles.c.role_id)
    )


def _identity(rows: Sequence[Row], **token_fields: Any) -> Identity:
    # Rows are read by position (driver records and SQLAlchemy rows both index): the
    # columns of _identity_select, then the extra ones.
    user_id, email, is_active, security_stamp = rows[0][:4]
    permissions = tuple(tuple(row[4]) for row in rows if row[4] is not None)
    return Identity(
        user_id=user_id,
        email=email,
        is_active=is_active,
        security_stamp=security_stamp,
        role_permissions=permissions,
        **token_fields,
    )


_TOKEN_IDENTITY = _identity_select(
    _tokens.join(_users, _users.c.id == _tokens.c.user_id),
    _tokens.c.id.label("token_id"),
    _tokens.c.scopes,
    _tokens.c.expires_at,
    _tokens.c.revoked_at,
    _tokens.c.last_used_at,
).where(_tokens.c.token_hash == bindparam("token_hash"))
# Built once, with the digest as a bound parameter: SQLAlchemy's cache key for it is
# computed once too, instead of on every authenticated request.
_USER_IDENTITY = _identity_select(_users).where(_users.c.id == bindparam("user_id"))


def _token_identity(rows: Sequence[Row]) -> Identity | None:
    if not rows:
        return None
    token_id, scopes, expires_at, revoked_at, last_used_at = rows[0][5:]
    return _identity(
        rows,
        token_id=token_id,
        scopes=tuple(scopes or ()),
        expires_at=expires_at,
        revoked_at=revoked_at,
        last_used_at=last_used_at,
    )


def _user_identity(rows: Sequence[Row]) -> Identity | None:
    return _identity(rows) if rows else None


@dataclass(frozen=True)
class IdentityQuery:
    """The one statement that resolves a credential, its values, and how its rows read.

    Kept apart from running it so that a request's first read can carry it
    (app/infra/riding.py): one round trip for the caller and the page.
    """

    statement: Select[Any]
    params: Mapping[str, Any]
    read: Callable[[Sequence[Row]], Identity | None]


def token_identity_query(token_hash: str) -> IdentityQuery:
    """The personal token with this digest, its owner and their roles."""
    return IdentityQuery(_TOKEN_IDENTITY, {"token_hash": token_hash}, _token_identity)


def user_identity_query(user_id: int) -> IdentityQuery:
    """The user and their roles' permissions."""
    return IdentityQuery(_USER_IDENTITY, {"user_id": user_id}, _user_identity)


_STAMP_TOKEN_USE = (
    update(_tokens)
    .where(_tokens.c.id == bindparam("token_id"))
    # updated_at given explicitly: its Python-side onupdate default is computed by
    # SQLAlchemy's execution, which the driver path (app/infra/db_reads.py) does not run.
    .values(
        last_used_at=bindparam("used_at"),
        last_used_ip=bindparam("used_ip"),
        updated_at=bindparam("used_at"),
    )
)


async def stamp_token_use(reader: Reader, token_id: int, now: datetime, ip: str | None) -> None:
    """Record when and from where a personal token was last used."""
    await reader.run(_STAMP_TOKEN_USE, {"token_id": token_id, "used_at": now, "used_ip": ip})


@dataclass(frozen=True)
class StaffSessionIdentity:
    """A staff session's lifetime fields and the Identity of its user."""

    session_id: int
    revoked_at: datetime | None
    expires_at: datetime
    last_seen_at: datetime
    identity: Identity


_STAFF_SESSION_IDENTITY = _identity_select(
    _staff_sessions.join(_users, _users.c.id == _staff_sessions.c.user_id),
    _staff_sessions.c.id.label("session_id"),
    _staff_sessions.c.revoked_at,
    _staff_sessions.c.expires_at,
    _staff_sessions.c.last_seen_at,
).where(_staff_sessions.c.token_hash == bindparam("token_hash"))

_STAMP_SESSION_SEEN = (
    update(_staff_sessions)
    .where(_staff_sessions.c.id == bindparam("session_id"))
    .values(last_seen_at=bindparam("seen_at"), updated_at=bindparam("seen_at"))
)


async def staff_session_identity(reader: Reader, token_hash: str) -> StaffSessionIdentity | None:
    """One statement, no ORM: the session with this digest, its user and their roles
    (what every admin page asks first)."""
    rows = await reader.rows(_STAFF_SESSION_IDENTITY, {"token_hash": token_hash}, order=())
    if not rows:
        return None
    session_id, revoked_at, expires_at, last_seen_at = rows[0][5:]
    return StaffSessionIdentity(
        session_id=session_id,
        revoked_at=revoked_at,
        expires_at=expires_at,
        last_seen_at=last_seen_at,
        identity=_identity(rows),
    )


async def stamp_session_seen(reader: Reader, session_id: int, now: datetime) -> None:
    """Record when a staff session was last used."""
    await reader.run(_STAMP_SESSION_SEEN, {"session_id": session_id, "seen_at": now})


async def get_user_with_roles(session: AsyncSession, user_id: int) -> User | None:
    """One query: the user and their roles."""
    statement = select(User).options(joinedload(User.roles)).where(User.id == user_id)
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


async def revoke_user_api_tokens(session: AsyncSession, user_id: int, now: datetime) -> None:
    statement = update(ApiToken).where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
    await session.execute(statement.values(revoked_at=now, updated_at=now))


async def count_active_api_tokens(session: AsyncSession, user_id: int, now: datetime) -> int:
    """Tokens of `user_id` neither revoked nor expired."""
    statement = select(func.count(ApiToken.id)).where(
        ApiToken.user_id == user_id,
        ApiToken.revoked_at.is_(None),
        or_(ApiToken.expires_at.is_(None), ApiToken.expires_at > now),
    )
    return int((await session.execute(statement)).scalar_one())
