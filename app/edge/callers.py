"""Credentials → the one Principal: a personal token, an OAuth access token, a staff session.

Each kind has one code path, and every path ends in `principal_for`, the only place that
works out effective permissions. The API (app/api/deps.py) and the admin (app/admin/auth.py)
call these and put the result in the request's scope state, where every later layer
(idempotency, rate limit, audit, policy) takes it from.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import HTTPConnection

from app.auth.api_tokens import accept_personal_token, personal_token_query
from app.auth.oauth import access_token_query
from app.auth.principal import AuthMethod, Channel, Principal, RequestMeta
from app.auth.repository import Identity, IdentityQuery
from app.auth.sessions import resolve_session, resolve_session_identity
from app.auth.tokens import looks_like_personal_token
from app.infra.db_reads import Reader, Row
from app.infra.settings import Settings
from app.models import StaffSession, User
from app.permissions import narrow_to_scopes, permissions_of

# A bearer credential longer than this is no credential of ours (and is not hashed).
MAX_BEARER_LENGTH = 4096


def request_meta(connection: HTTPConnection) -> RequestMeta:
    """Request id, client IP (already resolved from trusted proxies) and user agent."""
    return RequestMeta(
        request_id=getattr(connection.state, "request_id", None),
        ip=connection.client.host if connection.client else None,
        user_agent=connection.headers.get("user-agent"),
    )


def principal_for(
    identity: Identity,
    *,
    channel: Channel,
    auth_method: AuthMethod,
    meta: RequestMeta | None = None,
) -> Principal:
    """THE constructor of an authenticated Principal: the union of the user's roles'
    permissions, narrowed by a personal token's scopes (SPEC §4). An inactive user holds
    nothing (every path refuses them before this anyway)."""
    permissions = (
        narrow_to_scopes(permissions_of(identity.role_permissions), identity.scopes)
        if identity.is_active
        else frozenset()
    )
    return Principal(
        user_id=identity.user_id,
        email=identity.email,
        channel=channel,
        auth_method=auth_method,
        permissions=permissions,
        token_id=identity.token_id,
        meta=meta or RequestMeta(),
        scopes=identity.scopes,
    )


def identity_of(user: User, **token_fields: Any) -> Identity:
    """A loaded user (with roles) as the Identity a credential resolves to."""
    return Identity(
        user_id=user.id,
        email=user.email,
        is_active=user.is_active,
        security_stamp=user.security_stamp,
        role_permissions=tuple(tuple(role.permissions) for role in user.roles),
        **token_fields,
    )


def bearer_credential(authorization: str) -> str | None:
    """The credential of an `Authorization: Bearer …` header, or None."""
    scheme, _, credential = authorization.partition(" ")
    credential = credential.strip()
    if scheme.lower() != "bearer" or not credential or len(credential) > MAX_BEARER_LENGTH:
        return None
    return credential


@dataclass(frozen=True)
class BearerLookup:
    """The one statement that resolves a bearer credential, and how its rows become the
    caller. A request's first read may carry the statement (app/infra/riding.py)."""

    query: IdentityQuery
    accept: Callable[[Reader, Identity | None], Awaitable[Principal | None]]

    async def caller(self, reader: Reader, rows: Sequence[Row]) -> Principal | None:
        """The caller these rows of `query` name, or None (the credential is not good)."""
        return await self.accept(reader, self.query.read(rows))

    async def resolve(self, reader: Reader) -> Principal | None:
        """The caller, with `query` sent on its own (one statement)."""
        rows = await reader.rows(self.query.statement, self.query.params, order=())
        return await self.caller(reader, rows)


def bearer_lookup(authorization: str, settings: Settings, meta: RequestMeta) -> BearerLookup | None:
    """How to resolve an Authorization header (a personal or an access token); None when it
    holds no credential that could be good (no database needed to refuse it)."""
    credential = bearer_credential(authorization)
    if credential is None:
        return None
    if looks_like_personal_token(credential):

        async def accept_personal(reader: Reader, identity: Identity | None) -> Principal | None:
            token = await accept_personal_token(reader, identity, meta.ip)
            if token is None:
                return None
            return principal_for(token, channel="api", auth_method="personal_token", meta=meta)

        return BearerLookup(personal_token_query(credential), accept_personal)
    access = access_token_query(credential, settings)
    if access is None:
        return None

    async def accept_access(_: Reader, identity: Identity | None) -> Principal | None:
        user = access.accept(identity)
        if user is None:
            return None
        return principal_for(user, channel="api", auth_method="access_token", meta=meta)

    return BearerLookup(access.query, accept_access)


async def from_bearer(
    reader: Reader, authorization: str, settings: Settings, meta: RequestMeta
) -> Principal | None:
    """The API caller behind an Authorization header, in one statement of its own."""
    lookup = bearer_lookup(authorization, settings, meta)
    return None if lookup is None else await lookup.resolve(reader)


@dataclass(frozen=True)
class StaffCaller:
    """An admin request's caller and the live staff session it came with."""

    principal: Principal
    session: StaffSession


async def from_staff_session(
    session: AsyncSession, token: str, settings: Settings, meta: RequestMeta
) -> StaffCaller | None:
    """The user of the live staff session behind the cookie's token (the caller commits
    the session's last-seen stamp)."""
    row = await resolve_session(session, token, settings)
    if row is None:
        return None
    principal = principal_for(
        identity_of(row.user), channel="admin", auth_method="session", meta=meta
    )
    return StaffCaller(principal=principal, session=row)


@dataclass(frozen=True)
class PageCaller:
    """An admin page's caller and the id of the live staff session it came with."""

    principal: Principal
    session_id: int


async def staff_page_caller(
    reader: Reader, token: str, settings: Settings, meta: RequestMeta
) -> PageCaller | None:
    """The user of the live staff session behind the cookie's token, for a page: one
    statement outside any transaction (the last-seen stamp, when due, commits on its own)."""
    found = await resolve_session_identity(reader, token, settings)
    if found is None:
        return None
    principal = principal_for(found.identity, channel="admin", auth_method="session", meta=meta)
    return PageCaller(principal=principal, session_id=found.session_id)
