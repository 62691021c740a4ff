"""Saved list views (SPEC §8): a list saved under a name, private or shared with all staff,
opened from the list page; the owner is whoever is logged in, others' private views do not
exist for anyone else, and a refused save or delete changes nothing."""

from __future__ import annotations

import html
import re

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import AuditEvent, SavedView, User
from tests.admin.conftest import OpenBrowser
from tests.auth_helpers import admin_csrf

ORDER_LIST = "/admin/order/list"


async def save(
    browser: httpx.AsyncClient,
    identity: str,
    name: str,
    query: str,
    *,
    shared: bool = False,
    **extra: str,
) -> httpx.Response:
    """Post the list page's "Save this view" form, as its page would."""
    token = await admin_csrf(browser, f"/admin/{identity}/list")
    form = {"csrf_token": token, "name": name, "query": query, **extra}
    if shared:
        form["shared"] = "true"
    return await browser.post(f"/admin/{identity}/saved-views", data=form)


async def views_of(session: AsyncSession, owner: User | None = None) -> list[SavedView]:
    statement = select(SavedView).order_by(SavedView.id).execution_options(populate_existing=True)
    if owner is not None:
        statement = statement.where(SavedView.owner_user_id == owner.id)
    return list((await session.execute(statement)).scalars())


async def count_views(session: AsyncSession) -> int:
    return int((await session.execute(select(func.count()).select_from(SavedView))).scalar_one())


def block_of(page: str) -> str:
    found = re.search(r'<section id="saved-views".*?</section>', page, re.S)
    assert found, "no saved views block"
    return html.unescape(found.group(0))


async def test_a_saved_view_keeps_the_lists_parameters_and_is_shared_with_colleagues(
    open_browser: OpenBrowser, session: AsyncSession
) -> None:
    owner, mine = await open_browser("manager")
    colleague, theirs = await open_browser("viewer")
    query = "status=placed&total_min=10&sortBy=total&sort=desc&pageSize=50&after=abc&bogus=1"

    saved = await save(mine, "order", "Big placed orders", query, shared=True)
    private = await save(mine, "order", "Just mine", "status=draft")

    # The list's own parameters in one order; the cursor and the unknown one are gone.
    kept = "sortBy=total&sort=desc&status=placed&total_min=10&pageSize=50"
    assert saved.status_code == 303
    assert saved.headers["location"].endswith(f"{ORDER_LIST}?{kept}")
    assert private.status_code == 303
    views = await views_of(session, owner)
    assert [(v.name, v.query, v.is_shared, v.list_identity) for v in views] == [
        ("Big placed orders", kept, True, "order"),
        ("Just mine", "status=draft", False, "order"),
    ]
    created = (
        await session.execute(
            select(AuditEvent).where(
                AuditEvent.action == "saved_view.created",
                AuditEvent.resource_id == str(views[0].id),
            )
        )
    ).scalar_one()
    assert created.actor_user_id == owner.id
    assert created.changes["query"] == [None, kept]

    own_page = block_of((await mine.get(f"{ORDER_LIST}?{kept}")).text)
    their_page = block_of((await theirs.get(ORDER_LIST)).text)
    other_list = await theirs.get("/admin/customer/list")

    # The owner sees both, the one open marked; the colleague only the shared one, with
    # who shared it and no delete button (only its owner or a user manager may).
    assert f'href="{ORDER_LIST}?{kept}" aria-current="page"' in own_page
    assert "Just mine" in own_page
    assert f'href="{ORDER_LIST}?{kept}"' in their_page
    assert f"by {owner.email}" in their_page
    assert "Just mine" not in their_page
    assert "/delete" not in their_page
    assert "Big placed orders" not in block_of(other_list.text)
    assert colleague.id != owner.id


async def test_the_owner_is_always_the_logged_in_user(
    open_browser: OpenBrowser, session: AsyncSession
) -> None:
    me, browser = await open_browser("viewer")
    someone, _ = await open_browser("admin")

    response = await save(
        browser,
        "product",
        "Cheap things",
        "price_max=5",
        owner_user_id=str(someone.id),
        owner=str(someone.id),
        list_identity="audit-event",
    )

    assert response.status_code == 303
    assert await views_of(session, someone) == []
    [view] = await views_of(session, me)
    assert (view.name, view.list_identity, view.query) == ("Cheap things", "product", "price_max=5")


async def test_another_users_private_view_cannot_be_opened_or_deleted(
    open_browser: OpenBrowser, session: AsyncSession
) -> None:
    owner, mine = await open_browser("viewer")
    _, admin = await open_browser("admin")
    await save(mine, "order", "Private", "status=paid")
    await save(mine, "order", "Shared", "status=placed", shared=True)
    private, shared = await views_of(session, owner)
    token = await admin_csrf(admin, ORDER_LIST)

    opened_private = await admin.get(f"/admin/order/saved-views/{private.id}")
    opened_shared = await admin.get(f"/admin/order/saved-views/{shared.id}")
    opened_own = await mine.get(f"/admin/order/saved-views/{private.id}")
    wrong_list = await mine.get(f"/admin/customer/saved-views/{private.id}")
    deleted = await admin.post(
        f"/admin/order/saved-views/{private.id}/delete", data={"csrf_token": token}
    )

    assert opened_private.status_code == 404
    assert opened_shared.status_code == 302
    assert opened_shared.headers["location"].endswith(f"{ORDER_LIST}?status=placed")
    assert opened_own.status_code == 302
    assert opened_own.headers["location"].endswith(f"{ORDER_LIST}?status=paid")
    assert wrong_list.status_code == 404
    assert deleted.status_code == 404
    assert "No such saved view." in deleted.text
    assert "Private" not in block_of((await admin.get(ORDER_LIST)).text)
    assert len(await views_of(session, owner)) == 2


async def test_a_shared_view_is_deleted_by_its_owner_or_a_user_manager_only(
    open_browser: OpenBrowser, session: AsyncSession
) -> None:
    owner, mine = await open_browser("clerk")
    _, other_clerk = await open_browser("clerk")
    _, admin = await open_browser("admin")
    await save(mine, "customer", "Inactive", "is_active=false", shared=True)
    await save(mine, "customer", "Mine too", "is_active=true", shared=True)
    inactive, mine_too = await views_of(session, owner)

    async def delete(browser: httpx.AsyncClient, view: SavedView) -> httpx.Response:
        token = await admin_csrf(browser, "/admin/customer/list")
        return await browser.post(
            f"/admin/customer/saved-views/{view.id}/delete",
            data={"csrf_token": token, "query": "is_active=true&after=xyz"},
        )

    refused = await delete(other_clerk, inactive)
    assert refused.status_code == 403
    assert "Only its owner or a user manager may delete a shared view." in refused.text
    assert len(await views_of(session, owner)) == 2

    by_manager = await delete(admin, inactive)
    by_owner = await delete(mine, mine_too)

    assert by_manager.status_code == by_owner.status_code == 303
    # Back to the list as it was, without its paging cursor.
    assert by_owner.headers["location"].endswith("/admin/customer/list?is_active=true")
    assert await views_of(session, owner) == []
    deletions = (
        await session.execute(
            select(AuditEvent.actor_user_id).where(AuditEvent.action == "saved_view.deleted")
        )
    ).all()
    assert len(deletions) == 2 and owner.id in {row[0] for row in deletions}


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("bad\x00name", "must not contain control characters (found U+0000)"),
        ("line\nbreak", "must not contain control characters (found U+000A)"),
        ("x" * 500, "at most 80 characters"),
        ("   ", "at least 1 character"),
    ],
)
async def test_a_bad_name_is_a_message_and_nothing_is_saved(
    open_browser: OpenBrowser, session: AsyncSession, name: str, message: str
) -> None:
    _, browser = await open_browser("viewer")
    before = await count_views(session)

    response = await save(browser, "order", name, "status=placed")

    assert response.status_code == 422
    assert message in response.text
    assert "alert-danger" in response.text
    # The list is shown as it was, to try again.
    assert 'id="filter-status" name="status"' in response.text
    assert await count_views(session) == before


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("status=lost", "has no such choice"),
        ("total_min=abc", "the minimum must be a number"),
        ("sortBy=notes", "cannot be sorted that way"),
        ("status=placed%00", "must not contain control characters"),
        ("search=a\x00b", "not a list's address"),
        ("search=" + "x" * 5000, "not a list's address"),
    ],
)
async def test_a_query_the_list_would_refuse_is_not_saved(
    open_browser: OpenBrowser, session: AsyncSession, query: str, message: str
) -> None:
    _, browser = await open_browser("viewer")
    before = await count_views(session)

    response = await save(browser, "order", "Broken", query)

    assert response.status_code == 400
    assert message in html.unescape(response.text)
    assert await count_views(session) == before


async def test_the_same_name_twice_on_one_list_is_refused(
    open_browser: OpenBrowser, session: AsyncSession
) -> None:
    me, browser = await open_browser("viewer")

    first = await save(browser, "order", "Placed", "status=placed")
    again = await save(browser, "order", "  Placed ", "status=paid")
    other_list = await save(browser, "customer", "Placed", "")

    assert first.status_code == 303 and other_list.status_code == 303
    assert again.status_code == 409
    assert "You already have a saved view of this list with that name." in again.text
    assert [(v.list_identity, v.query) for v in await views_of(session, me)] == [
        ("order", "status=placed"),
        ("customer", ""),
    ]


async def test_saving_or_deleting_without_the_csrf_token_is_refused(
    open_browser: OpenBrowser, session: AsyncSession
) -> None:
    me, browser = await open_browser("admin")
    await save(browser, "order", "Kept", "status=paid")
    [view] = await views_of(session, me)

    saved = await browser.post(
        "/admin/order/saved-views", data={"name": "Forged", "query": "status=placed"}
    )
    deleted = await browser.post(f"/admin/order/saved-views/{view.id}/delete", data={})

    assert saved.status_code == deleted.status_code == 403
    assert [v.name for v in await views_of(session, me)] == ["Kept"]


async def test_a_list_the_user_cannot_read_has_no_saved_views_for_them(
    open_browser: OpenBrowser, session: AsyncSession
) -> None:
    me, viewer = await open_browser("viewer")
    _, admin = await open_browser("admin")
    await save(admin, "audit-event", "Logins", "action=login.", shared=True)
    [shared] = [v for v in await views_of(session) if v.list_identity == "audit-event"]
    token = await admin_csrf(viewer, ORDER_LIST)

    saved = await viewer.post(
        "/admin/audit-event/saved-views",
        data={"csrf_token": token, "name": "Sneaky", "query": ""},
    )
    opened = await viewer.get(f"/admin/audit-event/saved-views/{shared.id}")
    deleted = await viewer.post(
        f"/admin/audit-event/saved-views/{shared.id}/delete", data={"csrf_token": token}
    )
    own_tokens = await save(viewer, "api-token", "My revoked", "revoked_at=true")

    assert saved.status_code == opened.status_code == deleted.status_code == 403
    assert [(v.list_identity, v.name) for v in await views_of(session, me)] == [
        ("api-token", "My revoked")
    ]
    assert own_tokens.status_code == 303
    assert any(v.id == shared.id for v in await views_of(session))


async def test_a_refused_list_page_still_lists_the_views_but_offers_no_save(
    open_browser: OpenBrowser,
) -> None:
    _, browser = await open_browser("viewer")
    await save(browser, "product", "Low stock", "stock_max=3")

    refused = await browser.get("/admin/product/list", params={"stock_max": "lots"})
    fine = await browser.get("/admin/product/list", params={"stock_max": "3", "after": "x"})

    assert "Low stock" in block_of(refused.text)
    assert 'id="save-view-form"' not in refused.text
    assert 'id="save-view-form"' in fine.text
    # The form saves the list's own parameters: no cursor.
    assert 'name="query" value="stock_max=3"' in fine.text
