"""SPEC §14 "Hosts and caches": the admin's redirects and links are paths, never built from
the `Host` header (`Host: evil.example` made `Location: http://evil.example/admin/`)."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from tests.admin.admin_world import page_token
from tests.auth_helpers import admin_login, client_for
from tests.factories import make_customer, make_order, make_product, make_user

EVIL = "evil.example"


def is_path(location: str) -> bool:
    """A same-site path: starts with one slash (`//host` would name another site)."""
    return location.startswith("/") and not location.startswith("//") and EVIL not in location


async def test_no_admin_redirect_or_link_is_built_from_the_host_header(
    app: FastAPI, session: AsyncSession
) -> None:
    user = await make_user(session, role="admin")
    customer = await make_customer(session)
    product = await make_product(session, stock=5)
    draft = await make_order(session, customer=customer, items=[(product, 1)])
    deletable = await make_customer(session)
    async with client_for(app, base_url=f"http://{EVIL}") as browser:
        locations: dict[str, str] = {}
        anonymous = await browser.get("/admin/customer/list")
        locations["login required"] = anonymous.headers["location"]
        login = await admin_login(browser, user.email)
        locations["login"] = login.headers["location"]
        token = await page_token(browser)
        pages: dict[str, httpx.Response] = {
            path: await browser.get(path)
            for path in (
                "/admin/",
                "/admin/customer/list",
                f"/admin/customer/details/{customer.id}",
                f"/admin/customer/edit/{customer.id}",
                f"/admin/order/details/{draft.id}",
                "/admin/customer/create",
                "/admin/account",
                "/admin/logout",
            )
        }
        saved = await browser.post(
            "/admin/customer/create",
            data={"name": "Host test", "email": "host-test@example.com", "csrf_token": token},
        )
        locations["save"] = saved.headers["location"]
        placed = await browser.post(
            f"/admin/order/action/place?pks={draft.id}", data={"csrf_token": token}
        )
        locations["action"] = placed.headers["location"]
        deleted = await browser.delete(
            f"/admin/customer/delete?pks={deletable.id}", headers={"X-CSRF-Token": token}
        )
        locations["delete (the page sqladmin's script opens)"] = deleted.text
        logout = await browser.post("/admin/logout", data={"csrf_token": token})
        locations["logout"] = logout.headers["location"]

    assert {name: where for name, where in locations.items() if not is_path(where)} == {}
    for path, page in pages.items():
        assert page.status_code == 200, path
        assert EVIL not in page.text, path
        assert 'href="/admin/statics/' in page.text or path == "/admin/logout", path
