"""Shared plumbing for list and single-row endpoints: parse, page, serialize, ETag."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any, Generic, TypeVar

import orjson
from fastapi import Request, Response
from pydantic import BaseModel, Field, TypeAdapter
from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession
from typing_extensions import TypedDict

from app.api.conditional import etag_for, is_not_modified
from app.api.openapi import parameter
from app.api.responses import problems
from app.api.row_json import RowsEncoder, rows_encoder
from app.infra.db_reads import Reader
from app.infra.sql_json import ITEM_JSON, json_items, json_object
from app.lists.cursors import CursorCodec
from app.lists.grammar import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    MAX_SEARCH_LENGTH,
    ListQuery,
    ListSpec,
    filter_params,
    parse_list_query,
)
from app.lists.pages import Page as ListPage
from app.lists.pages import fetch_page, fetch_rows_page
from app.lists.statements import columns_select

ReadT = TypeVar("ReadT", bound=BaseModel)


class Page(BaseModel, Generic[ReadT]):
    """A page of a list: `next_cursor` is null on the last page; `total` only when asked."""

    items: list[ReadT]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last page.",
        examples=["WyItaWQiLDEyMzQsMTIzNF0.q5r0vVb3cJ0n1dJ7m7Zc8A"],
    )
    total: int | None = Field(
        default=None, description="With `include_total=true`: the filtered count.", examples=[1234]
    )


def list_route(
    spec: ListSpec, schema: type[BaseModel], intro: str, *statuses: int
) -> dict[str, Any]:
    """The arguments of a list route's decorator: its page model, its problems and the
    documentation of its parameters (`intro` first, then what the spec allows)."""
    return {
        "response_model": Page[schema],  # type: ignore[valid-type]
        "responses": problems(400, 403, 422, *statuses),
        "description": f"{intro} {spec.describe()}.".strip(),
        "openapi_extra": list_openapi(spec),
    }


_JSON_TYPES: dict[type, dict[str, Any]] = {
    int: {"type": "integer"},
    bool: {"type": "boolean"},
    Decimal: {"type": "string", "format": "decimal"},
    datetime: {"type": "string", "format": "date-time"},
}


def list_openapi(spec: ListSpec) -> dict[str, Any]:
    """The list parameters of SPEC §6 as OpenAPI (a route's `openapi_extra`).

    Documentation only: `parse_list_query` reads and validates them (and refuses unknown
    ones). Declaring them as FastAPI parameters would validate each twice per request.
    """

    def param(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
        return parameter(name, "query", description, schema)

    sorts = [*spec.sortable, *(f"-{name}" for name in spec.sortable)]
    params = [
        param(
            "limit",
            f"1 to {MAX_LIMIT}, default {DEFAULT_LIMIT}",
            {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
        ),
        param("cursor", "`next_cursor` of the previous page", {"type": "string"}),
        param(
            "sort",
            "a field; `-` descends",
            # Member names for client generators (openapi-python-client, openapi-generator).
            {
                "type": "string",
                "enum": sorts,
                "x-enum-varnames": [
                    f"{sort.lstrip('-').upper()}{'_DESC' if sort.startswith('-') else ''}"
                    for sort in sorts
                ],
            },
        ),
    ]
    if spec.searchable or spec.prefix_searchable:
        where = ", ".join(spec.searchable)
        if spec.prefix_searchable:
            where += f"{' and ' if where else ''}the start of {', '.join(spec.prefix_searchable)}"
        params.append(
            param(
                "q",
                f"case-insensitive search in {where}",
                {"type": "string", "maxLength": MAX_SEARCH_LENGTH},
            )
        )
    params.append(param("include_total", "add the filtered count", {"type": "boolean"}))
    for name, kind in filter_params(spec):
        params.append(
            param(
                name,
                "exact match" if name in spec.exact else "inclusive bound",
                _JSON_TYPES.get(kind, {"type": "string"}),
            )
        )
    return {"parameters": params}


def cursor_codec(request: Request) -> CursorCodec:
    codec: CursorCodec = request.app.state.cursor_codec
    return codec


def list_query(
    request: Request, spec: ListSpec, within: Mapping[str, Any] | None = None
) -> ListQuery:
    """The request's list parameters; `within` limits the rows (the caller's own tokens)."""
    query = parse_list_query(spec, request.query_params, cursor_codec(request))
    return query.within(**within) if within else query


async def rows_page_response(
    request: Request,
    reader: Reader,
    spec: ListSpec,
    schema: type[ReadT],
    within: Mapping[str, Any] | None = None,
) -> Response:
    """A page of a flat resource, whose read schema is its columns, as JSON.

    Each item's JSON written by the database (app/infra/sql_json.py) when the schema's
    fields allow it; otherwise read as Core rows and serialized straight from them
    (app/api/row_json.py). No ORM instances, no per-row validation either way.
    """
    query = list_query(request, spec, within)
    written = _json_columns(spec, schema, query.sort)
    if written is not None:
        page = await fetch_rows_page(reader, spec, query, cursor_codec(request), written)
        return written_page_response(page)
    columns = _columns(spec, schema)
    page = await fetch_rows_page(reader, spec, query, cursor_codec(request), columns)
    rows = page.items
    if _has_hidden_columns(spec, schema):
        shown = len(schema.model_fields)
        rows = [row[:shown] for row in rows]
    return _page_json(_rows_json(schema)(rows), page)


async def page_response(
    request: Request,
    session: AsyncSession,
    spec: ListSpec,
    schema: type[ReadT],
    base: Select[Any],
    within: Mapping[str, Any] | None = None,
) -> Response:
    """A page of ORM instances (of `base`, with its loader options) as JSON."""
    query = list_query(request, spec, within)
    page = await fetch_page(session, spec, query, cursor_codec(request), base)
    items = _list_adapter(schema).dump_json([schema.model_validate(row) for row in page.items])
    return _page_json(items, page)


def written_page_response(page: ListPage) -> Response:
    """A page whose rows end with each item's JSON, written by the database."""
    return _page_json(json_items(page.items), page)


def _page_json(items: bytes, page: ListPage) -> Response:
    """`{"items", "next_cursor"[, "total"]}` around the items' JSON array."""
    tail: dict[str, Any] = {"next_cursor": page.next_cursor}
    if page.total is not None:
        tail["total"] = page.total
    body = b'{"items":' + items + b"," + orjson.dumps(tail)[1:]
    return Response(content=body, media_type="application/json")


# Built once per schema, not once per request: each compiles a serializer.
@lru_cache(maxsize=64)
def _list_adapter(schema: type[BaseModel]) -> TypeAdapter[Any]:
    return TypeAdapter(list[schema])  # type: ignore[valid-type]


@lru_cache(maxsize=64)
def _rows_json(schema: type[BaseModel]) -> RowsEncoder:
    """JSON for rows in `schema`'s field order (the selected columns' order)."""
    encoder = rows_encoder(schema)
    if encoder is not None:
        return encoder
    names = tuple(schema.model_fields)
    adapter = _row_list_adapter(schema)
    return lambda rows: adapter.dump_json([dict(zip(names, row, strict=True)) for row in rows])


@lru_cache(maxsize=64)
def _row_list_adapter(schema: type[BaseModel]) -> TypeAdapter[Any]:
    """A serializer for dicts shaped like `schema`: the same fields, types and serializers.

    pydantic-core writes the JSON from the row dicts directly (a TypedDict is serialized
    without being validated). The fallback of `_rows_json`, and the reference that
    tests/unit/test_row_json.py holds the orjson encoder to.
    """
    fields = {name: info.rebuild_annotation() for name, info in schema.model_fields.items()}
    row_type = TypedDict(f"{schema.__name__}Row", fields)  # type: ignore[misc]
    return TypeAdapter(list[row_type])


@lru_cache(maxsize=64)
def _columns(spec: ListSpec, schema: type[BaseModel]) -> Select[Any]:
    """The schema's fields, then any keyset column it does not show (`id`, sort fields)."""
    shown = list(schema.model_fields)
    keys = [name for name in ("id", *spec.sortable) if name not in shown]
    return columns_select(spec, [*shown, *dict.fromkeys(keys)])


@lru_cache(maxsize=256)
def _json_columns(spec: ListSpec, schema: type[BaseModel], sort: str) -> Select[Any] | None:
    """The keyset columns of this sort (`id`, the sort field), then each item's JSON; None
    when the database cannot write the schema's JSON. Only what the cursor needs is read
    as typed values: decoding them costs more than the rest of the row."""
    item = json_object(schema, {name: spec.column(name) for name in schema.model_fields})
    if item is None:
        return None
    keys = columns_select(spec, list(dict.fromkeys(("id", sort))))
    return keys.add_columns(item.sql.label(ITEM_JSON))


@lru_cache(maxsize=64)
def _has_hidden_columns(spec: ListSpec, schema: type[BaseModel]) -> bool:
    """Whether the page's rows end with keyset columns the schema does not show."""
    return len(_columns(spec, schema).selected_columns) > len(schema.model_fields)


def row_response(
    request: Request,
    row: Any,
    schema: type[BaseModel],
    *,
    status_code: int = 200,
    location: str | None = None,
) -> Response:
    """One row as JSON with its ETag (304 when If-None-Match already has it)."""
    version = getattr(row, "version", None)
    headers: dict[str, str] = {}
    if version is not None:
        headers["ETag"] = etag_for(version)
        if status_code == 200 and request.method == "GET" and is_not_modified(request, version):
            return Response(status_code=304, headers=headers)
    if location:
        headers["Location"] = location
    body = schema.model_validate(row).model_dump_json().encode()
    return Response(
        content=body, status_code=status_code, media_type="application/json", headers=headers
    )
