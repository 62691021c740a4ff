"""Liveness and readiness probes."""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from app.api.deps import DatabaseDep
from app.infra.migrations import current_revision, head_revision

router = APIRouter(tags=["health"])
logger = logging.getLogger(__name__)
READINESS_TIMEOUT_SECONDS = 4


@router.get("/healthz", summary="The process is alive")
async def healthz() -> dict[str, str]:
    """Answers 200 while the process can serve requests at all."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="The database is reachable and migrated to head",
    responses={503: {"description": "Database unreachable or migrations pending"}},
)
async def readyz(database: DatabaseDep) -> JSONResponse:
    """Answers 200 only when the database answers and its schema is at the head revision."""
    head = head_revision()
    try:
        async with asyncio.timeout(READINESS_TIMEOUT_SECONDS):
            async with database.connect_read_only() as connection:
                current = await current_revision(connection)
    except Exception as exc:  # any failure to reach the database means "not ready"
        logger.warning("readiness check failed: %s", type(exc).__name__)
        return JSONResponse(
            {"status": "unavailable", "database": "unreachable", "migrations": "unknown"},
            status_code=503,
        )
    if current != head:
        return JSONResponse(
            {"status": "unavailable", "database": "ok", "migrations": f"{current} != {head}"},
            status_code=503,
        )
    return JSONResponse({"status": "ready", "database": "ok", "migrations": "head"})
