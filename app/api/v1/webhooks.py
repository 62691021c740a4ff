"""Webhook endpoints and their deliveries (webhooks:manage)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from app.api.conditional import expected_version
from app.api.deps import ReaderDep, RowId, SessionDep, SettingsDep, require
from app.api.idempotency import mark_secret
from app.api.pages import list_route, row_response, rows_page_response
from app.api.responses import ProblemRoute, problems
from app.auth.principal import Principal
from app.infra.db_reads import SqlaReader
from app.models import WebhookEndpoint
from app.webhooks import service
from app.webhooks.schemas import (
    WebhookDeliveryRead,
    WebhookEndpointCreate,
    WebhookEndpointCreated,
    WebhookEndpointRead,
    WebhookEndpointUpdate,
)

router = APIRouter(prefix="/webhooks", tags=["webhooks"], route_class=ProblemRoute)
Manager = Annotated[Principal, Depends(require("webhooks:manage"))]


@router.get("", **list_route(service.ENDPOINT_SPEC, WebhookEndpointRead, "By id by default."))
async def list_webhook_endpoints(request: Request, rows: ReaderDep, _: Manager) -> Response:
    """Registered endpoints with their failure state (never their secrets)."""
    return await rows_page_response(request, rows, service.ENDPOINT_SPEC, WebhookEndpointRead)


@router.post(
    "",
    response_model=WebhookEndpointCreated,
    status_code=201,
    responses=problems(403, 413, 415, 422),
)
async def create_webhook_endpoint(
    body: WebhookEndpointCreate,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: Manager,
) -> Response:
    """Register an endpoint; the response is the only time its signing secret is shown."""
    mark_secret(request)  # never kept for an Idempotency-Key replay
    endpoint, secret = await service.create_endpoint(session, principal, settings, body)
    return _with_secret(endpoint, secret, status_code=201)


def _with_secret(endpoint: WebhookEndpoint, secret: str, *, status_code: int) -> Response:
    """The endpoint and its new secret, never cached (the response holds a credential)."""
    data = WebhookEndpointRead.model_validate(endpoint).model_dump(mode="json")
    headers = {"ETag": f'"{endpoint.version}"', "Cache-Control": "no-store"}
    if status_code == 201:
        headers["Location"] = f"/api/v1/webhooks/{endpoint.id}"
    return Response(
        content=WebhookEndpointCreated(**data, secret=secret).model_dump_json(),
        status_code=status_code,
        media_type="application/json",
        headers=headers,
    )


@router.get("/{endpoint_id}", response_model=WebhookEndpointRead, responses=problems(304, 403, 404))
async def read_webhook_endpoint(
    endpoint_id: RowId, request: Request, session: SessionDep, _: Manager
) -> Response:
    """One endpoint, with its failure state."""
    return row_response(
        request, await service.get_endpoint(session, endpoint_id), WebhookEndpointRead
    )


@router.patch(
    "/{endpoint_id}",
    response_model=WebhookEndpointRead,
    responses=problems(403, 404, 412, 413, 415, 422),
)
async def update_webhook_endpoint(
    endpoint_id: RowId,
    body: WebhookEndpointUpdate,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: Manager,
) -> Response:
    """Edit an endpoint (re-activating it clears its failure streak)."""
    endpoint = await service.update_endpoint(
        session, principal, settings, endpoint_id, body, expected_version=expected_version(request)
    )
    return row_response(request, endpoint, WebhookEndpointRead)


@router.delete("/{endpoint_id}", status_code=204, responses=problems(403, 404, 412))
async def delete_webhook_endpoint(
    endpoint_id: RowId, request: Request, session: SessionDep, principal: Manager
) -> Response:
    """Remove an endpoint and its pending deliveries."""
    await service.delete_endpoint(
        session, principal, endpoint_id, expected_version=expected_version(request)
    )
    return Response(status_code=204)


@router.post(
    "/{endpoint_id}/ping",
    response_model=WebhookDeliveryRead,
    status_code=202,
    responses=problems(403, 404),
)
async def ping_webhook_endpoint(
    endpoint_id: RowId, request: Request, session: SessionDep, principal: Manager
) -> Response:
    """Queue a `ping` event for this endpoint; the worker delivers it."""
    delivery = await service.ping(
        session, principal, await service.get_endpoint(session, endpoint_id)
    )
    return row_response(request, delivery, WebhookDeliveryRead, status_code=202)


@router.post(
    "/{endpoint_id}/rotate-secret",
    response_model=WebhookEndpointCreated,
    responses=problems(403, 404, 412),
)
async def rotate_webhook_secret(
    endpoint_id: RowId, request: Request, session: SessionDep, principal: Manager
) -> Response:
    """Issue a new signing secret; the old one stops signing at once, the new one is shown
    this once."""
    mark_secret(request)  # never kept for an Idempotency-Key replay
    endpoint, secret = await service.rotate_secret(
        session, principal, endpoint_id, expected_version=expected_version(request)
    )
    return _with_secret(endpoint, secret, status_code=200)


@router.get(
    "/{endpoint_id}/deliveries",
    **list_route(
        service.DELIVERY_SPEC,
        WebhookDeliveryRead,
        "Newest first by default; `status` is pending, succeeded or failed.",
        404,
    ),
)
async def list_webhook_deliveries(
    endpoint_id: RowId, request: Request, session: SessionDep, _: Manager
) -> Response:
    """This endpoint's deliveries, with every attempt."""
    await service.get_endpoint(session, endpoint_id)
    return await rows_page_response(
        request,
        SqlaReader(session),
        service.DELIVERY_SPEC,
        WebhookDeliveryRead,
        within={"endpoint_id": endpoint_id},
    )


@router.post(
    "/deliveries/{delivery_id}/resend",
    response_model=WebhookDeliveryRead,
    responses=problems(403, 404, 409),
)
async def resend_webhook_delivery(
    delivery_id: RowId, request: Request, session: SessionDep, principal: Manager
) -> Response:
    """Queue a finished delivery again (its attempt history is kept)."""
    delivery = await service.resend(session, principal, delivery_id)
    return row_response(request, delivery, WebhookDeliveryRead)
