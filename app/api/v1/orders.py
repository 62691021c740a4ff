"""Orders: list and read (with customer and items), create, edit, items, state actions.

Each write only translates: the body is the service's command (app/orders/commands.py),
the path names the row, If-Match the version the service checks under its lock; every
rule is the service's, and the answer is the order it returns, not a second read.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from app.api.conditional import etag_for, expected_version, is_not_modified
from app.api.deps import ReaderDep, RowId, SessionDep, require
from app.api.lean import lean
from app.api.pages import (
    Page,
    cursor_codec,
    list_openapi,
    list_query,
    row_response,
    written_page_response,
)
from app.api.responses import ProblemRoute, problems
from app.auth.principal import Principal
from app.orders import service
from app.orders.commands import Action
from app.orders.reads import fetch_order, fetch_orders_page
from app.orders.schemas import (
    OrderCreate,
    OrderItemCreate,
    OrderItemUpdate,
    OrderRead,
    OrderUpdate,
)

router = APIRouter(prefix="/orders", tags=["orders"], route_class=ProblemRoute)
Reader = Annotated[Principal, Depends(require("orders:read"))]
Creator = Annotated[Principal, Depends(require("orders:create"))]
Updater = Annotated[Principal, Depends(require("orders:update"))]
Deleter = Annotated[Principal, Depends(require("orders:delete"))]


@router.get(
    "",
    response_model=Page[OrderRead],
    responses=problems(400, 403, 422),
    description=f"A keyset-paginated page of orders. {service.LIST_SPEC.describe()}.",
    openapi_extra=list_openapi(service.LIST_SPEC),
)
@lean
async def list_orders(request: Request, rows: ReaderDep, _: Reader) -> Response:
    """List orders with their customer and items (one statement whatever the page size)."""
    query = list_query(request, service.LIST_SPEC)
    page = await fetch_orders_page(rows, service.LIST_SPEC, query, cursor_codec(request))
    return written_page_response(page)


@router.get("/{order_id}", response_model=OrderRead, responses=problems(304, 403, 404))
@lean
async def read_order(order_id: RowId, request: Request, rows: ReaderDep, _: Reader) -> Response:
    """One order with its customer and items (one statement), and its ETag."""
    order = await fetch_order(rows, order_id)
    # row_response's ETag and 304, for an order the database wrote as JSON.
    headers = {"ETag": etag_for(order.version)}
    if is_not_modified(request, order.version):
        return Response(status_code=304, headers=headers)
    return Response(content=order.json, media_type="application/json", headers=headers)


@router.post(
    "", response_model=OrderRead, status_code=201, responses=problems(403, 409, 413, 415, 422)
)
async def create_order(
    body: OrderCreate, request: Request, session: SessionDep, principal: Creator
) -> Response:
    """Create a draft order, optionally with items (prices copied from the products)."""
    order = await service.create_order(session, principal, body)
    return row_response(
        request, order, OrderRead, status_code=201, location=f"/api/v1/orders/{order.id}"
    )


@router.patch(
    "/{order_id}", response_model=OrderRead, responses=problems(403, 404, 409, 412, 413, 415, 422)
)
async def update_order(
    order_id: RowId, body: OrderUpdate, request: Request, session: SessionDep, principal: Updater
) -> Response:
    """Edit notes, or the customer of a draft."""
    order = await service.update_order(
        session, principal, order_id, body, expected_version=expected_version(request)
    )
    return row_response(request, order, OrderRead)


@router.delete("/{order_id}", status_code=204, responses=problems(403, 404, 409, 412))
async def delete_order(
    order_id: RowId, request: Request, session: SessionDep, principal: Deleter
) -> Response:
    """Delete a draft or cancelled order."""
    await service.delete_order(
        session, principal, order_id, expected_version=expected_version(request)
    )
    return Response(status_code=204)


@router.post(
    "/{order_id}/items",
    response_model=OrderRead,
    status_code=201,
    responses=problems(403, 404, 409, 412, 413, 415, 422),
)
async def add_order_item(
    order_id: RowId,
    body: OrderItemCreate,
    request: Request,
    session: SessionDep,
    principal: Updater,
) -> Response:
    """Add a product to a draft order (merged with an existing line for it)."""
    order = await service.add_item(
        session, principal, order_id, body, expected_version=expected_version(request)
    )
    return row_response(
        request, order, OrderRead, status_code=201, location=f"/api/v1/orders/{order.id}"
    )


@router.patch(
    "/{order_id}/items/{item_id}",
    response_model=OrderRead,
    responses=problems(403, 404, 409, 412, 413, 415, 422),
)
async def update_order_item(
    order_id: RowId,
    item_id: RowId,
    body: OrderItemUpdate,
    request: Request,
    session: SessionDep,
    principal: Updater,
) -> Response:
    """Change the quantity of a draft order's line."""
    order = await service.update_item(
        session, principal, order_id, item_id, body, expected_version=expected_version(request)
    )
    return row_response(request, order, OrderRead)


@router.delete(
    "/{order_id}/items/{item_id}", response_model=OrderRead, responses=problems(403, 404, 409, 412)
)
async def remove_order_item(
    order_id: RowId, item_id: RowId, request: Request, session: SessionDep, principal: Updater
) -> Response:
    """Remove a line from a draft order; answers with the updated order."""
    order = await service.remove_item(
        session, principal, order_id, item_id, expected_version=expected_version(request)
    )
    return row_response(request, order, OrderRead)


def _action_route(action: Action, summary: str) -> None:
    # A default-value dependency: the annotation is a plain name FastAPI can resolve.
    async def act(
        order_id: RowId,
        request: Request,
        session: SessionDep,
        principal: Principal = Depends(require(f"orders:{action}")),
    ) -> Response:
        # One locked load in the service: If-Match is checked against the version the
        # action changes, and the answer is the order it changed.
        order = await service.transition(
            session, principal, order_id, action, expected_version=expected_version(request)
        )
        return row_response(request, order, OrderRead)

    act.__doc__ = summary
    act.__name__ = f"{action}_order"
    router.add_api_route(
        f"/{{order_id}}/{action}",
        act,
        methods=["POST"],
        response_model=OrderRead,
        summary=summary,
        responses=problems(403, 404, 409, 412),
    )


_action_route("place", "Place a draft order: reserve stock for every item, or none")
_action_route("pay", "Mark a placed order paid")
_action_route("ship", "Mark a paid order shipped")
_action_route("cancel", "Cancel a draft, placed or paid order (stock returned)")
