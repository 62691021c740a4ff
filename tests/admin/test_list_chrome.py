"""A list's chrome (sort links, page-size menu, filter forms) is built once per list URL
and reused (app/admin/views/chrome.py): on every page of that list, for every user, and
never with anything of one user's, a paging cursor, or another host in it."""

from __future__ import annotations

import html
import re
from typing import Any

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from app.admin.policy import OWNED_VIEWS
from app.admin.views.chrome import MAX_KEPT_URL, ChromeMemory
from app.admin.views.domain import ProductView
from app.admin.views.list_page import checks_per_row
from tests.admin.conftest import OpenBrowser
from tests.auth_helpers import admin_login, client_for
from tests.factories import make_product, make_user

LIST = "/admin/product/list"
FILTERS = re.compile(r'<div id="filter-sidebar".*?</form>\s*</div>\s*</div>', re.S)
HEADERS = re.compile(r"<thead>.*?</thead>", re.S)


def site_of(app: FastAPI) -> Any:
    for route in app.routes:
        site = getattr(getattr(getattr(route, "app", None), "state", None), "site", None)
        if site is not None:
            return site
    raise AssertionError("no admin site mounted")


def filters_of(page: str) -> str:
    found = FILTERS.search(page)
    assert found, "no filter forms on the page"
    return found.group(0)


def headers_of(page: str) -> str:
    found = HEADERS.search(page)
    assert found, "no table header"
    return found.group(0)


def next_url(page: str) -> str:
    found = re.search(r'id="page-next" href="([^"#]+)"', page)
    assert found, "no next page link"
    return html.unescape(found.group(1))


async def test_one_chrome_serves_every_page_of_a_list_url_without_its_cursor(
    app: FastAPI, open_browser: OpenBrowser, session: AsyncSession
) -> None:
    for n in range(5):
        await make_product(session, name=f"Chrome lamp {n}", price="12.00")
    await session.commit()
    _, browser = await open_browser("admin")
    params = {"search": "Chrome lamp", "price_min": "10", "pageSize": "2", "sortBy": "name"}

    first = await browser.get(LIST, params=params)
    second = await browser.get(next_url(first.text))

    assert first.status_code == second.status_code == 200
    assert "Chrome lamp 0" in first.text and "Chrome lamp 2" in second.text
    memory = site_of(app).list_chrome
    assert len(memory.kept) == 1
    # The second page shows the very same headers and forms, and no cursor is in them.
    assert filters_of(first.text) == filters_of(second.text)
    assert headers_of(first.text) == headers_of(second.text)
    (chrome,) = memory.kept.values()
    kept = [url for _, url in chrome.page_size_urls] + [c.sort_url or "" for c in chrome.columns]
    assert kept and not [url for url in kept if "after=" in url or "before=" in url]
    assert "after=" not in chrome.filters
    # What the URL asks is in it: the search and filter kept by every form.
    assert 'name="search" value="Chrome lamp"' in filters_of(second.text)
    assert 'value="10"' in filters_of(second.text)


async def test_kept_chrome_holds_nothing_of_the_user_who_first_asked(
    app: FastAPI, open_browser: OpenBrowser
) -> None:
    _, admin = await open_browser("admin")
    _, viewer = await open_browser("viewer")
    url = f"{LIST}?is_active=true"

    as_admin = await admin.get(url)
    as_viewer = await viewer.get(url)

    assert as_admin.status_code == as_viewer.status_code == 200
    assert len(site_of(app).list_chrome.kept) == 1
    assert filters_of(as_admin.text) == filters_of(as_viewer.text)
    (chrome,) = site_of(app).list_chrome.kept.values()
    assert "csrf_token" not in chrome.filters
    # What depends on the user is built for each: the admin's Actions menu offers delete
    # and a save form with their own token; the viewer's page offers neither delete nor
    # the admin's token.
    assert "/admin/product/confirm/delete" in as_admin.text
    assert "/admin/product/confirm/delete" not in as_viewer.text
    tokens = re.findall(r'name="csrf_token" value="([^"]+)"', as_admin.text)
    assert tokens and not [t for t in tokens if t in as_viewer.text]


async def test_kept_links_are_paths_whatever_host_asked_first(
    app: FastAPI, session: AsyncSession
) -> None:
    # The admin's URLs are paths (app/admin/paths.py), so one kept chrome fits every Host
    # the site answers to and never sends a browser to another host's name.
    user = await make_user(session, role="admin")
    for host in ("one.example", "two.example"):
        async with client_for(app, base_url=f"http://{host}") as browser:
            assert (await admin_login(browser, user.email)).status_code == 302
            page = await browser.get(f"{LIST}?sortBy=sku")
            assert page.status_code == 200
            sizes = re.findall(r'class="dropdown-item" href="([^"]+)"', page.text)
            assert len(sizes) == 3 and all(url.startswith("/admin/product/list?") for url in sizes)
            assert "example" not in filters_of(page.text) + headers_of(page.text)
    assert len(site_of(app).list_chrome.kept) == 1


async def test_the_memory_is_bounded_and_a_long_url_is_not_kept(
    app: FastAPI, open_browser: OpenBrowser
) -> None:
    site = site_of(app)
    site.list_chrome = ChromeMemory(limit=2)
    _, browser = await open_browser("viewer")

    for term in ("alpha", "beta", "gamma"):
        assert (await browser.get(LIST, params={"search": term})).status_code == 200
    kept = [url for _, url in site.list_chrome.kept]
    assert len(kept) == 2
    assert "search=alpha" not in " ".join(kept)
    assert "search=gamma" in kept[-1]

    # An unknown parameter makes the URL long: the page is still shown, nothing is kept.
    long_page = await browser.get(LIST, params={"search": "delta", "x": "y" * MAX_KEPT_URL})
    assert long_page.status_code == 200
    assert 'id="filter-sidebar"' in long_page.text
    assert not [url for _, url in site.list_chrome.kept if "search=delta" in url]
    assert len(site.list_chrome.kept) == 2


def test_row_links_are_asked_per_row_only_where_the_answer_can_differ(app: FastAPI) -> None:
    views = [view for view in site_of(app).views if hasattr(view, "list_layout")]
    assert views
    for view in views:
        # A user's own tokens and sessions: the policy answers row by row.
        assert view.list_layout.checks_per_row == (view.identity in OWNED_VIEWS), view.identity

    class CheckingProducts(ProductView):
        async def check_can_edit(self, request: Any, model: Any) -> bool:
            return bool(model.stock)

    # A view with its own check (sqladmin's documented hook) is asked for every row.
    assert checks_per_row(CheckingProducts.__new__(CheckingProducts))
