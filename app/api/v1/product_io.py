"""Product CSV export (streamed, filtered like the list, spreadsheet-safe) and import."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from sqlalchemy import select
from starlette.exceptions import HTTPException

from app.api.deps import DatabaseDep, SessionDep, require
from app.api.pages import cursor_codec
from app.api.responses import ProblemRoute, problems
from app.auth.principal import Principal
from app.csv_cells import escape_cell
from app.errors import BadRequest, ValidationFailed
from app.infra.db import Database
from app.lists.grammar import ListQuery, parse_list_query
from app.lists.statements import list_statement
from app.models import Product
from app.products import importer
from app.products.service import LIST_SPEC

router = APIRouter(prefix="/products", tags=["products"], route_class=ProblemRoute)
EXPORT_COLUMNS = ["sku", "name", "description", "price", "stock", "reorder_level", "is_active"]
STREAM_BATCH = 1000


async def _csv_rows(database: Database, query: ListQuery) -> AsyncIterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(EXPORT_COLUMNS)
    # Plain column rows, not ORM objects: nothing accumulates in an identity map.
    columns = [getattr(Product, name) for name in EXPORT_COLUMNS]
    statement = list_statement(LIST_SPEC, query, select(*columns)).execution_options(
        yield_per=STREAM_BATCH
    )
    # Its own session: the request's unit of work has ended before streaming starts.
    # A read-only one: a long export must not hold SQLite's write lock.
    async with database.read_session() as session:
        result = await session.stream(statement, query.params())
        async for partition in result.partitions():
            for sku, name, description, price, stock, reorder_level, is_active in partition:
                cells = [
                    sku,
                    name,
                    description,
                    f"{price:.2f}",
                    str(stock),
                    str(reorder_level),
                    str(is_active).lower(),
                ]
                # Every cell, numbers included (SPEC §14 says every cell): price, stock and
                # reorder_level are never negative (CHECK constraints), so no number starts
                # with `-` today; if one ever did, it would read `'-1` in a spreadsheet and
                # still import back as -1, because the importer unescapes every cell.
                writer.writerow([escape_cell(cell) for cell in cells])
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    if buffer.getvalue():
        yield buffer.getvalue().encode()


@router.get(
    "/export.csv",
    responses={
        **problems(400, 403, 422),
        200: {"content": {"text/csv": {}}, "description": "CSV, streamed"},
    },
    description=f"Streams every product matching the list filters. {LIST_SPEC.describe()}.",
)
async def export_products(
    request: Request,
    database: DatabaseDep,
    _: Annotated[Principal, Depends(require("products:read"))],
    sort: Annotated[str | None, Query(description="a sortable field; `-` descends")] = None,
    q: Annotated[str | None, Query(description="text search")] = None,
) -> StreamingResponse:
    """Export products as CSV (the same filters, search and sort as the list)."""
    params = {k: v for k, v in request.query_params.items() if k not in {"limit", "cursor"}}
    query = parse_list_query(LIST_SPEC, params, cursor_codec(request))
    return StreamingResponse(
        _csv_rows(database, query),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="products.csv"'},
    )


async def _uploaded_csv(request: Request) -> bytes:
    content_type = request.headers.get("content-type", "").lower()
    if content_type.startswith("multipart/form-data"):
        try:
            form = await request.form(max_files=1, max_fields=10)
        except HTTPException:
            raise  # the body guard's 413, Starlette's 400 for a malformed multipart body
        except Exception:
            raise BadRequest("The multipart body could not be read.") from None
        try:
            upload = form.get("file")
            if upload is None or isinstance(upload, str):
                raise ValidationFailed(
                    "Upload the CSV as the form field `file`.",
                    errors=[{"loc": ["body", "file"], "message": "required", "type": "missing"}],
                )
            return await upload.read()
        finally:
            await form.close()  # the spooled temporary files of the upload
    return await request.body()


@router.post(
    "/import",
    responses={
        **problems(400, 403, 413, 415, 422),
        200: {"description": "The import report (applied, or a dry run)"},
    },
    openapi_extra={
        "requestBody": {
            "content": {
                "text/csv": {
                    "schema": {"type": "string"},
                    "example": "sku,name,price,stock\nWID-001,Widget,12.50,100\n",
                },
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {"file": {"type": "string", "format": "binary"}},
                    }
                },
            }
        }
    },
)
async def import_products(
    request: Request,
    session: SessionDep,
    principal: Annotated[Principal, Depends(require("products:import"))],
    dry_run: Annotated[bool, Query(description="validate only; change nothing")] = False,
) -> Response:
    """Upsert products by SKU from CSV: every line valid and all applied, or nothing."""
    report = await importer.import_products(
        session, principal, await _uploaded_csv(request), dry_run=dry_run
    )
    if report.errors:
        raise ValidationFailed(
            f"{len(report.errors)} problem(s) in the file; nothing was imported.",
            errors=[error.as_problem() for error in report.errors],
            report={k: v for k, v in report.as_dict().items() if k != "errors"},
        )
    return JSONResponse(report.as_dict())
