"""Keyset pages for admin lists: the cost of a page does not grow with the table.

sqladmin pages with OFFSET and counts every row on every view; on a million-row table the
last page scans the whole index. Here a page is "the rows after (value, id)" of the sort
column, navigated First / Previous / Next / Last with signed cursors, and the count is
PostgreSQL's estimate above a threshold (labelled as approximate) or capped when filtered.
Cursors, seeks and order are the API's (app/cursors.py): one codec, one rule for NULLs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import URL

from app.cursors import CursorCodec, keyset_after, keyset_order

EXACT_COUNT_LIMIT = 10_000
# A searched or filtered list counts its matches up to here and then says "100+". A
# capped count scans about cap / selectivity rows whatever the table's size: for a term
# in one name in ten that is 1,000 rows (under a millisecond) on 10,000 or 1,000,000
# rows alike; a cap of 1,000 scanned 10,000 rows (7 ms) on every view of a search page.
FILTERED_COUNT_LIMIT = 100
CURSOR_PARAMS = ("after", "before", "last", "page")


@dataclass
class KeysetPage:
    """What sqladmin's list template reads from its Pagination, plus keyset links."""

    rows: list[Any]
    page_size: int
    count: int
    count_is_estimate: bool
    count_is_lower_bound: bool = False
    first_url: str | None = None
    previous_url: str | None = None
    next_url: str | None = None
    last_url: str | None = None
    page: int = 1
    keyset: bool = True
    page_controls: list[Any] = field(default_factory=list)

    @property
    def has_previous(self) -> bool:
        return self.previous_url is not None

    @property
    def has_next(self) -> bool:
        return self.next_url is not None

    def resize(self, page_size: int) -> KeysetPage:
        return self

    def add_pagination_urls(self, base_url: URL) -> None:
        """sqladmin calls this for numbered pages; keyset links are already built."""


@dataclass(frozen=True)
class Ordering:
    """The list's sort: `column` (an ORM attribute, or None for id alone), then id."""

    column: Any
    id_column: Any
    descending: bool
    name: str
    # The table column: its type decodes cursor values, and NULLs sort last if it has any.
    table_column: Any = None

    @property
    def nullable(self) -> bool:
        return self.table_column is not None and bool(self.table_column.nullable)

    @property
    def sort_key(self) -> str:
        return f"{'-' if self.descending else ''}{self.name}"

    def keys(self, row: Any) -> tuple[Any, int]:
        return getattr(row, self.name), row.id


def _order(statement: Select[Any], ordering: Ordering, reverse: bool) -> Select[Any]:
    return statement.order_by(
        *keyset_order(
            ordering.column,
            ordering.id_column,
            descending=ordering.descending,
            nullable=ordering.nullable,
            reverse=reverse,
        )
    )


def _seek(
    statement: Select[Any], ordering: Ordering, after: tuple[Any, int], reverse: bool
) -> Select[Any]:
    """Rows strictly beyond `after` in the (possibly reversed) order."""
    return statement.where(
        keyset_after(
            ordering.column,
            ordering.id_column,
            after[0],
            after[1],
            descending=ordering.descending,
            nullable=ordering.nullable,
            reverse=reverse,
        )
    )


async def count_rows(
    session: AsyncSession, model: Any, filtered: Select[Any] | None
) -> tuple[int, bool]:
    """(count, approximate): the planner's estimate for a big unfiltered table; with a
    filter, an exact count up to FILTERED_COUNT_LIMIT, else (the limit, True): "100+"."""
    if filtered is None:
        if session.bind is not None and session.bind.dialect.name == "postgresql":
            estimate = (
                await session.execute(
                    text("SELECT reltuples::bigint FROM pg_class WHERE oid = CAST(:t AS regclass)"),
                    {"t": model.__table__.name},
                )
            ).scalar_one_or_none()
            if estimate is not None and estimate > EXACT_COUNT_LIMIT:
                return int(estimate), True
        return int(
            (await session.execute(select(func.count()).select_from(model))).scalar_one()
        ), False
    cap = FILTERED_COUNT_LIMIT
    # In key order: the primary key walk reads the same first rows at any table size and
    # through shared buffers (a seq scan of a big table goes through a small ring buffer
    # and re-reads its pages from the OS on every view).
    capped = filtered.with_only_columns(model.id).order_by(model.id).limit(cap + 1)
    found = int(
        (await session.execute(select(func.count()).select_from(capped.subquery()))).scalar_one()
    )
    return min(found, cap), found > cap


async def keyset_page(
    session: AsyncSession,
    statement: Select[Any],
    ordering: Ordering,
    page_size: int,
    params: dict[str, str],
    codec: CursorCodec,
) -> tuple[list[Any], bool, bool]:
    """The page the cursor parameters ask for: (rows, more beyond it, fetched backwards).

    A cursor that is not ours (tampered, forged, another sort's) is a BadRequest.
    """
    sort_key, column = ordering.sort_key, ordering.table_column
    reverse = False
    if params.get("after"):
        after = codec.decode(params["after"], sort_key, column)
        statement = _seek(statement, ordering, after, False)
    elif params.get("before"):
        before = codec.decode(params["before"], sort_key, column)
        statement = _seek(statement, ordering, before, True)
        reverse = True
    elif params.get("last"):
        reverse = True
    rows = list(
        (await session.execute(_order(statement, ordering, reverse).limit(page_size + 1)))
        .unique()
        .scalars()
    )
    more = len(rows) > page_size
    rows = rows[:page_size]
    if reverse:
        rows.reverse()
    return rows, more, reverse


def navigation(
    rows: list[Any],
    more: bool,
    reverse: bool,
    params: dict[str, str],
    ordering: Ordering,
    base_url: URL,
    codec: CursorCodec,
) -> dict[str, str | None]:
    """First / previous / next / last links for the rows shown."""
    sort_key = ordering.sort_key
    clean = base_url.remove_query_params(list(CURSOR_PARAMS))
    at_start = not params.get("after") and not params.get("before") and not params.get("last")
    links: dict[str, str | None] = {"first": None, "previous": None, "next": None, "last": None}
    if not rows:
        return links
    first_keys, last_keys = ordering.keys(rows[0]), ordering.keys(rows[-1])
    has_before = (reverse and more) or (not reverse and not at_start)
    has_after = (not reverse and more) or (reverse and bool(params.get("before")))
    if has_before:
        links["first"] = str(clean)
        links["previous"] = str(
            clean.include_query_params(before=codec.encode(sort_key, first_keys[0], first_keys[1]))
        )
    if has_after:
        links["next"] = str(
            clean.include_query_params(after=codec.encode(sort_key, last_keys[0], last_keys[1]))
        )
        links["last"] = str(clean.include_query_params(last="1"))
    return links
