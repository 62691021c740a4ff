"""The admin's lists and the API's are one list package (app/lists): the search box finds
what `q` finds, and the dashboard and the lists count with one EXACT_COUNT_LIMIT."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.admin import MODEL_VIEWS
from app.auth.api_tokens import create_token
from app.auth.principal import Principal
from app.auth.token_commands import CreateToken
from app.models import AuditEvent
from tests.admin.conftest import OpenBrowser
from tests.factories import make_customer, make_order, make_product, make_user

ROW_ID = re.compile(r'<input type="hidden" value="(\d+)">')
Seeder = Callable[[AsyncSession, str], Awaitable[None]]


async def seed_customer(session: AsyncSession, word: str) -> None:
    await make_customer(session, company=f"{word} Ltd")


async def seed_product(session: AsyncSession, word: str) -> None:
    await make_product(session, name=f"Item {word}")


async def seed_order(session: AsyncSession, word: str) -> None:
    order = await make_order(session)
    order.notes = f"call {word}"


async def seed_audit_event(session: AsyncSession, word: str) -> None:
    session.add(AuditEvent(channel="system", action=f"probe.{word}", changes={}))


async def seed_user(session: AsyncSession, word: str) -> None:
    await make_user(session, role=None, full_name=f"Staff {word}")


# Every admin view that declares the API's list rules, with the API list and a row maker.
SEARCHED: dict[str, tuple[str, Seeder]] = {
    "customer": ("/api/v1/customers", seed_customer),
    "product": ("/api/v1/products", seed_product),
    "order": ("/api/v1/orders", seed_order),
    "audit-event": ("/api/v1/audit-events", seed_audit_event),
    "user": ("/api/v1/users", seed_user),
}


def test_every_admin_view_with_the_api_rules_is_checked_here() -> None:
    with_spec = {view.identity for view in MODEL_VIEWS if view.list_spec is not None}

    assert with_spec == set(SEARCHED)


@pytest.mark.parametrize("identity", SEARCHED)
async def test_the_admin_search_finds_what_the_api_q_finds(
    client: httpx.AsyncClient, open_browser: OpenBrowser, session: AsyncSession, identity: str
) -> None:
    url, seed = SEARCHED[identity]
    user, browser = await open_browser("admin")
    _, plaintext = await create_token(session, Principal.system(), user, CreateToken(name="lists"))
    for word in ("zqwanted", "ZQWANTED", "zqother"):
        await seed(session, word)
    await session.flush()

    admin = await browser.get(f"/admin/{identity}/list", params={"search": "zqWanted"})
    api = await client.get(
        url,
        params={"q": "zqWanted", "limit": "200"},
        headers={"Authorization": f"Bearer {plaintext}"},
    )

    assert admin.status_code == api.status_code == 200, api.text
    found = {item["id"] for item in api.json()["items"]}
    assert len(found) == 2  # in any case
    assert {int(pk) for pk in ROW_ID.findall(admin.text)} == found


async def test_the_dashboard_and_the_lists_count_with_one_exact_count_limit(
    open_browser: OpenBrowser,
    session: AsyncSession,
    backend: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if backend != "postgresql":
        pytest.skip("the planner's estimate exists on PostgreSQL only")
    _, browser = await open_browser("viewer")
    for _ in range(4):
        await make_customer(session)
    await session.execute(text("ANALYZE customers"))

    exact_dashboard = await browser.get("/admin/")
    exact_list = await browser.get("/admin/customer/list")
    monkeypatch.setattr("app.lists.counts.EXACT_COUNT_LIMIT", 2)
    estimated_dashboard = await browser.get("/admin/")
    estimated_list = await browser.get("/admin/customer/list")

    approximate = re.compile(r'id="count-customers">[\d,]+ <span class="bo-approx"')
    assert not approximate.search(exact_dashboard.text)
    assert approximate.search(estimated_dashboard.text)
    assert "about " not in exact_list.text
    assert re.search(r'<span class="bo-approx"[^>]*>about [\d,]+</span>', estimated_list.text)
