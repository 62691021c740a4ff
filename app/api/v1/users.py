"""Staff users: list, read, create, edit, deactivate (users:read / users:manage)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status
from sqlalchemy import select

from app.api.conditional import expected_version, is_not_modified, set_etag
from app.api.deps import RowId, SessionDep, require
from app.api.pages import list_route, page_response
from app.api.responses import ProblemRoute, problems
from app.auth.principal import Principal
from app.models import User
from app.users import service
from app.users.commands import CreateUser, UpdateUser
from app.users.schemas import UserRead

# Roles come in one more statement for the whole page (the relationship loads "selectin").
_USERS = select(User)
router = APIRouter(prefix="/users", tags=["users"], route_class=ProblemRoute)
CanRead = Annotated[Principal, Depends(require("users:read"))]
CanManage = Annotated[Principal, Depends(require("users:manage"))]


@router.get("", **list_route(service.LIST_SPEC, UserRead, "By email by default."))
async def list_users(request: Request, session: SessionDep, _: CanRead) -> Response:
    """Staff users, with their roles."""
    return await page_response(request, session, service.LIST_SPEC, UserRead, _USERS)


@router.get("/{user_id}", response_model=UserRead, responses=problems(304, 403, 404))
async def read_user(
    user_id: RowId, request: Request, response: Response, session: SessionDep, _: CanRead
) -> UserRead | Response:
    """One user, with an ETag of its version."""
    user = await service.get_user(session, user_id)
    if is_not_modified(request, user.version):
        return Response(status_code=304, headers={"ETag": f'"{user.version}"'})
    set_etag(response, user.version)
    return UserRead.model_validate(user)


@router.post(
    "",
    response_model=UserRead,
    status_code=status.HTTP_201_CREATED,
    responses=problems(403, 409, 422),
)
async def create_user(
    body: CreateUser, response: Response, session: SessionDep, principal: CanManage
) -> UserRead:
    """Create a staff user with roles."""
    user = await service.create_user(session, principal, body)
    response.headers["Location"] = f"/api/v1/users/{user.id}"
    set_etag(response, user.version)
    return UserRead.model_validate(user)


@router.patch(
    "/{user_id}",
    response_model=UserRead,
    responses=problems(403, 404, 409, 412, 422),
)
async def update_user(
    user_id: RowId,
    body: UpdateUser,
    request: Request,
    response: Response,
    session: SessionDep,
    principal: CanManage,
) -> UserRead:
    """Edit a user; removing roles or deactivating takes effect on their next request."""
    user = await service.update_user(
        session, principal, user_id, body, expected_version=expected_version(request)
    )
    set_etag(response, user.version)
    return UserRead.model_validate(user)


@router.post("/{user_id}/deactivate", response_model=UserRead, responses=problems(403, 404))
async def deactivate_user(
    user_id: RowId, response: Response, session: SessionDep, principal: CanManage
) -> UserRead:
    """Deactivate a user: their sessions and tokens stop working at once."""
    user = await service.deactivate_user(
        session, principal, await service.get_user(session, user_id)
    )
    await session.flush()
    set_etag(response, user.version)
    return UserRead.model_validate(user)
