"""Typed dependencies for API handlers: session, settings, the calling Principal, permissions."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Path, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer, OAuth2PasswordBearer
from sqlalchemy.ext.asyncio import AsyncSession

from app.api.idempotency import KEYED_UNIT_STATE, KeyedUnit
from app.auth.principal import PRINCIPAL_STATE, Principal, RequestMeta, principal_in
from app.commands import authorize
from app.edge import callers
from app.errors import NotAuthenticated, RateLimited
from app.infra.db import Database, transaction
from app.infra.db_reads import Reader, SqlaReader
from app.infra.ratelimit import API_BUCKET, RateLimiter
from app.infra.settings import Settings


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
    return callers.request_meta(request)


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
    """The API caller, authenticated once per request and counted once toward the rate limit.

    The one implementation behind `get_principal` and the idempotency layer (the lean
    routes, app/api/lean.py, send the same lookup with their first read and `admit` its
    result): whichever runs first authenticates, and leaves the Principal in the request's
    scope state for the others (and for a re-run, app/edge/retry.py).
    """
    known = principal_in(request.scope)
    if known is not None:
        return known
    return await admit(request, await bearer_lookup(request).resolve(reader))


def bearer_lookup(request: Request) -> callers.BearerLookup:
    """How to resolve the request's bearer credential; NotAuthenticated at once when it
    holds none that could be good (no header, not Bearer, a bad or expired JWT)."""
    settings: Settings = request.app.state.settings
    authorization = request.headers.get("authorization", "")
    lookup = callers.bearer_lookup(authorization, settings, callers.request_meta(request))
    if lookup is None:
        raise NotAuthenticated()
    return lookup


async def admit(request: Request, principal: Principal | None) -> Principal:
    """The caller a credential resolved to, counted toward the rate limit and kept in the
    request's scope state; NotAuthenticated when it resolved to nobody."""
    if principal is None:
        raise NotAuthenticated()
    state = request.scope.setdefault("state", {})
    state["user_id"] = principal.user_id  # for the access log
    await _count_toward_rate_limit(request, request.app.state.settings, principal)
    # Kept only once it passed the rate limit: a refused caller is asked again, and refused.
    state[PRINCIPAL_STATE] = principal
    return principal


async def _count_toward_rate_limit(
    request: Request, settings: Settings, principal: Principal
) -> None:
    """One hit on the caller's person (SPEC §14: all of a user's tokens share one budget)."""
    limiter: RateLimiter = request.app.state.rate_limiter
    result = await limiter.hit(settings.rate_limit_api, API_BUCKET, principal.person_key)
    # Read by RateLimitHeadersMiddleware, which stamps every response of this request.
    request.scope.setdefault("state", {})["ratelimit_headers"] = result.headers()
    if not result.allowed:
        raise RateLimited(
            "Rate limit exceeded; slow down.",
            headers={**result.headers(), "Retry-After": str(result.reset_after)},
        )


# The OpenAPI document's bearer security, declared the way FastAPI documents it: every
# operation that depends on get_principal lists both schemes (the /docs Authorize button
# offers either; both read the same `Authorization: Bearer …` header). They never refuse on
# their own (auto_error=False): `authenticate` decides, and session cookies are never
# looked at on /api.
OAUTH2_SCHEME = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)
BEARER_SCHEME = HTTPBearer(auto_error=False, description="A personal API token (bo_…)")


async def get_principal(
    request: Request,
    reader: ReaderDep,
    _oauth2: Annotated[str | None, Security(OAUTH2_SCHEME)],
    _bearer: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER_SCHEME)],
) -> Principal:
    """The calling Principal (the two schemes only document the credential)."""
    return await authenticate(request, reader)


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def ensure_permission(principal: Principal, permission: str) -> Principal:
    """`principal`, if it holds `permission`: the services' own check (app/commands.py
    `authorize`), asked early at the door; PermissionDenied otherwise."""
    authorize(principal, permission)
    return principal


def require(permission: str) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency that lets the request through only if `can(principal, permission)`."""

    async def check(principal: PrincipalDep) -> Principal:
        return ensure_permission(principal, permission)

    check.__name__ = f"require_{permission.replace(':', '_')}"
    check.permission = permission  # type: ignore[attr-defined]  # read by app/api/lean.py
    return check
