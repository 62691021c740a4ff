"""One page of a list (SPEC §6): its items, the cursor of the next page, the total if asked.

Two readers of the same statements: `fetch_rows_page` returns Core rows (the flat lists,
serialized straight from them), `fetch_page` ORM entities with their loader options (lists
whose items nest other rows, such as a user's roles). Either costs the same statements
whatever the limit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession

from app.infra.db_reads import Reader, SqlaReader
from app.lists.cursors import CursorCodec
from app.lists.grammar import ListQuery, ListSpec
from app.lists.keyset import fetch_entities
from app.lists.statements import column_positions, count_statement, list_statement, page_statement


@dataclass(frozen=True)
class Page:
    items: Sequence[Any]
    next_cursor: str | None
    total: int | None = None


async def fetch_page(
    session: AsyncSession, spec: ListSpec, query: ListQuery, codec: CursorCodec, base: Select[Any]
) -> Page:
    """One page of the ORM entity `base` selects (with its loader options)."""
    params = query.params()
    items, more = await fetch_entities(
        session, list_statement(spec, query, base), query.limit, params
    )
    next_cursor = None
    if more:
        next_cursor = spec.ordering(query.sort, query.descending).cursor_at(codec, items[-1])
    total = await _total(SqlaReader(session), spec, query, params)
    return Page(items=items, next_cursor=next_cursor, total=total)


async def fetch_rows_page(
    reader: Reader,
    spec: ListSpec,
    query: ListQuery,
    codec: CursorCodec,
    columns: Select[Any],
) -> Page:
    """One page of Core rows of `columns` (a long-lived `columns_select`, which must
    include `id` and every sortable field): tuples in its column order, no ORM objects."""
    params = query.params()
    statement = page_statement(spec, query.shape, columns, query.limit + 1)
    ordering, positions = spec.ordering(query.sort, query.descending), column_positions(columns)
    rows = await reader.rows(statement, params, order=ordering.keys(positions))
    next_cursor = None
    if len(rows) > query.limit:
        rows = rows[: query.limit]
        last = rows[-1]
        next_cursor = ordering.cursor(codec, last[positions[query.sort]], last[positions["id"]])
    total = await _total(reader, spec, query, params)
    return Page(items=rows, next_cursor=next_cursor, total=total)


async def _total(
    reader: Reader, spec: ListSpec, query: ListQuery, params: dict[str, Any]
) -> int | None:
    """The filtered count, when the query asks for it."""
    if not query.include_total:
        return None
    rows = await reader.rows(count_statement(spec, query.shape), params, order=())
    return int(rows[0][0])
