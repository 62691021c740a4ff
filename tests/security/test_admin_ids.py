"""SPEC §14: an admin URL or form whose id is not ASCII digits within the column's range
names no row: a 404 page or a message, never a 500 (ids ≥ 2^31 overflowed the driver,
"²" passed isdigit() and crashed int(), "١٢" was read as 12)."""

from __future__ import annotations

from urllib.parse import quote

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from app.admin.ids import MAX_ID, parse_id
from tests.admin.hostile import HOSTILE_IDS, IDENTITIES, action_paths, admin_browser
from tests.factories import make_customer, make_order, make_product


def _q(raw: str) -> str:
    return quote(raw, safe="")


async def _id_requests(
    browser: httpx.AsyncClient, token: str, app: FastAPI, identity: str, raw: str
) -> dict[str, httpx.Response]:
    """Every admin URL of `identity` that takes an id or `pks`, asked with `raw`."""
    base = f"/admin/{identity}"
    csrf = {"X-CSRF-Token": token}
    answers = {
        "details": await browser.get(f"{base}/details/{_q(raw)}"),
        "edit": await browser.get(f"{base}/edit/{_q(raw)}"),
        "edit POST": await browser.post(f"{base}/edit/{_q(raw)}", data={"csrf_token": token}),
        "delete": await browser.delete(f"{base}/delete?pks={_q(raw)}", headers=csrf),
        "delete among good ids": await browser.delete(
            f"{base}/delete?pks=1,{_q(raw)}", headers=csrf
        ),
    }
    for path in action_paths(app, identity):
        answers[path] = await browser.post(f"{path}?pks={_q(raw)}", data={"csrf_token": token})
        answers[f"GET {path} among good ids"] = await browser.get(
            f"{path}?pks=1,{_q(raw)}", headers=csrf
        )
    return answers


@pytest.mark.parametrize("identity", IDENTITIES)
async def test_a_hostile_id_in_any_admin_url_is_a_404(
    app: FastAPI, session: AsyncSession, identity: str
) -> None:
    failures = []
    async with admin_browser(app, session) as (browser, token):
        for raw in HOSTILE_IDS:
            answers = await _id_requests(browser, token, app, identity, raw)
            for name, response in answers.items():
                # An action with nothing selected says so (409 and a message); any id that
                # names no row is a 404.
                nothing_selected = raw == "" and "/action/" in name and "among" not in name
                expected = {409} if nothing_selected else {404}
                if response.status_code not in expected:
                    failures.append(f"{name} {raw!r}: {response.status_code}")
    assert failures == []


async def test_a_hostile_id_in_an_admin_form_is_a_message(
    app: FastAPI, session: AsyncSession
) -> None:
    # Ids that travel in form fields: an order's customer, an item's product, one's own
    # token or session on "My account".
    buyer = await make_customer(session)
    product = await make_product(session, stock=5)
    draft = await make_order(session, customer=buyer, items=[(product, 1)])
    failures = []
    async with admin_browser(app, session) as (browser, token):
        for raw in HOSTILE_IDS:
            forms = {
                "order create": ("/admin/order/create", {"customer": raw, "notes": ""}),
                "order edit": (
                    f"/admin/order/edit/{draft.id}",
                    {"customer": raw, "notes": "", "version": str(draft.version)},
                ),
                "add item": (
                    f"/admin/order/{draft.id}/items",
                    {"op": "add", "product_id": raw, "quantity": "1"},
                ),
                "add quantity": (
                    f"/admin/order/{draft.id}/items",
                    {"op": "add", "product_id": str(product.id), "quantity": raw},
                ),
                "remove item": (
                    f"/admin/order/{draft.id}/items",
                    {"op": "remove", "item_id": raw},
                ),
                "revoke token": ("/admin/account", {"op": "revoke-token", "token_id": raw}),
                "end session": ("/admin/account", {"op": "end-session", "session_id": raw}),
            }
            for name, (path, form) in forms.items():
                response = await browser.post(path, data=form | {"csrf_token": token})
                if response.status_code >= 500 or response.status_code in (403, 404):
                    failures.append(f"{name} {raw!r}: {response.status_code}")
            items = await browser.post(
                f"/admin/order/{_q(raw)}/items",
                data={"op": "add", "product_id": str(product.id), "quantity": "1"}
                | {"csrf_token": token},
            )
            if items.status_code != 404:
                failures.append(f"items of order {raw!r}: {items.status_code}")
    assert failures == []


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1", 1),
        (str(MAX_ID), MAX_ID),
        ("007", 7),
        (str(MAX_ID + 1), None),
        ("9" * 5000, None),
        ("²", None),
        ("١٢", None),
        ("+1", None),
        ("1_000", None),
        ("0", None),
    ],
)
def test_the_admin_id_parser_takes_only_ascii_digits_in_range(
    raw: str, expected: int | None
) -> None:
    assert parse_id(raw) == expected
