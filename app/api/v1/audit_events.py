"""The audit log, read-only (audit:read)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from app.api.deps import ReaderDep, require
from app.api.lean import lean
from app.api.pages import list_route, rows_page_response
from app.api.responses import ProblemRoute
from app.audit_log.schemas import AuditEventRead
from app.audit_log.service import LIST_SPEC
from app.auth.principal import Principal

router = APIRouter(prefix="/audit-events", tags=["audit"], route_class=ProblemRoute)


@router.get("", **list_route(LIST_SPEC, AuditEventRead, "Newest first by default."))
@lean
async def list_audit_events(
    request: Request,
    rows: ReaderDep,
    _: Annotated[Principal, Depends(require("audit:read"))],
) -> Response:
    """Audit events, filtered by actor, resource, action, channel and time range."""
    return await rows_page_response(request, rows, LIST_SPEC, AuditEventRead)
