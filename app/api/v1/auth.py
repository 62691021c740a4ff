"""OAuth2 password flow: token, refresh, logout."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from app.api.deps import RateLimiterDep, RequestMetaDep, SessionDep, SettingsDep
from app.api.idempotency import mark_secret
from app.api.responses import ProblemRoute, problems
from app.auth import login, oauth
from app.auth.principal import Principal
from app.auth.schemas import RefreshRequest, TokenResponse
from app.errors import NotAuthenticated, RateLimited

router = APIRouter(prefix="/auth", tags=["auth"], route_class=ProblemRoute)


@router.post("/token", response_model=TokenResponse, responses=problems(422))
async def issue_token(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    limiter: RateLimiterDep,
    meta: RequestMetaDep,
    username: Annotated[str, Form(max_length=320)],
    password: Annotated[str, Form(max_length=1024)],
) -> TokenResponse:
    """Exchange email + password for an access token and a refresh token."""
    mark_secret(request)
    throttle = await login.login_allowed(limiter, settings.rate_limit_login, meta.ip, username)
    if not throttle.allowed:
        raise RateLimited(
            "Too many login attempts; wait and try again.",
            headers={"Retry-After": str(throttle.reset_after)},
        )
    anonymous = Principal.anonymous("api", meta)
    result = await login.login_with_password(session, anonymous, username, password)
    if result.user is None:
        # The failure count and its audit row must survive the refusal.
        await session.commit()
        raise NotAuthenticated(login.GENERIC_LOGIN_ERROR)
    issued = await oauth.issue_tokens(session, result.user, settings)
    return TokenResponse(
        access_token=issued.access_token,
        expires_in=issued.expires_in,
        refresh_token=issued.refresh_token,
    )


async def throttle_by_ip(
    settings: SettingsDep, limiter: RateLimiterDep, meta: RequestMetaDep
) -> None:
    """RATE_LIMIT_LOGIN per client IP (SPEC §14): these endpoints take anonymous callers.

    The same bucket as the token endpoint's per-IP count, before any database work.
    """
    result = await limiter.hit(settings.rate_limit_login, "login-ip", meta.ip or "unknown")
    if not result.allowed:
        raise RateLimited(
            "Too many requests from this address; wait and try again.",
            headers={"Retry-After": str(result.reset_after)},
        )


@router.post(
    "/refresh",
    response_model=TokenResponse,
    responses=problems(422, 429),
    dependencies=[Depends(throttle_by_ip)],
)
async def refresh_token(
    request: Request,
    body: RefreshRequest,
    session: SessionDep,
    settings: SettingsDep,
    meta: RequestMetaDep,
) -> TokenResponse:
    """Spend a refresh token for a new pair; reusing a spent one revokes its whole family."""
    mark_secret(request)
    issued = await oauth.rotate_refresh_token(
        session, Principal.anonymous("api", meta), body.refresh_token, settings
    )
    if issued is None:
        await session.commit()  # keep a reuse-triggered family revocation
        raise NotAuthenticated("The refresh token is invalid, expired or already used.")
    return TokenResponse(
        access_token=issued.access_token,
        expires_in=issued.expires_in,
        refresh_token=issued.refresh_token,
    )


@router.post(
    "/logout", status_code=204, responses=problems(422, 429), dependencies=[Depends(throttle_by_ip)]
)
async def logout(body: RefreshRequest, session: SessionDep, meta: RequestMetaDep) -> Response:
    """Revoke the refresh token's family (idempotent: unknown tokens are ignored)."""
    await oauth.logout(session, Principal.anonymous("api", meta), body.refresh_token)
    return Response(status_code=204)
