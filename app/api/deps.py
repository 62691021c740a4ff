"""Typed dependencies for API handlers: session, settings, the calling Principal, permissions."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Path, Request
from sqlalchemy.ext.asyncio import AsyncSession

from app.api.idempotency import KEYED_UNIT_STATE, KeyedUnit
from app.auth.api_tokens import authenticate_personal_token
from app.auth.oauth import user_for_access_token
from app.auth.principal import AuthMethod, Principal, RequestMeta, principal_for
from app.auth.tokens import looks_like_personal_token
from app.db import Database, transaction
from app.db_reads import Reader, SqlaReader
from app.errors import NotAuthenticated, PermissionDenied, RateLimited
from app.permissions import can
from app.ratelimit import RateLimiter
from app.settings import Settings


def get_database(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


# Dependencies are `async def` on purpose: FastAPI runs a plain `def` dependency in the
# thread pool, a hop per dependency per request for what is an attribute lookup.
async def database_dependency(request: Request) -> Database:
    return get_database(request)


async def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_rate_limiter(request: Request) -> RateLimiter:
    limiter: RateLimiter = request.app.state.rate_limiter
    return limiter


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """The request's unit of work: commits when the handler returns, rolls back on error.

    Under an Idempotency-Key the unit of work is the idempotency layer's: the session
    joins the transaction its claim began, and commits there with the record.
    """
    keyed: KeyedUnit | None = request.scope.get("state", {}).get(KEYED_UNIT_STATE)
    if keyed is not None:
        async with keyed.enlist() as session:
            yield session
        return
    database = get_database(request)
    # A context manager throws the handler's exception into the unit of work, which rolls
    # back at once; `async for` would not, leaving it to the garbage collector's task.
    async with database.connection_slot(), transaction(database.sessionmaker) as session:
        yield session


# scope="function": the commit happens before the response is sent, so a failed commit
# becomes an error response instead of a success the database never saw.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]
DatabaseDep = Annotated[Database, Depends(database_dependency)]
RateLimiterDep = Annotated[RateLimiter, Depends(get_rate_limiter)]


async def request_meta(request: Request) -> RequestMeta:
    """Request id, client IP (already resolved from trusted proxies) and user agent."""
    return RequestMeta(
        request_id=getattr(request.state, "request_id", None),
        ip=request.client.host if request.client else None,
        user_agent=request.headers.get("user-agent"),
    )


RequestMetaDep = Annotated[RequestMeta, Depends(request_meta)]

# Ids are PostgreSQL `integer`s: a path id outside 1..2^31-1 names no row, and is refused
# as a 422 before it can reach the database as a driver error.
MAX_ROW_ID = 2**31 - 1
RowId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]


async def get_reader(session: SessionDep) -> Reader:
    """The request's session as a Reader (lean routes get a driver Reader instead)."""
    return SqlaReader(session)


ReaderDep = Annotated[Reader, Depends(get_reader)]


async def authenticate(request: Request, reader: Reader) -> Principal:
    """Authenticate the bearer token (personal or access token) and count the rate limit.

    The one implementation behind `get_principal` and the lean routes (app/api/lean.py).
    """
    settings: Settings = request.app.state.settings
    limiter: RateLimiter = request.app.state.rate_limiter
    meta = await request_meta(request)
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    credentials = credentials.strip()
    if scheme.lower() != "bearer" or not credentials or len(credentials) > 4096:
        raise NotAuthenticated()
    if looks_like_personal_token(credentials):
        identity = await authenticate_personal_token(reader, credentials, meta.ip)
        auth_method: AuthMethod = "personal_token"
    else:
        identity = await user_for_access_token(reader, credentials, settings)
        auth_method = "access_token"
    if identity is None:
        raise NotAuthenticated()
    principal = principal_for(
        user_id=identity.user_id,
        email=identity.email,
        is_active=identity.is_active,
        role_permissions=identity.role_permissions,
        channel="api",
        auth_method=auth_method,
        meta=meta,
        token_id=identity.token_id,
        scopes=identity.scopes,
    )
    request.state.user_id = principal.user_id
    # Per person, not per credential (SPEC §14): all of a user's tokens share one budget.
    result = await limiter.hit(settings.rate_limit_api, "api", f"user:{principal.user_id}")
    # Read by RateLimitHeadersMiddleware, which stamps every response of this request.
    request.scope.setdefault("state", {})["ratelimit_headers"] = result.headers()
    if not result.allowed:
        raise RateLimited(
            "Rate limit exceeded; slow down.",
            headers={**result.headers(), "Retry-After": str(result.reset_after)},
        )
    return principal


async def get_principal(request: Request, reader: ReaderDep) -> Principal:
    """The calling Principal. Only `request` and the reader are dependencies: each
    dependency FastAPI resolves costs on every request."""
    # The idempotency middleware authenticated keyed POSTs already (and counted the rate
    # limit): the same Principal, not a second lookup.
    known = getattr(request.state, "principal", None)
    if isinstance(known, Principal):
        return known
    return await authenticate(request, reader)


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def ensure_permission(principal: Principal, permission: str) -> Principal:
    """`principal`, if `can(principal, permission)`; PermissionDenied otherwise."""
    if not can(principal, permission):
        raise PermissionDenied(f"This needs the {permission!r} permission.")
    return principal


def require(permission: str) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency that lets the request through only if `can(principal, permission)`."""

    async def check(principal: PrincipalDep) -> Principal:
        return ensure_permission(principal, permission)

    check.__name__ = f"require_{permission.replace(':', '_')}"
    check.permission = permission  # type: ignore[attr-defined]  # read by app/api/lean.py
    return check
