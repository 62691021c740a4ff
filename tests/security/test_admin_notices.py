"""SPEC §14: admin notices are not free text from the URL. A link to
`/admin/…?notice=Your account is locked, call +1…` showed that text in the site's own
alert box; now a redirect carries a code the server maps to its text, and a refusal's
message is rendered in the response, never put in a URL."""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from app.admin.notices import NOTICES
from tests.admin.hostile import admin_browser
from tests.factories import make_customer, make_order, make_product

PHISHING = [
    "Your account is locked, call +1 555 0100 to unlock it",
    "<script>alert(1)</script>",
    "deleted ",  # a code with a twist is not the code
    "__class__",
]
NOTICE_BOX = re.compile(r'class="alert alert-\w+ bo-notice"[^>]*>([^<]*)<')


def shown_notices(html: str) -> list[str]:
    return NOTICE_BOX.findall(html)


@pytest.mark.parametrize("text", PHISHING)
@pytest.mark.parametrize("param", ["notice", "error"])
async def test_text_in_the_url_is_never_shown_as_a_notice(
    app: FastAPI, session: AsyncSession, param: str, text: str
) -> None:
    customer = await make_customer(session)
    pages = [
        "/admin/",
        "/admin/customer/list",
        f"/admin/customer/details/{customer.id}",
        f"/admin/customer/edit/{customer.id}",
        "/admin/account",
    ]
    async with admin_browser(app, session) as (browser, _):
        for page in pages:
            response = await browser.get(page, params={param: text})
            assert response.status_code == 200, page
            assert shown_notices(response.text) == [], page
            assert "call +1" not in response.text
            assert "<script>alert(1)" not in response.text


async def test_a_notice_code_shows_the_servers_own_text(
    app: FastAPI, session: AsyncSession
) -> None:
    async with admin_browser(app, session) as (browser, _):
        response = await browser.get("/admin/customer/list", params={"notice": "deleted"})

    assert shown_notices(response.text) == [NOTICES["deleted"].text]


async def test_an_action_redirects_with_a_code_and_names_the_row_on_its_page(
    app: FastAPI, session: AsyncSession
) -> None:
    product = await make_product(session, stock=5)
    draft = await make_order(session, customer=await make_customer(session), items=[(product, 1)])
    async with admin_browser(app, session) as (browser, token):
        response = await browser.post(
            f"/admin/order/action/place?pks={draft.id}", data={"csrf_token": token}
        )
        assert response.status_code == 302
        location = response.headers["location"]
        assert location == f"/admin/order/details/{draft.id}?notice=placed"
        shown = await browser.get(location)

    assert shown_notices(shown.text) == [f"{draft.number} placed."]


async def test_a_refusal_is_shown_in_the_response_not_carried_in_a_url(
    app: FastAPI, session: AsyncSession
) -> None:
    product = await make_product(session, stock=5)
    draft = await make_order(session, customer=await make_customer(session), items=[(product, 1)])
    async with admin_browser(app, session) as (browser, token):
        response = await browser.post(
            f"/admin/order/action/ship?pks={draft.id}", data={"csrf_token": token}
        )

    assert response.status_code == 409
    assert "location" not in response.headers
    [message] = shown_notices(response.text)
    assert f"Cannot ship order {draft.number}" in message
    assert 'id="order-items"' in response.text  # the order's own page, with the message


async def test_my_account_refusal_is_shown_in_the_response(
    app: FastAPI, session: AsyncSession
) -> None:
    async with admin_browser(app, session) as (browser, token):
        response = await browser.post(
            "/admin/account",
            data={
                "op": "password",
                "current_password": "x",
                "new_password": "a",
                "confirm_password": "b",
                "csrf_token": token,
            },
        )

    assert response.status_code == 400
    assert shown_notices(response.text) == ["The two new passwords differ."]
