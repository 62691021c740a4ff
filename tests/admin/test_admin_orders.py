"""The admin's order forms only translate (issue 15): a refusal is the order service's, with
the API's message for the same input naming the same field, and nothing is stored."""

from __future__ import annotations

import html
import re

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from app.admin.views.base import STALE_EDIT_MESSAGE
from app.models import Order
from tests.admin.admin_world import page_token
from tests.admin.hostile import admin_browser
from tests.api.order_helpers import ORDERS, caller, observed_state
from tests.factories import make_customer, make_order, make_product

NOTICE_BOX = re.compile(r'class="alert alert-\w+ bo-notice"[^>]*>([^<]*)<')


def refusal(response: httpx.Response) -> str:
    """The one message an admin page shows for a refused write."""
    [message] = NOTICE_BOX.findall(response.text)
    return html.unescape(message).strip()


async def a_draft(session: AsyncSession) -> Order:
    product = await make_product(session, stock=10)
    return await make_order(session, customer=await make_customer(session), items=[(product, 1)])


@pytest.mark.parametrize(
    ("field", "value"),
    [("quantity", "0"), ("quantity", "2000000"), ("quantity", "two"), ("product_id", "987654321")],
)
async def test_an_item_the_admin_refuses_is_refused_by_the_api_with_the_same_message(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, field: str, value: str
) -> None:
    draft = await a_draft(session)
    fields = {"product_id": str(draft.items[0].product_id), "quantity": "1", field: value}
    api = await caller(session, "admin")
    # The API's JSON carries what a script would send: numbers as numbers where they are.
    body = {k: int(v) if v.isdigit() else v for k, v in fields.items()}
    async with admin_browser(app, session) as (browser, token):
        before = await observed_state(client, session, api.headers, draft.id)
        answered = await client.post(f"{ORDERS}/{draft.id}/items", json=body, headers=api.headers)
        shown = await browser.post(
            f"/admin/order/{draft.id}/items", data={"op": "add", **fields, "csrf_token": token}
        )

    assert answered.status_code == 422, answered.text
    [error] = answered.json()["errors"]
    assert error["loc"] == ["body", field]
    assert shown.status_code == 409
    assert refusal(shown) == f"{field}: {error['message']}"
    assert await observed_state(client, session, api.headers, draft.id) == before


async def test_an_order_without_a_customer_is_refused_alike(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    api = await caller(session, "admin")
    answered = await client.post(ORDERS, json={"notes": "x"}, headers=api.headers)
    async with admin_browser(app, session) as (browser, token):
        shown = await browser.post(
            "/admin/order/create", data={"customer": "", "notes": "x", "csrf_token": token}
        )

    [error] = answered.json()["errors"]
    assert error["loc"] == ["body", "customer_id"]
    assert shown.status_code == 400
    assert f"customer_id: {error['message']}" in html.unescape(shown.text)


async def test_an_edit_from_a_stale_form_saves_nothing_and_offers_a_reload(
    app: FastAPI, session: AsyncSession
) -> None:
    draft = await a_draft(session)
    async with admin_browser(app, session) as (browser, token):
        response = await browser.post(
            f"/admin/order/edit/{draft.id}",
            data={
                "customer": str(draft.customer_id),
                "notes": "typed on an old page",
                "version": str(draft.version + 1),
                "csrf_token": token,
            },
        )

    assert response.status_code == 400
    assert html.escape(STALE_EDIT_MESSAGE, quote=True) in response.text
    assert 'id="stale-edit-reload"' in response.text
    await session.refresh(draft)
    assert draft.notes == ""


async def test_a_viewer_posting_the_items_form_is_refused_by_the_service(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    draft = await a_draft(session)
    api = await caller(session, "admin")
    async with admin_browser(app, session, role="viewer") as (browser, _):
        before = await observed_state(client, session, api.headers, draft.id)
        response = await browser.post(
            f"/admin/order/{draft.id}/items",
            data={
                "op": "update",
                "item_id": str(draft.items[0].id),
                "quantity": "5",
                "csrf_token": await page_token(browser),
            },
        )

    assert response.status_code == 409
    assert refusal(response) == "This needs the 'orders:update' permission."
    assert await observed_state(client, session, api.headers, draft.id) == before
