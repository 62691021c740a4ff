"""Admin list pages: the request's search, filters, sort and page checked, then a keyset page.

What a list is asked for comes from the URL, so it is read like any hostile input: a
search or filter value with a control character (PostgreSQL cannot even compare text with
a NUL), an unknown sort or a cursor that is not ours is refused with a message on the
list page, and no query runs for it.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.orm import selectinload
from starlette.requests import Request

from app.admin.ids import parse_id
from app.admin.notices import add_message
from app.admin.views.keyset import KeysetPage, keyset_page, navigation
from app.admin.views.list_page import (
    Links,
    ListAction,
    ListLayout,
    columns_of,
    declared_actions,
    layout_of,
    menus_of,
    rows_of,
)
from app.errors import AppError
from app.lists.columns import MAX_FILTER_LENGTH
from app.lists.counts import approximate_count, capped_count
from app.lists.cursors import CursorCodec
from app.lists.grammar import MAX_SEARCH_LENGTH
from app.lists.keyset import Ordering
from app.text_rules import control_character_problem


class ListRefused(Exception):
    """A list request that runs no query; str(exc) says why."""


def checked_text(label: str, value: str, max_length: int) -> str:
    """`value` if it is one line of text of at most `max_length` characters."""
    problem = control_character_problem(value)
    if problem is not None:
        raise ListRefused(f"{label} {problem}.")
    if len(value) > max_length:
        raise ListRefused(f"{label} must be at most {max_length} characters.")
    return value


def page_size_of(view: Any, request: Request) -> int:
    """The page size asked for, within the view's options (the default if not a number)."""
    asked = parse_id(request.query_params.get("pageSize", "")) or view.page_size
    return int(max(1, min(asked, max(view.page_size_options))))


def page_size_urls(view: Any, request: Request) -> list[tuple[int, str]]:
    """Each page size the list offers, and the URL of the first page at that size."""
    unpaged = request.url.remove_query_params(["after", "before", "last"])
    return [
        (size, str(unpaged.include_query_params(pageSize=size))) for size in view.page_size_options
    ]


def ordering_of(layout: ListLayout, view: Any, request: Request) -> Ordering:
    sort_by = request.query_params.get("sortBy")
    if sort_by:
        if sort_by not in layout.sortable:
            raise ListRefused("This list cannot be sorted that way.")
        name, descending = sort_by, request.query_params.get("sort", "asc") == "desc"
    else:
        name, descending = layout.default_sort
    columns = inspect(view.model).columns
    return Ordering(
        name=name,
        descending=descending,
        sort_column=None if name == "id" else columns[name],
        id_column=columns["id"],
    )


async def _apply_filters(view: Any, request: Request, statement: Any) -> tuple[Any, bool]:
    filtered = False
    for filter_ in view.get_filters():
        value = request.query_params.get(filter_.parameter_name)
        if not value:
            continue
        label = f"The filter “{filter_.title}”"
        checked_text(label, value, MAX_FILTER_LENGTH)
        filtered = True
        if getattr(filter_, "has_operator", False):
            operation = request.query_params.get(f"{filter_.parameter_name}_op")
            if operation:
                checked_text(label, operation, MAX_FILTER_LENGTH)
                statement = await filter_.get_filtered_query(
                    statement, operation, value, view.model
                )
        else:
            statement = await filter_.get_filtered_query(statement, value, view.model)
    return statement, filtered


async def matching_statement(view: Any, request: Request) -> tuple[Any, bool]:
    """The rows a list shows for the request's search and filters, as a statement, and
    whether a search or filter narrowed it: the user's `list_query` (so only rows they may
    see), filtered, searched. The list page and "all N matching" bulk actions
    (app/admin/bulk.py) both use it, so they can never disagree. ListRefused on bad input."""
    statement, filtered = await _apply_filters(view, request, view.list_query(request))
    search = request.query_params.get("search")
    if search:
        term = checked_text("The search", search, MAX_SEARCH_LENGTH)
        statement = view.search_query(stmt=statement, term=term)
        filtered = True
    return statement, filtered


def model_identities(request: Request) -> dict[type, str]:
    """Each model the admin has a view of → that view's identity (for relation links)."""
    views = request.app.state.site.views
    return {view.model: view.identity for view in views if getattr(view, "model", None)}


class KeysetListMixin:
    """Replaces sqladmin's OFFSET pagination and count(*) with keyset pages (see keyset.py),
    and its list template with ours: the page is prepared here (list_page.py)."""

    list_template = "admin/list.html"

    @cached_property
    def list_layout(self) -> ListLayout:
        """The list's columns, sorts and relations, from the view's documented settings."""
        return layout_of(self)

    @cached_property
    def list_actions(self) -> list[ListAction]:
        return declared_actions(type(self))

    def rows_are_restricted(self, request: Request) -> bool:
        """Whether `list_query` shows this user only some rows (override with the rule)."""
        return False

    async def list(self, request: Request) -> Any:
        view: Any = self
        layout = self.list_layout
        page_size = page_size_of(view, request)
        columns, menus = columns_of(layout, request), menus_of(view, request, self.list_actions)
        try:
            ordering = ordering_of(layout, view, request)
            statement, filtered = await matching_statement(view, request)
            for relation in layout.list_relations:
                statement = statement.options(selectinload(relation))
        except ListRefused as exc:
            add_message(request, str(exc))
            return KeysetPage(
                rows=[],
                page_size=page_size,
                count=0,
                count_is_estimate=False,
                columns=columns,
                menus=menus,
                page_size_urls=page_size_urls(view, request),
            )
        # A list cut down to the user's own rows is counted as such: the whole table's
        # count would tell them how many rows others have.
        filtered = filtered or view.rows_are_restricted(request)
        codec = CursorCodec(request.app.state.site.settings.secret_key)
        params = dict(request.query_params)
        async with view.database.read_session() as session:
            try:
                rows, more, reverse = await keyset_page(
                    session, statement, ordering, page_size, params, codec
                )
            except AppError as exc:
                # A cursor that is not ours: say so, and show the first page.
                add_message(request, exc.detail)
                params = {k: v for k, v in params.items() if k not in ("after", "before", "last")}
                rows, more, reverse = await keyset_page(
                    session, statement, ordering, page_size, params, codec
                )
            if filtered:
                count, approximate = await capped_count(session, statement, view.model.id)
            else:
                count, approximate = await approximate_count(session, view.model)
        links = navigation(rows, more, reverse, params, ordering, request.url, codec)
        lines = await rows_of(
            view, layout, request, rows, Links(request, model_identities(request))
        )
        fragments = request.app.state.site.fragments
        return KeysetPage(
            rows=rows,
            page_size=page_size,
            count=count,
            # Approximate: the planner's estimate when unfiltered, a capped count when not.
            count_is_estimate=approximate and not filtered,
            count_is_lower_bound=approximate and filtered,
            first_url=links["first"],
            previous_url=links["previous"],
            next_url=links["next"],
            last_url=links["last"],
            columns=columns,
            lines=lines,
            menus=menus,
            table_rows=fragments.render("admin/list_rows.html", lines=lines, row_name=view.name),
            page_size_urls=page_size_urls(view, request),
        )
