"""A list page's chrome: what it shows around its rows that its URL alone decides.

The sort links of the column headers, the page-size menu and the typed filters' forms
(rendered) depend on the list's search, filters, sort and page size, and on nothing else:
not on the user, not on the rows, not on a paging cursor (every link and form drops the
cursor). So they are built once per distinct list URL and reused, in a small bounded
memory per site: paging through a filtered list, or coming back to it, costs no URL
building and no template rendering for them. Whatever depends on the user (the Actions
menu, row links, saved views) is never kept here.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup
from starlette.datastructures import URL, QueryParams
from starlette.requests import Request

from app.admin.views.list_page import Column, ListLayout, columns_of

# Paging positions: the chrome is the same on every page of a list.
CURSOR_PARAMS = ("after", "before", "last")
# Lists kept per site, and the longest URL kept (a longer one is built for its request
# only): at most CHROME_LIMIT × a few copies of MAX_KEPT_URL characters in memory.
CHROME_LIMIT = 256
MAX_KEPT_URL = 2_000


@dataclass(frozen=True)
class ListChrome:
    """The column headers, the page-size menu and the filters' forms of one list URL."""

    columns: list[Column]
    page_size_urls: list[tuple[int, str]]
    filters: Markup


def page_size_urls(view: Any, unpaged: URL) -> list[tuple[int, str]]:
    """Each page size the list offers, and the URL of the first page at that size."""
    return [
        (size, str(unpaged.include_query_params(pageSize=size))) for size in view.page_size_options
    ]


def filter_forms(view: Any, unpaged: URL) -> list[Any]:
    """Each typed filter's GET form, as the URL sets it (app/admin/filters.py)."""
    params = QueryParams(unpaged.query)
    return [f.form(params, unpaged) for f in view.get_filters() if hasattr(f, "form")]


def build_chrome(view: Any, layout: ListLayout, unpaged: URL, fragments: Any) -> ListChrome:
    forms = filter_forms(view, unpaged)
    filters = fragments.render("admin/filters/sidebar.html", forms=forms) if forms else Markup()
    return ListChrome(columns_of(layout, unpaged), page_size_urls(view, unpaged), filters)


class ChromeMemory:
    """The chrome of the CHROME_LIMIT most recently shown list URLs (least recent out)."""

    def __init__(self, limit: int = CHROME_LIMIT) -> None:
        self.limit = limit
        self.kept: OrderedDict[tuple[str, str], ListChrome] = OrderedDict()

    def chrome(self, view: Any, layout: ListLayout, request: Request) -> ListChrome:
        unpaged = request.url.remove_query_params(CURSOR_PARAMS)
        key = (view.identity, str(unpaged))
        found = self.kept.get(key)
        if found is not None:
            self.kept.move_to_end(key)
            return found
        made = build_chrome(view, layout, unpaged, request.app.state.site.fragments)
        if len(key[1]) <= MAX_KEPT_URL:
            self.kept[key] = made
            if len(self.kept) > self.limit:
                self.kept.popitem(last=False)
        return made
