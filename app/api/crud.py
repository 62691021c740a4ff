"""A router factory for the plain resources (customers, products): one copy of the CRUD rules.

The handlers only translate: the body is the domain's command (its schema is the command
class), If-Match is the version the service checks; every rule is the service's.

No `from __future__ import annotations` here: FastAPI must see the real schema classes in
the endpoint signatures built inside the factory.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from app.api.conditional import expected_version
from app.api.deps import MAX_ROW_ID, ReaderDep, SessionDep, require
from app.api.lean import lean
from app.api.pages import Page, list_openapi, row_response, rows_page_response
from app.api.responses import ProblemRoute, problems
from app.auth.principal import Principal
from app.commands import Writes
from app.lists.grammar import ListSpec


@dataclass(frozen=True)
class Resource:
    """A resource's name, schemas and service functions.

    `create` and `update` are the bodies: the commands of `writes` (or subclasses of them
    that only add OpenAPI examples)."""

    name: str  # plural, as in the URL and the permission: "customers"
    singular: str
    spec: ListSpec
    read: type[BaseModel]
    create: type[BaseModel]
    update: type[BaseModel]
    get: Callable[[AsyncSession, int], Awaitable[Any]]
    writes: Writes
    unique_field: str


def crud_router(res: Resource) -> APIRouter:
    """GET list, GET one, POST, PATCH, DELETE for `res`, each behind `<name>:<action>`."""
    router = APIRouter(prefix=f"/{res.name}", tags=[res.name], route_class=ProblemRoute)
    reader = Annotated[Principal, Depends(require(f"{res.name}:read"))]
    creator = Annotated[Principal, Depends(require(f"{res.name}:create"))]
    updater = Annotated[Principal, Depends(require(f"{res.name}:update"))]
    deleter = Annotated[Principal, Depends(require(f"{res.name}:delete"))]
    read_schema, create_schema, update_schema = res.read, res.create, res.update
    # One path-parameter name per resource (`product_id`), as a hand-written client has it.
    id_name = f"{res.singular}_id"
    row_id_path = Annotated[int, Path(alias=id_name, ge=1, le=MAX_ROW_ID)]

    @router.get(
        "",
        response_model=Page[read_schema],  # type: ignore[valid-type]
        responses=problems(400, 403, 422),
        name=f"list_{res.name}",
        summary=f"List {res.name}",
        description=f"A keyset-paginated page of {res.name}. {res.spec.describe()}.",
        openapi_extra=list_openapi(res.spec),
    )
    @lean
    async def list_rows(
        request: Request,
        rows: ReaderDep,
        _: reader,
    ) -> Response:
        return await rows_page_response(request, rows, res.spec, read_schema)

    @router.get(
        f"/{{{id_name}}}",
        response_model=read_schema,
        responses=problems(304, 403, 404),
        name=f"read_{res.singular}",
        summary=f"Read one {res.singular}",
    )
    async def read_row(
        row_id: row_id_path,
        request: Request,
        session: SessionDep,
        _: reader,
    ) -> Response:
        return row_response(request, await res.get(session, row_id), read_schema)

    @router.post(
        "",
        response_model=read_schema,
        status_code=201,
        responses=problems(403, 409, 413, 415, 422),
        name=f"create_{res.singular}",
        summary=f"Create a {res.singular}",
        description=f"409 names `{res.unique_field}` when it is taken.",
    )
    async def create_row(
        body: create_schema,  # type: ignore[valid-type]
        request: Request,
        session: SessionDep,
        principal: creator,
    ) -> Response:
        row = await res.writes.create(session, principal, body)
        return row_response(
            request, row, read_schema, status_code=201, location=f"/api/v1/{res.name}/{row.id}"
        )

    @router.patch(
        f"/{{{id_name}}}",
        response_model=read_schema,
        responses=problems(403, 404, 409, 412, 413, 415, 422),
        name=f"update_{res.singular}",
        summary=f"Edit a {res.singular}",
        description="Send `If-Match` with the ETag you read: a stale one gives 412.",
    )
    async def update_row(
        row_id: row_id_path,
        body: update_schema,  # type: ignore[valid-type]
        request: Request,
        session: SessionDep,
        principal: updater,
    ) -> Response:
        row = await res.writes.update(
            session, principal, row_id, body, expected_version=expected_version(request)
        )
        return row_response(request, row, read_schema)

    @router.delete(
        f"/{{{id_name}}}",
        status_code=204,
        responses=problems(403, 404, 409, 412),
        name=f"delete_{res.singular}",
        summary=f"Delete a {res.singular}",
        description="409 while orders reference it: deactivate it instead.",
    )
    async def delete_row(
        row_id: row_id_path,
        request: Request,
        session: SessionDep,
        principal: deleter,
    ) -> Response:
        await res.writes.delete(
            session, principal, row_id, expected_version=expected_version(request)
        )
        return Response(status_code=204)

    return router
