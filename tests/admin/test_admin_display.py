"""What staff see (SPEC §8): human labels, money and local time, badges and icons, long
text on hover, only the order transitions valid now, related rows one click away."""

from __future__ import annotations

import hashlib
import html
import re
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.admin.display import human_label, money
from app.infra.db import Database
from app.main import create_app
from app.models import ApiToken, OrderStatus
from tests.admin.conftest import OpenBrowser
from tests.auth_helpers import admin_login, client_for
from tests.conftest import test_settings as settings_for
from tests.conftest import url_of
from tests.factories import make_customer, make_order, make_product, make_user

MINUTE_TIME = re.compile(
    r'<time datetime="([^"]+)" title="\1">(\d{4}-\d\d-\d\d \d\d:\d\d) (\w+)</time>'
)
ACTIONS = ("place", "pay", "ship", "cancel")


def header_cells(page: str) -> list[str]:
    heads = re.findall(r"<th[^>]*>(.*?)</th>", page, flags=re.S)
    return [html.unescape(re.sub(r"<[^>]+>", "", head)).strip() for head in heads]


def offered_actions(page: str) -> set[str]:
    return {slug for slug in ACTIONS if f'id="action-{slug}"' in page}


@pytest.mark.parametrize(
    ("name", "label"),
    [
        ("placed_at", "Placed at"),
        ("reorder_level", "Reorder level"),
        ("actor_email", "Actor email"),
        ("sku", "SKU"),
        ("is_active", "Active"),
        ("created_at", "Created"),
        ("resource_id", "Resource ID"),
    ],
)
def test_column_names_read_as_words(name: str, label: str) -> None:
    assert human_label(name) == label


def test_money_has_two_decimals_and_thousands_separators() -> None:
    assert money(Decimal("1234567.5")) == "1,234,567.50"
    assert money(Decimal("0")) == "0.00"


async def test_list_pages_show_labels_money_icons_badges_and_minutes(
    open_browser: OpenBrowser, session: AsyncSession
) -> None:
    product = await make_product(session, price=Decimal("1234.50"), is_active=False)
    await make_order(session, status=OrderStatus.PLACED, items=[(product, 2)])
    await session.commit()
    _, browser = await open_browser("admin")

    products = (await browser.get("/admin/product/list?search=" + product.sku)).text
    orders = (await browser.get("/admin/order/list")).text

    headers = header_cells(products)
    assert {"SKU", "Reorder level", "Active", "Price"} <= set(headers), headers
    assert not {"reorder_level", "is_active"} & set(headers)
    assert "<td>1,234.50</td>" in products
    assert '<span class="visually-hidden">No</span>' in products
    assert "Placed at" in header_cells(orders)
    assert re.search(r'<span class="badge [\w-]+ bo-status">Placed</span>', orders)
    assert "<td>2,469.00</td>" in orders
    shown = MINUTE_TIME.findall(orders)
    assert shown, "no <time> in the orders list"
    for exact, minute, zone in shown:
        assert zone == "UTC"
        assert datetime.fromisoformat(exact).strftime("%Y-%m-%d %H:%M") == minute


async def test_long_text_is_cut_with_the_whole_on_hover(
    open_browser: OpenBrowser, session: AsyncSession
) -> None:
    company = "Very Long Company Name " * 5
    customer = await make_customer(session, company=company.strip())
    await session.commit()
    _, browser = await open_browser("admin")

    page = (await browser.get(f"/admin/customer/list?search={customer.email}")).text

    assert f'title="{company.strip()}"' in page
    assert f"<td>{company.strip()}</td>" not in page


async def test_moments_are_written_in_the_admin_timezone(
    engine: AsyncEngine, database: Database, session: AsyncSession
) -> None:
    user = await make_user(session, role="admin")
    order = await make_order(session)
    order.created_at = datetime(2026, 7, 1, 22, 30, 15, tzinfo=UTC)
    await session.commit()
    app: FastAPI = create_app(settings_for(url_of(engine), admin_timezone="Europe/Paris"), database)
    async with client_for(app) as browser:
        assert (await admin_login(browser, user.email)).status_code == 302
        page = (await browser.get(f"/admin/order/details/{order.id}")).text

    assert (
        '<time datetime="2026-07-01T22:30:15+00:00" title="2026-07-01T22:30:15+00:00">'
        "2026-07-02 00:30 CEST</time>"
    ) in page


@pytest.mark.parametrize(
    ("status", "offered"),
    [
        (OrderStatus.DRAFT, {"place", "cancel"}),
        (OrderStatus.PLACED, {"pay", "cancel"}),
        (OrderStatus.PAID, {"ship", "cancel"}),
        (OrderStatus.SHIPPED, set()),
        (OrderStatus.CANCELLED, set()),
    ],
)
async def test_an_order_page_offers_only_the_transitions_valid_now(
    open_browser: OpenBrowser, session: AsyncSession, status: OrderStatus, offered: set[str]
) -> None:
    product = await make_product(session, stock=5)
    order = await make_order(session, status=status, items=[(product, 1)])
    await session.commit()
    _, browser = await open_browser("admin")

    page = (await browser.get(f"/admin/order/details/{order.id}")).text

    assert offered_actions(page) == offered
    labels = header_cells(page)
    assert "Placed at" in labels and "placed_at" not in labels
    if "place" in offered:
        assert f"Place: order {order.number}?" in page


async def test_an_order_page_offers_only_what_the_role_may_do(
    open_browser: OpenBrowser, session: AsyncSession
) -> None:
    order = await make_order(session, status=OrderStatus.PLACED)
    await session.commit()
    _, clerk = await open_browser("clerk")
    _, viewer = await open_browser("viewer")

    as_clerk = (await clerk.get(f"/admin/order/details/{order.id}")).text
    as_viewer = (await viewer.get(f"/admin/order/details/{order.id}")).text

    assert offered_actions(as_clerk) == {"cancel"}  # clerks place and cancel, never pay
    assert offered_actions(as_viewer) == set()


async def test_a_customer_page_lists_their_orders_and_no_one_elses(
    open_browser: OpenBrowser, session: AsyncSession
) -> None:
    customer = await make_customer(session)
    theirs = [await make_order(session, customer=customer) for _ in range(12)]
    other = await make_order(session)
    await session.commit()
    _, browser = await open_browser("viewer")

    page = (await browser.get(f"/admin/customer/details/{customer.id}")).text

    assert ">Orders</h3>" in page and "(12)" in page
    shown = re.findall(r'<a href="[^"]*/admin/order/details/(\d+)">', page)
    assert [int(pk) for pk in shown] == [order.id for order in reversed(theirs)][:10]
    assert other.number not in page


async def test_a_product_page_lists_its_recent_order_lines(
    open_browser: OpenBrowser, session: AsyncSession
) -> None:
    product = await make_product(session, price=Decimal("1500.00"))
    order = await make_order(session, items=[(product, 3)])
    await session.commit()
    _, browser = await open_browser("viewer")

    page = (await browser.get(f"/admin/product/details/{product.id}")).text

    assert ">Recent order lines</h3>" in page
    assert f'/admin/order/details/{order.id}">{order.number}</a>' in page
    assert "<td>1,500.00</td>" in page


async def a_token(session: AsyncSession, user_id: int, name: str) -> ApiToken:
    token = ApiToken(
        user_id=user_id,
        name=name,
        token_prefix="abcd1234",
        token_hash=hashlib.sha256(name.encode()).hexdigest(),
        scopes=[],
    )
    session.add(token)
    await session.flush()
    return token


async def test_a_user_page_lists_their_tokens_and_sessions_to_whom_may_see_them(
    open_browser: OpenBrowser, session: AsyncSession
) -> None:
    staff = await make_user(session, role="clerk")
    await a_token(session, staff.id, "nightly export")
    await session.commit()
    await open_browser(user=staff)  # a staff session of theirs
    _, admin = await open_browser("admin")
    _, manager = await open_browser("manager")  # reads users, sees only their own tokens

    as_admin = (await admin.get(f"/admin/user/details/{staff.id}")).text
    as_manager = (await manager.get(f"/admin/user/details/{staff.id}")).text

    assert ">API tokens</h3>" in as_admin and "nightly export" in as_admin
    assert ">Staff sessions</h3>" in as_admin and "/admin/staff-session/details/" in as_admin
    assert "nightly export" not in as_manager and ">API tokens</h3>" not in as_manager
    assert ">Staff sessions</h3>" not in as_manager


async def test_a_details_page_of_a_missing_or_hidden_row_is_refused(
    open_browser: OpenBrowser, session: AsyncSession
) -> None:
    staff = await make_user(session, role="clerk")
    token = await a_token(session, staff.id, "theirs")
    await session.commit()
    _, manager = await open_browser("manager")

    answers = [
        await manager.get("/admin/order/details/987654321"),
        await manager.get(f"/admin/api-token/details/{token.id}"),
    ]

    assert [a.status_code for a in answers] == [404, 403]  # missing; hidden (policy.py)
    assert all("theirs" not in a.text for a in answers)


async def test_the_dashboard_shows_money_and_status_badges(
    open_browser: OpenBrowser, session: AsyncSession
) -> None:
    product = await make_product(session, price=Decimal("1234.50"), stock=5)
    order = await make_order(session, status=OrderStatus.PLACED, items=[(product, 1)])
    order.placed_at = datetime.now(UTC)
    await session.commit()
    _, browser = await open_browser("admin")

    page = (await browser.get("/admin/")).text

    recent = page[page.index('id="recent-orders"') :]
    assert re.search(r'<span class="badge [\w-]+ bo-status">Placed</span>', recent)
    assert '<td class="text-end">1,234.50</td>' in recent
    assert "1,234.50 revenue" in page
