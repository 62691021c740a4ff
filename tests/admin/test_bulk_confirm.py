"""Bulk actions in the admin (SPEC §8): a confirmation that names the rows before anything
changes, and "all N rows matching this search", re-counted and row-restricted on the server."""

from __future__ import annotations

import html
import re
from urllib.parse import urlencode

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.admin import bulk
from app.auth.api_tokens import create_token
from app.auth.token_commands import CreateToken
from app.models import ApiToken, Order, Product
from tests.admin.admin_world import SYSTEM, database_state
from tests.admin.hostile import HOSTILE_IDS, admin_browser
from tests.auth_helpers import admin_login, client_for
from tests.factories import make_customer, make_order, make_product, make_user

NOTICE_BOX = re.compile(r'class="alert alert-\w+ bo-notice"[^>]*>([^<]*)<')
FORM_ACTION = re.compile(r'<form method="POST" action="([^"]+)">')


def notices(response: httpx.Response) -> list[str]:
    return [html.unescape(text).strip() for text in NOTICE_BOX.findall(response.text)]


def names(response: httpx.Response, list_id: str) -> list[str]:
    found = re.search(rf'<ul class="mb-2" id="{list_id}">(.*?)</ul>', response.text, re.S)
    assert found is not None, response.text
    return [html.unescape(name) for name in re.findall(r"<li>(.*?)</li>", found.group(1))]


def title(response: httpx.Response) -> str:
    found = re.search(r'id="bulk-title">([^<]*)<', response.text)
    assert found is not None, response.text
    return html.unescape(found.group(1))


def form_actions(response: httpx.Response) -> list[str]:
    """Where the page's Confirm buttons post (the logout form aside)."""
    return [
        html.unescape(url) for url in FORM_ACTION.findall(response.text) if "/logout" not in url
    ]


async def drafts(session: AsyncSession, count: int, notes: str = "") -> list[Order]:
    """Draft orders with one item each (placeable), carrying `notes` to search for."""
    product = await make_product(session, stock=100)
    customer = await make_customer(session)
    orders = []
    for _ in range(count):
        order = await make_order(session, customer=customer, items=[(product, 1)])
        order.notes = notes
        orders.append(order)
    await session.flush()
    return orders


async def statuses(session: AsyncSession, orders: list[Order]) -> list[str]:
    ids = [order.id for order in orders]
    found = await session.execute(
        select(Order.id, Order.status).where(Order.id.in_(ids)).order_by(Order.id)
    )
    return [status for _, status in found.all()]


def pks(rows: list[Order] | list[Product] | list[ApiToken]) -> str:
    return ",".join(str(row.id) for row in rows)


async def test_the_confirmation_names_the_ticked_rows_and_confirm_places_them(
    app: FastAPI, session: AsyncSession
) -> None:
    ticked = await drafts(session, 2)
    others = await drafts(session, 1)
    async with admin_browser(app, session) as (browser, token):
        before = await database_state(session)
        page = await browser.get(f"/admin/order/confirm/place?pks={pks(ticked)}&sortBy=number")
        # Opening the page, however often, changes nothing.
        assert await database_state(session) == before

        assert page.status_code == 200, page.text
        assert title(page) == "Place 2 orders?"
        assert names(page, "bulk-selected-names") == [o.number for o in ticked]
        selected_url, all_url = form_actions(page)
        assert selected_url == f"/admin/order/action/place?pks={pks(ticked)}"
        assert all_url == "/admin/order/action/place?sortBy=number"
        assert 'href="/admin/order/list?sortBy=number" class="btn btn-outline-secondary" ' in (
            page.text
        )

        done = await browser.post(selected_url, data={"csrf_token": token})

    assert done.status_code == 302
    assert done.headers["location"].endswith("/admin/order/list?notice=placed")
    assert await statuses(session, ticked) == ["placed", "placed"]
    assert await statuses(session, others) == ["draft"]


async def test_all_matching_acts_on_every_row_the_search_matches_across_pages(
    app: FastAPI, session: AsyncSession
) -> None:
    matching = await drafts(session, 3, notes="bulk-needle")
    elsewhere = await drafts(session, 2, notes="haystack")
    search = urlencode({"search": "bulk-needle", "pageSize": "25"})
    async with admin_browser(app, session) as (browser, token):
        page = await browser.get(f"/admin/order/confirm/place?{search}")
        assert page.status_code == 200, page.text
        assert title(page) == "Place all 3 orders matching this search?"
        assert names(page, "bulk-matching-names") == [o.number for o in matching]
        [all_url] = form_actions(page)
        assert all_url == f"/admin/order/action/place?{search}"
        assert 'name="confirmed" value="3"' in page.text

        done = await browser.post(all_url, data={"csrf_token": token, "all": "1", "confirmed": "3"})

    assert done.status_code == 302, done.text
    assert await statuses(session, matching) == ["placed"] * 3
    assert await statuses(session, elsewhere) == ["draft"] * 2


async def test_all_matching_applies_the_lists_filters_too(
    app: FastAPI, session: AsyncSession
) -> None:
    drafted = await drafts(session, 2, notes="filtered-needle")
    placed = await drafts(session, 1, notes="filtered-needle")
    placed[0].status = "placed"
    await session.flush()
    query = urlencode({"search": "filtered-needle", "status": "draft"})
    async with admin_browser(app, session) as (browser, token):
        page = await browser.get(f"/admin/order/confirm/cancel?{query}")
        assert title(page) == "Cancel all 2 orders matching this search?"
        done = await browser.post(
            f"/admin/order/action/cancel?{query}",
            data={"csrf_token": token, "all": "1", "confirmed": "2"},
        )

    assert done.status_code == 302, done.text
    assert await statuses(session, drafted) == ["cancelled"] * 2
    assert await statuses(session, placed) == ["placed"]


async def test_all_matching_is_refused_when_the_rows_changed_since_the_confirmation(
    app: FastAPI, session: AsyncSession
) -> None:
    matching = await drafts(session, 3, notes="moving-needle")
    url = "/admin/order/action/place?search=moving-needle"
    async with admin_browser(app, session) as (browser, token):
        before = await database_state(session)
        answers = [
            await browser.post(url, data={"csrf_token": token, "all": "1", "confirmed": n})
            for n in ("2", "", "junk", "0")
        ]
        assert await database_state(session) == before

    assert [answer.status_code for answer in answers] == [409] * 4
    assert notices(answers[0]) == [
        "The matching rows changed: 3 now, you confirmed 2; review again. Nothing was changed."
    ]
    # The page is the confirmation again, with the count as it is now.
    assert 'name="confirmed" value="3"' in answers[0].text
    assert all("review them again" in notices(answer)[0] for answer in answers[1:])
    assert await statuses(session, matching) == ["draft"] * 3


async def test_a_search_matching_more_than_the_maximum_is_refused(
    app: FastAPI, session: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bulk, "MAX_MATCHING", 2)
    matching = await drafts(session, 3, notes="too-many")
    async with admin_browser(app, session) as (browser, token):
        page = await browser.get("/admin/order/confirm/place?search=too-many")
        refused = await browser.post(
            "/admin/order/action/place?search=too-many",
            data={"csrf_token": token, "all": "1", "confirmed": "3"},
        )

    assert 'id="bulk-too-many"' in page.text
    assert 'id="bulk-confirm-all"' not in page.text
    assert refused.status_code == 409
    assert "More than 2 rows match this search: narrow it" in notices(refused)[0]
    assert await statuses(session, matching) == ["draft"] * 3


async def test_all_matching_without_the_csrf_token_is_refused(
    app: FastAPI, session: AsyncSession
) -> None:
    matching = await drafts(session, 2, notes="no-token")
    async with admin_browser(app, session) as (browser, _):
        refused = await browser.post(
            "/admin/order/action/place?search=no-token", data={"all": "1", "confirmed": "2"}
        )
        forged = await browser.post(
            "/admin/order/action/place?search=no-token",
            data={"all": "1", "confirmed": "2", "csrf_token": "abc.def"},
        )

    assert (refused.status_code, forged.status_code) == (403, 403)
    assert await statuses(session, matching) == ["draft"] * 2


async def test_a_user_without_the_permission_gets_403_and_nothing_changes(
    app: FastAPI, session: AsyncSession
) -> None:
    matching = await drafts(session, 2, notes="viewer-tries")
    customer = await make_customer(session, name="Viewer Target")
    async with admin_browser(app, session, role="viewer") as (browser, token):
        before = await database_state(session)
        answers = [
            await browser.get("/admin/order/confirm/place?search=viewer-tries"),
            await browser.get(f"/admin/order/confirm/place?pks={pks(matching)}"),
            await browser.post(
                "/admin/order/action/place?search=viewer-tries",
                data={"csrf_token": token, "all": "1", "confirmed": "2"},
            ),
            await browser.get("/admin/customer/confirm/delete?search=Viewer"),
            await browser.post(
                "/admin/customer/delete?search=Viewer",
                data={"csrf_token": token, "all": "1", "confirmed": "1"},
            ),
            await browser.post(
                f"/admin/customer/delete?pks={customer.id}", data={"csrf_token": token}
            ),
        ]
        assert await database_state(session) == before

    assert [answer.status_code for answer in answers] == [403] * len(answers)


async def test_a_clerk_acts_only_on_the_rows_the_list_shows_them(
    app: FastAPI, session: AsyncSession
) -> None:
    """API tokens: a clerk's list shows their own; "all" and ticked rows stop there."""
    clerk = await make_user(session, role="clerk")
    other = await make_user(session, role="clerk")
    mine, _ = await create_token(session, SYSTEM, clerk, CreateToken(name="mine"))
    theirs, _ = await create_token(session, SYSTEM, other, CreateToken(name="theirs"))
    await session.flush()
    async with client_for(app) as browser:
        assert (await admin_login(browser, clerk.email)).status_code == 302
        page = await browser.get("/admin/api-token/confirm/revoke")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token is not None
        csrf = token.group(1)
        hidden_page = await browser.get(f"/admin/api-token/confirm/revoke?pks={theirs.id}")
        before = await database_state(session)
        hidden_post = await browser.post(
            f"/admin/api-token/action/revoke?pks={theirs.id}", data={"csrf_token": csrf}
        )
        # The count the clerk could not see is not the count of their list: refused.
        counted_hidden = await browser.post(
            "/admin/api-token/action/revoke",
            data={"csrf_token": csrf, "all": "1", "confirmed": "2"},
        )
        assert await database_state(session) == before
        done = await browser.post(
            "/admin/api-token/action/revoke",
            data={"csrf_token": csrf, "all": "1", "confirmed": "1"},
        )

    assert page.status_code == 200
    assert title(page) == "Revoke the 1 API token?"
    assert "Apply to the 1 API token</button>" in page.text
    assert names(page, "bulk-matching-names") == [str(mine)]
    assert "theirs" not in page.text
    assert hidden_page.status_code == 404
    assert "no longer exist or are not yours to see" in notices(hidden_page)[0]
    assert 'id="bulk-confirm-selected"' not in hidden_page.text
    assert hidden_post.status_code == 403
    assert counted_hidden.status_code == 409
    assert done.status_code == 302, done.text
    await session.refresh(mine)
    await session.refresh(theirs)
    assert mine.revoked_at is not None
    assert theirs.revoked_at is None


async def test_ids_that_name_no_row_are_refused_without_an_error_page(
    app: FastAPI, session: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bulk, "MAX_SELECTED", 3)
    async with admin_browser(app, session) as (browser, token):
        before = await database_state(session)
        for raw in [*HOSTILE_IDS[:-1], "1,,2", "1,x", "%00"]:
            page = await browser.get("/admin/order/confirm/place", params={"pks": raw})
            posted = await browser.post(
                "/admin/order/action/place", params={"pks": raw}, data={"csrf_token": token}
            )
            assert (page.status_code, posted.status_code) == (404, 404), raw
        gone = await browser.get("/admin/order/confirm/place?pks=2147483647")
        too_many = await browser.get("/admin/order/confirm/place?pks=1,2,3,4")
        nul_search = await browser.get("/admin/order/confirm/place", params={"search": "a\x00"})
        nul_all = await browser.post(
            "/admin/order/action/place",
            params={"search": "a\x00"},
            data={"csrf_token": token, "all": "1", "confirmed": "1"},
        )
        unknown = await browser.get("/admin/order/confirm/no-such-action")
        not_in_list = await browser.get("/admin/webhook-endpoint/confirm/rotate-secret")
        assert await database_state(session) == before

    assert gone.status_code == 404
    assert "no longer exist or are not yours to see" in notices(gone)[0]
    assert too_many.status_code == 400
    assert (nul_search.status_code, nul_all.status_code) == (400, 400)
    assert notices(nul_all) == [notices(nul_search)[0]]
    assert "control character" in notices(nul_all)[0]
    assert (unknown.status_code, not_in_list.status_code) == (404, 404)


async def test_bulk_delete_confirms_and_deletes_all_matching_in_one_transaction(
    app: FastAPI, session: AsyncSession
) -> None:
    products = [await make_product(session, name=f"Doomed lamp {n}") for n in range(3)]
    keep = await make_product(session, name="Kept lamp")
    ticked = [await make_product(session, name=f"Ticked lamp {n}") for n in range(2)]
    async with admin_browser(app, session) as (browser, token):
        page = await browser.get(f"/admin/product/confirm/delete?pks={pks(ticked)}")
        assert title(page) == "Delete 2 products?"
        assert names(page, "bulk-selected-names") == [str(p) for p in ticked]
        selected_url, _ = form_actions(page)
        deleted_ticked = await browser.post(selected_url, data={"csrf_token": token})
        assert deleted_ticked.status_code == 302
        assert deleted_ticked.headers["location"].endswith("/admin/product/list?notice=deleted")
        matching = await browser.get("/admin/product/confirm/delete?search=Doomed")
        assert names(matching, "bulk-matching-names") == [str(p) for p in products]
        deleted = await browser.post(
            "/admin/product/delete?search=Doomed",
            data={"csrf_token": token, "all": "1", "confirmed": "3"},
        )

    assert deleted.status_code == 302, deleted.text
    assert deleted.headers["location"].endswith("/admin/product/list?notice=deleted")
    left = await session.execute(select(Product.id).where(Product.name.like("%lamp%")))
    assert left.scalars().all() == [keep.id]


async def test_a_large_run_goes_in_chunks_and_stops_at_the_first_refused_one(
    app: FastAPI, session: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With chunks of 2: the first two chunks are done, the third is refused by its second
    row (an order uses that product) and rolled back, the fourth is never tried."""
    monkeypatch.setattr(bulk, "CHUNK_SIZE", 2)
    products = [await make_product(session, name=f"Chunked bolt {n}") for n in range(7)]
    await make_order(session, items=[(products[5], 1)])
    async with admin_browser(app, session) as (browser, token):
        page = await browser.get("/admin/product/confirm/delete?search=Chunked")
        assert "Done in batches of 2" in page.text
        stopped = await browser.post(
            "/admin/product/delete?search=Chunked",
            data={"csrf_token": token, "all": "1", "confirmed": "7"},
        )

    assert stopped.status_code == 409
    assert notices(stopped) == [
        f"Delete: done for 4 of 7 products; stopped at {products[5]}: The product is "
        f"referenced by 1 order(s); deactivate it instead. Nothing from {products[4]} on "
        "was changed."
    ]
    left = await session.execute(
        select(Product.id).where(Product.name.like("Chunked%")).order_by(Product.id)
    )
    assert left.scalars().all() == [p.id for p in products[4:]]
    # The page shows the rows as they are now, to confirm again or go back.
    assert 'name="confirmed" value="3"' in stopped.text


async def test_the_list_actions_menu_links_to_the_confirmation_with_the_lists_search(
    app: FastAPI, session: AsyncSession
) -> None:
    async with admin_browser(app, session) as (browser, _):
        listed = await browser.get("/admin/order/list?search=SO-&status=draft&notice=placed")
    async with admin_browser(app, session, role="viewer") as (viewer, _):
        viewer_page = await viewer.get("/admin/order/list")

    query = "search=SO-&amp;status=draft"
    assert f'id="bulk-action-place" href="/admin/order/confirm/place?{query}"' in listed.text
    assert f'id="bulk-action-delete" href="/admin/order/confirm/delete?{query}"' in listed.text
    assert "modal-confirmation-" not in listed.text
    assert 'id="bulk-action-place"' not in viewer_page.text
