"""Keyset pages for admin lists: our list template (admin/list.html), fed by app/lists.

sqladmin pages with OFFSET and counts every row on every view; on a million-row table the
last page scans the whole index. Here a page is "the rows after (value, id)" of the sort
column (app/lists/keyset.py, the API's order and seek), navigated First / Previous / Next /
Last with the API's signed cursors, and counted by app/lists/counts.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup
from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import URL

from app.admin.views.list_page import Column, Menus, Row
from app.lists.cursors import CursorCodec
from app.lists.keyset import Ordering, fetch_entities

CURSOR_PARAMS = ("after", "before", "last", "page")


@dataclass
class KeysetPage:
    """The list page, prepared once per request: what sqladmin's list route reads from its
    Pagination (rows, page, add_pagination_urls), the keyset links, and everything our
    template prints (columns, each row's cells and links, the Actions menu)."""

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
    columns: list[Column] = field(default_factory=list)
    lines: list[Row] = field(default_factory=list)
    menus: Menus = field(default_factory=Menus)
    table_rows: Markup = field(default_factory=Markup)  # `lines` as <tr>s (admin/list_rows.html)
    page_size_urls: list[tuple[int, str]] = field(default_factory=list)  # the size menu
    # Saved views and the typed filters' forms (templates/admin/filters/sidebar.html).
    sidebar: Markup = field(default_factory=Markup)
    # The whole of it, rendered (templates/admin/list_content.html; lists.py content_of).
    content: Markup = field(default_factory=Markup)

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
    reverse, position = False, None
    if params.get("after"):
        position = ordering.read_cursor(codec, params["after"])
    elif params.get("before"):
        position = ordering.read_cursor(codec, params["before"])
        reverse = True
    elif params.get("last"):
        reverse = True
    rows, more = await fetch_entities(
        session, ordering.seek(statement, position, reverse=reverse), page_size, {}
    )
    rows = list(reversed(rows)) if reverse else list(rows)
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
    clean = base_url.remove_query_params(list(CURSOR_PARAMS))
    at_start = not params.get("after") and not params.get("before") and not params.get("last")
    links: dict[str, str | None] = {"first": None, "previous": None, "next": None, "last": None}
    if not rows:
        return links
    has_before = (reverse and more) or (not reverse and not at_start)
    has_after = (not reverse and more) or (reverse and bool(params.get("before")))
    if has_before:
        links["first"] = str(clean)
        links["previous"] = str(
            clean.include_query_params(before=ordering.cursor_at(codec, rows[0]))
        )
    if has_after:
        links["next"] = str(clean.include_query_params(after=ordering.cursor_at(codec, rows[-1])))
        links["last"] = str(clean.include_query_params(last="1"))
    return links
