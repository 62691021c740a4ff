"""Admin list pages: the request's search, filters, sort and page checked, then a keyset page.

What a list is asked for comes from the URL, so it is read like any hostile input: a
search or filter value with a control character (PostgreSQL cannot even compare text with
a NUL), an unknown sort or a cursor that is not ours is refused with a message on the
list page, and no query runs for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from typing import Any
from urllib.parse import urlencode

from markupsafe import Markup
from sqladmin import expose
from sqlalchemy import inspect
from sqlalchemy.orm import selectinload
from starlette.requests import Request
from starlette.responses import Response

from app.admin import saved_views
from app.admin.ids import parse_id
from app.admin.notices import add_message
from app.admin.saved_views import saved_views_block
from app.admin.views.keyset import KeysetPage, keyset_page, navigation
from app.admin.views.list_page import (
    Links,
    ListAction,
    ListLayout,
    declared_actions,
    layout_of,
    menus_of,
    rows_of,
    toolbar_of,
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


def checked_sort(layout: ListLayout, params: Mapping[str, str]) -> tuple[str, bool]:
    """The column the list is sorted by and whether descending; ListRefused for a column
    the list cannot be sorted by."""
    sort_by = params.get("sortBy")
    if not sort_by:
        return layout.default_sort
    if sort_by not in layout.sortable:
        raise ListRefused("This list cannot be sorted that way.")
    return sort_by, params.get("sort", "asc") == "desc"


def ordering_of(layout: ListLayout, view: Any, request: Request) -> Ordering:
    name, descending = checked_sort(layout, request.query_params)
    columns = inspect(view.model).columns
    return Ordering(
        name=name,
        descending=descending,
        sort_column=None if name == "id" else columns[name],
        id_column=columns["id"],
    )


def read_filters(view: Any, params: Mapping[str, str]) -> list[tuple[Any, Any]]:
    """Each filter the URL sets, with its value checked and typed (app/admin/filters.py
    `read`); ListRefused for the first that is not. Nothing is queried: every value is
    read before any statement runs."""
    found = []
    for filter_ in view.get_filters():
        read = getattr(filter_, "read", None)
        if read is not None:
            value = read(params)
            if value is not None:
                found.append((filter_, value))
            continue
        # A filter of sqladmin's own (one parameter, perhaps an operator), checked as text.
        value = params.get(filter_.parameter_name)
        if not value:
            continue
        label = f"The filter “{filter_.title}”"
        checked_text(label, value, MAX_FILTER_LENGTH)
        if getattr(filter_, "has_operator", False):
            operation = params.get(f"{filter_.parameter_name}_op")
            if not operation:
                continue
            found.append((filter_, (checked_text(label, operation, MAX_FILTER_LENGTH), value)))
        else:
            found.append((filter_, value))
    return found


async def _apply_filters(view: Any, request: Request, statement: Any) -> tuple[Any, bool]:
    found = read_filters(view, request.query_params)
    for filter_, value in found:
        if getattr(filter_, "has_operator", False) and not hasattr(filter_, "read"):
            operation, text = value
            statement = await filter_.get_filtered_query(statement, operation, text, view.model)
        else:
            statement = await filter_.get_filtered_query(statement, value, view.model)
    return statement, bool(found)


def filter_parameters(view: Any) -> list[str]:
    """Every URL parameter the list's filters read, in the filters' order."""
    names: list[str] = []
    for filter_ in view.get_filters():
        own = getattr(filter_, "parameter_names", None)
        if own is None:
            own = [filter_.parameter_name]
            if getattr(filter_, "has_operator", False):
                own.append(f"{filter_.parameter_name}_op")
        names.extend(own)
    return names


def saved_query(view: Any, params: Mapping[str, str]) -> str:
    """What a saved view keeps of a list's URL: search, sort, the filters' parameters and a
    page size the list offers, in one order; paging cursors and anything else go."""
    kept: list[tuple[str, str]] = []
    for name in ("search", "sortBy", "sort", *filter_parameters(view)):
        value = params.get(name)
        if value and (name != "sort" or value in ("asc", "desc")):
            kept.append((name, value))
    size = parse_id(params.get("pageSize", ""))
    if size is not None and size in view.page_size_options:
        kept.append(("pageSize", str(size)))
    return urlencode(kept)


def refusal_of(view: Any, params: Mapping[str, str]) -> str | None:
    """Why the list would refuse these parameters (the page's own checks, no query), or
    None when it would show them."""
    try:
        checked_sort(view.list_layout, params)
        read_filters(view, params)
        search = params.get("search")
        if search:
            checked_text("The search", search, MAX_SEARCH_LENGTH)
    except ListRefused as exc:
        return str(exc)
    return None


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


async def sidebar_of(view: Any, request: Request, filters: Markup, refused: bool = False) -> Markup:
    """The list's saved views, then its filters' forms (`filters`, rendered with the page's
    chrome). A refused page lists the views but offers no save: there is no list to save.
    (Called when the page's session has ended: the saved views are read on a connection of
    their own.)"""
    query = None if refused else saved_query(view, request.query_params)
    saved = await saved_views_block(view, request, query)
    if saved is None:
        return filters
    site = request.app.state.site
    block = site.fragments.render(
        "admin/filters/saved_views.html", saved=saved, token=site.csrf_token(request)
    )
    return block + filters


async def with_content(view: Any, request: Request, page: KeysetPage) -> KeysetPage:
    """`page` with its content rendered synchronously (templates/admin/list_content.html)."""
    page.content = request.app.state.site.fragments.render(
        "admin/list_content.html",
        request=request,
        model_view=view,
        pagination=page,
        menus=page.menus,
        toolbar=await toolbar_of(view, request),
    )
    return page


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
        chrome = request.app.state.site.list_chrome.chrome(view, layout, request)
        menus = menus_of(view, request, self.list_actions)
        try:
            ordering = ordering_of(layout, view, request)
            statement, filtered = await matching_statement(view, request)
            for relation in layout.list_relations:
                statement = statement.options(selectinload(relation))
        except ListRefused as exc:
            add_message(request, str(exc))
            page = KeysetPage(
                rows=[],
                page_size=page_size,
                count=0,
                count_is_estimate=False,
                columns=chrome.columns,
                menus=menus,
                page_size_urls=chrome.page_size_urls,
                sidebar=await sidebar_of(view, request, chrome.filters, refused=True),
            )
            return await with_content(view, request, page)
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
        page = KeysetPage(
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
            columns=chrome.columns,
            lines=lines,
            menus=menus,
            table_rows=fragments.render("admin/list_rows.html", lines=lines, row_name=view.name),
            page_size_urls=chrome.page_size_urls,
            sidebar=await sidebar_of(view, request, chrome.filters),
        )
        return await with_content(view, request, page)

    # --- saved views (app/admin/saved_views.py; the rules: app/saved_views/service.py) ----

    def saved_query(self, params: Mapping[str, str]) -> str:
        """What a saved view of this list keeps of its URL's parameters."""
        return saved_query(self, params)

    def refusal_of(self, params: Mapping[str, str]) -> str | None:
        """Why this list would refuse these parameters, or None."""
        return refusal_of(self, params)

    @expose("/saved-views", methods=["POST"])
    async def save_view(self, request: Request) -> Response:
        """Save the list's current search, filters, sort and page size under a name."""
        return await saved_views.save(self, request)

    @expose("/saved-views/{view_id}", methods=["GET"])
    async def open_saved_view(self, request: Request) -> Response:
        """Open a saved view: the list with its parameters."""
        return await saved_views.open_saved(self, request)

    @expose("/saved-views/{view_id}/delete", methods=["POST"])
    async def delete_saved_view(self, request: Request) -> Response:
        """Delete one of one's saved views (or, managing users, a shared one)."""
        return await saved_views.delete(self, request)
