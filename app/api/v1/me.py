"""The caller: who they are, their personal API tokens, their password."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status

from app.api.deps import PrincipalDep, RateLimiterDep, ReaderDep, RowId, SessionDep, SettingsDep
from app.api.idempotency import mark_secret
from app.api.pages import list_route, rows_page_response
from app.api.responses import ProblemRoute, problems
from app.auth import api_tokens, repository
from app.auth.login import LoginThrottle
from app.auth.schemas import ApiTokenCreated, ApiTokenRead, MeRead, RoleBrief
from app.auth.token_commands import CreateToken
from app.errors import NotAuthenticated, NotFound
from app.models import User
from app.users import service as users_service
from app.users.commands import ChangePassword

router = APIRouter(prefix="/me", tags=["me"], route_class=ProblemRoute)


async def _current_user(session: SessionDep, principal: PrincipalDep) -> User:
    user = await repository.get_user_with_roles(session, principal.user_id or 0)
    if user is None:
        raise NotAuthenticated()
    return user


@router.get("", response_model=MeRead, responses=problems())
async def read_me(session: SessionDep, principal: PrincipalDep) -> MeRead:
    """The caller's user, roles, effective permissions and how they authenticated."""
    user = await _current_user(session, principal)
    return MeRead(
        id=user.id,
        email=user.email,
        full_name=user.full_name,
        roles=[RoleBrief.model_validate(role) for role in user.roles],
        permissions=sorted(principal.permissions),
        auth_method=principal.auth_method,
        token_id=principal.token_id,
        scopes=list(principal.scopes) if principal.token_id is not None else None,
    )


@router.get("/tokens", **list_route(api_tokens.LIST_SPEC, ApiTokenRead, "Newest first by default."))
async def list_my_tokens(request: Request, rows: ReaderDep, principal: PrincipalDep) -> Response:
    """The caller's personal API tokens (never the tokens themselves)."""
    scope = api_tokens.own_tokens_scope(principal)
    return await rows_page_response(request, rows, api_tokens.LIST_SPEC, ApiTokenRead, scope)


@router.post(
    "/tokens",
    response_model=ApiTokenCreated,
    status_code=status.HTTP_201_CREATED,
    responses=problems(403, 409, 422),
)
async def create_my_token(
    body: CreateToken,
    session: SessionDep,
    principal: PrincipalDep,
    request: Request,
    response: Response,
) -> ApiTokenCreated:
    """Create a personal API token; the response is the only time the token is shown.

    A scoped token may create tokens only within its own scopes (403 otherwise).
    """
    mark_secret(request)
    user = await _current_user(session, principal)
    token, plaintext = await api_tokens.create_token(session, principal, user, body)
    response.headers["Location"] = f"/api/v1/me/tokens/{token.id}"
    return ApiTokenCreated(**ApiTokenRead.model_validate(token).model_dump(), token=plaintext)


@router.delete(
    "/tokens/{token_id}",
    status_code=204,
    responses=problems(403, 404),
)
async def revoke_my_token(
    token_id: RowId, session: SessionDep, principal: PrincipalDep
) -> Response:
    """Revoke one of the caller's tokens (takes effect on the next request)."""
    token = await repository.get_api_token(session, token_id)
    if token is None or token.user_id != principal.user_id:
        raise NotFound("No such token.")
    await api_tokens.revoke_token(session, principal, token_id)
    return Response(status_code=204)


@router.post("/password", status_code=204, responses=problems(403, 422, 429))
async def change_my_password(
    body: ChangePassword,
    session: SessionDep,
    principal: PrincipalDep,
    settings: SettingsDep,
    limiter: RateLimiterDep,
) -> Response:
    """Change one's password; every session and OAuth token issued before is revoked."""
    user = await _current_user(session, principal)
    await users_service.change_password(
        session,
        principal,
        user,
        body,
        throttle=LoginThrottle(limiter, settings.rate_limit_login),
    )
    return Response(status_code=204)
