"""The audit log, read-only (audit:read)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from app.api.deps import SessionDep, reads_only, require
from app.api.pages import Page, list_openapi, page_response
from app.api.responses import ProblemRoute, problems
from app.audit_log.schemas import AuditEventRead
from app.audit_log.service import LIST_SPEC
from app.auth.principal import Principal

router = APIRouter(prefix="/audit-events", tags=["audit"], route_class=ProblemRoute)


@router.get(
    "",
    response_model=Page[AuditEventRead],
    responses=problems(400, 403, 422),
    description=f"Newest first by default. {LIST_SPEC.describe()}.",
    openapi_extra=list_openapi(LIST_SPEC),
)
@reads_only
async def list_audit_events(
    request: Request,
    session: SessionDep,
    _: Annotated[Principal, Depends(require("audit:read"))],
) -> Response:
    """Audit events, filtered by actor, resource, action, channel and time range."""
    return await page_response(request, session, LIST_SPEC, AuditEventRead)
