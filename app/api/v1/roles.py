"""Roles and the permission registry (roles:manage; reading: users:read)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status

from app.api.conditional import (
    etag_for,
    expected_version,
    is_not_modified,
    set_etag,
)
from app.api.deps import ReaderDep, RowId, SessionDep, require
from app.api.pages import list_route, rows_page_response
from app.api.responses import ProblemRoute, problems
from app.auth.principal import Principal
from app.roles import service
from app.roles.commands import CreateRole, UpdateRole
from app.users.schemas import PermissionRead, RoleRead

router = APIRouter(tags=["roles"], route_class=ProblemRoute)
CanRead = Annotated[Principal, Depends(require("users:read"))]
CanManage = Annotated[Principal, Depends(require("roles:manage"))]


@router.get("/permissions", **list_route(service.PERMISSION_SPEC, PermissionRead, ""))
async def list_permissions(request: Request, rows: ReaderDep, _: CanRead) -> Response:
    """The permissions the policy knows, with what each allows."""
    return await rows_page_response(request, rows, service.PERMISSION_SPEC, PermissionRead)


@router.get("/roles", **list_route(service.LIST_SPEC, RoleRead, "By name by default."))
async def list_roles(request: Request, rows: ReaderDep, _: CanRead) -> Response:
    """Roles with their permissions."""
    return await rows_page_response(request, rows, service.LIST_SPEC, RoleRead)


@router.get("/roles/{role_id}", response_model=RoleRead, responses=problems(304, 403, 404))
async def read_role(
    role_id: RowId, request: Request, response: Response, session: SessionDep, _: CanRead
) -> RoleRead | Response:
    """One role, with an ETag of its version."""
    role = await service.get_role(session, role_id)
    if is_not_modified(request, role.version):
        return Response(status_code=304, headers={"ETag": etag_for(role.version)})
    set_etag(response, role.version)
    return RoleRead.model_validate(role)


@router.post(
    "/roles",
    response_model=RoleRead,
    status_code=status.HTTP_201_CREATED,
    responses=problems(403, 409, 422),
)
async def create_role(
    body: CreateRole, response: Response, session: SessionDep, principal: CanManage
) -> RoleRead:
    """Create a custom role from registry permissions."""
    role = await service.create_role(session, principal, body)
    response.headers["Location"] = f"/api/v1/roles/{role.id}"
    set_etag(response, role.version)
    return RoleRead.model_validate(role)


@router.patch(
    "/roles/{role_id}",
    response_model=RoleRead,
    responses=problems(403, 404, 409, 412, 422),
)
async def update_role(
    role_id: RowId,
    body: UpdateRole,
    request: Request,
    response: Response,
    session: SessionDep,
    principal: CanManage,
) -> RoleRead:
    """Edit a role; its members' access changes on their next request."""
    role = await service.update_role(
        session, principal, role_id, body, expected_version=expected_version(request)
    )
    set_etag(response, role.version)
    return RoleRead.model_validate(role)


@router.delete(
    "/roles/{role_id}",
    status_code=204,
    responses=problems(403, 404, 409, 412),
)
async def delete_role(
    role_id: RowId, request: Request, session: SessionDep, principal: CanManage
) -> Response:
    """Delete a custom role nobody holds."""
    await service.delete_role(
        session, principal, role_id, expected_version=expected_version(request)
    )
    return Response(status_code=204)
