"""Typed list filters (SPEC §8): ranges for numbers and dates, choices for enums, yes/no;
every value from the URL, a bad one a message on the list page and no query for it."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.models import OrderStatus
from tests.admin.conftest import OpenBrowser
from tests.api.order_helpers import statements_on
from tests.factories import make_customer, make_order, make_product

ROW_ID = re.compile(r'<input type="hidden" value="(\d+)">')


def shown(html: str) -> set[int]:
    return {int(pk) for pk in ROW_ID.findall(html)}


def form_of(html: str, slug: str) -> str:
    found = re.search(
        rf'<form method="get" class="bo-filter[^"]*" id="filter-{slug}-form">.*?</form>', html, re.S
    )
    assert found, f"no form for the filter {slug}"
    return found.group(0)


def hidden_inputs(form: str) -> dict[str, str]:
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', form))


def word() -> str:
    return f"zq{uuid.uuid4().hex[:8]}"


async def test_products_filter_by_price_and_stock_ranges_and_by_active(
    open_browser: OpenBrowser, session: AsyncSession
) -> None:
    _, browser = await open_browser("viewer")
    w = word()
    cheap = await make_product(session, name=f"Item {w} a", price=Decimal("5.00"), stock=1)
    mid = await make_product(session, name=f"Item {w} b", price=Decimal("15.00"), stock=20)
    dear = await make_product(
        session, name=f"Item {w} c", price=Decimal("25.00"), stock=5, is_active=False
    )
    edge = await make_product(session, name=f"Item {w} d", price=Decimal("20.00"), stock=50)

    async def listed(**params: str) -> set[int]:
        response = await browser.get("/admin/product/list", params={"search": w, **params})
        assert response.status_code == 200, response.text
        assert "alert-danger" not in response.text, params
        return shown(response.text)

    assert await listed() == {cheap.id, mid.id, dear.id, edge.id}
    # Both bounds are included; either may be left open.
    assert await listed(price_min="10", price_max="20") == {mid.id, edge.id}
    assert await listed(price_min="20.00") == {dear.id, edge.id}
    assert await listed(price_max="5") == {cheap.id}
    assert await listed(stock_min="5", stock_max="20") == {mid.id, dear.id}
    assert await listed(price_min="10", stock_max="30", is_active="true") == {mid.id}
    assert await listed(is_active="false") == {dear.id}
    # An empty box is no bound (a submitted form sends both of a range's inputs).
    assert await listed(price_min="", price_max="15") == {cheap.id, mid.id}


async def test_orders_filter_by_status_choice_total_range_and_placed_day(
    open_browser: OpenBrowser, session: AsyncSession
) -> None:
    _, browser = await open_browser("viewer")
    w = word()
    stocked = await make_product(session, price=Decimal("10.00"), stock=100)
    orders = {}
    for key, status, quantity, placed in [
        ("draft", OrderStatus.DRAFT, 1, None),
        ("small", OrderStatus.PLACED, 1, datetime(2026, 3, 1, 23, 59, tzinfo=UTC)),
        ("big", OrderStatus.PLACED, 9, datetime(2026, 3, 2, 0, 0, tzinfo=UTC)),
        ("paid", OrderStatus.PAID, 9, datetime(2026, 2, 28, 12, 0, tzinfo=UTC)),
    ]:
        order = await make_order(session, status=status, items=[(stocked, quantity)])
        order.notes, order.placed_at = f"call {w}", placed
        orders[key] = order.id
    await session.flush()

    async def listed(**params: str) -> set[int]:
        response = await browser.get("/admin/order/list", params={"search": w, **params})
        assert response.status_code == 200, response.text
        assert "alert-danger" not in response.text, params
        return shown(response.text)

    assert await listed(status="placed") == {orders["small"], orders["big"]}
    assert await listed(status="placed", total_min="50") == {orders["big"]}
    assert await listed(total_max="10") == {orders["draft"], orders["small"]}
    # Days are UTC days, both included: 23:59 on the 1st is in, midnight of the 2nd is not.
    assert await listed(placed_at_from="2026-03-01", placed_at_to="2026-03-01") == {orders["small"]}
    assert await listed(placed_at_from="2026-03-01") == {orders["small"], orders["big"]}
    assert await listed(placed_at_to="2026-03-01") == {orders["small"], orders["paid"]}
    # Through the last day there is: no upper bound rather than an overflow.
    assert await listed(placed_at_to="9999-12-31", status="paid") == {orders["paid"]}


async def test_customers_filter_by_created_day_and_active(
    open_browser: OpenBrowser, session: AsyncSession
) -> None:
    _, browser = await open_browser("viewer")
    w = word()
    before = await make_customer(
        session, company=f"{w} Ltd", created_at=datetime(2025, 12, 31, 23, 59, 59, tzinfo=UTC)
    )
    first = await make_customer(
        session, company=f"{w} Ltd", created_at=datetime(2026, 1, 1, 0, 0, tzinfo=UTC)
    )
    last = await make_customer(
        session,
        company=f"{w} Ltd",
        created_at=datetime(2026, 1, 31, 23, 59, 59, tzinfo=UTC),
        is_active=False,
    )
    after = await make_customer(
        session, company=f"{w} Ltd", created_at=datetime(2026, 2, 1, 0, 0, tzinfo=UTC)
    )

    january = {"created_at_from": "2026-01-01", "created_at_to": "2026-01-31"}
    response = await browser.get("/admin/customer/list", params={"search": w, **january})
    inactive = await browser.get("/admin/customer/list", params={"search": w, "is_active": "false"})

    assert shown(response.text) == {first.id, last.id}
    assert shown(inactive.text) == {last.id}
    assert before.id not in shown(response.text) and after.id not in shown(response.text)


@pytest.mark.parametrize(
    ("identity", "params", "message"),
    [
        ("product", {"price_min": "abc"}, "the minimum must be a number"),
        ("product", {"price_max": "1e999"}, "the maximum must be a number"),
        ("product", {"price_min": "NaN"}, "the minimum must be a number"),
        ("product", {"stock_max": "1.5"}, "the maximum must be a whole number"),
        ("product", {"stock_min": "99999999999"}, "the minimum must be a whole number"),
        ("product", {"price_min": "20", "price_max": "10"}, "the minimum is above the maximum"),
        ("product", {"price": "5"}, "is given as price_min and price_max"),
        ("product", {"is_active": "maybe"}, "has no such choice"),
        ("product", {"price_min": "1\x00"}, "must not contain control characters"),
        ("product", {"stock_min": "9" * 400}, "must be at most 320 characters"),
        ("order", {"status": "lost"}, "has no such choice"),
        ("order", {"status": "placed\n"}, "must not contain control characters"),
        ("customer", {"created_at_from": "2026-13-01"}, "day must be YYYY-MM-DD"),
        ("customer", {"created_at_to": "yesterday"}, "day must be YYYY-MM-DD"),
        ("customer", {"created_at_from": "٢٠٢٦-01-01"}, "day must be YYYY-MM-DD"),
        (
            "customer",
            {"created_at_from": "2026-02-01", "created_at_to": "2026-01-01"},
            "is after the “to” day",
        ),
        ("audit-event", {"channel": "email"}, "has no such choice"),
        ("audit-event", {"action": "x" * 321}, "must be at most 320 characters"),
        ("api-token", {"revoked_at": "yes please"}, "has no such choice"),
    ],
)
async def test_a_bad_filter_value_is_a_message_and_runs_no_list_query(
    open_browser: OpenBrowser,
    engine: AsyncEngine,
    identity: str,
    params: dict[str, str],
    message: str,
) -> None:
    _, browser = await open_browser("admin")
    table = {
        "product": "products",
        "order": "orders",
        "customer": "customers",
        "audit-event": "audit_events",
        "api-token": "api_tokens",
    }[identity]

    with statements_on(engine) as log:
        response = await browser.get(f"/admin/{identity}/list", params=params)

    assert response.status_code == 200
    assert "alert-danger" in response.text
    assert message in response.text
    assert not [s for s in log.statements if re.search(rf"\bFROM {table}\b", s)], log
    # The form still shows what was typed, to be corrected.
    assert 'id="filter-sidebar"' in response.text


async def test_a_filter_form_keeps_search_sort_and_page_size_and_drops_the_cursor(
    open_browser: OpenBrowser,
) -> None:
    _, browser = await open_browser("viewer")
    params = {
        "search": "gear",
        "sortBy": "price",
        "sort": "desc",
        "pageSize": "50",
        "after": "some-cursor",
        "price_min": "3",
        "is_active": "true",
    }

    response = await browser.get("/admin/product/list", params=params)
    html = response.text

    # The cursor is not ours: a message, and the first page.
    price, stock = form_of(html, "price"), form_of(html, "stock")
    assert hidden_inputs(price) == {
        "search": "gear",
        "sortBy": "price",
        "sort": "desc",
        "pageSize": "50",
        "is_active": "true",
    }
    assert hidden_inputs(stock)["price_min"] == "3"
    assert "after" not in hidden_inputs(stock)
    # Every control has its label; the range shows what is set.
    assert '<label class="form-label small mb-0" for="filter-price_min">Minimum</label>' in price
    assert 'id="filter-price_min" name="price_min" value="3"' in price
    assert 'id="filter-price_max" name="price_max" value=""' in price
    clear = re.search(r'<a class="btn btn-sm btn-link px-1" href="([^"]+)">Clear', price)
    assert clear and "price_min" not in clear.group(1) and "after" not in clear.group(1)
    assert "sortBy=price" in clear.group(1).replace("&amp;", "&")
    assert "Clear" not in stock.split("</fieldset>")[1]  # no stock bound: nothing to clear


async def test_enum_and_boolean_filters_are_menus_with_labelled_choices(
    open_browser: OpenBrowser,
) -> None:
    _, browser = await open_browser("admin")

    orders = await browser.get("/admin/order/list", params={"status": "paid"})
    products = await browser.get("/admin/product/list")
    audit = await browser.get("/admin/audit-event/list", params={"occurred_at_from": "2026-01-01"})

    status = form_of(orders.text, "status")
    assert (
        '<label class="form-label fw-bold fs-5 mb-1" for="filter-status">Status</label>' in status
    )
    assert '<option value="">Any</option>' in status
    assert '<option value="paid" selected>Paid</option>' in status
    assert '<option value="cancelled">Cancelled</option>' in status
    active = form_of(products.text, "is_active")
    assert '<option value="true">Yes</option>' in active
    assert '<option value="false">No</option>' in active
    assert 'type="date"' in form_of(audit.text, "occurred_at")
    assert 'value="2026-01-01"' in form_of(audit.text, "occurred_at")
    assert "Action starts with" in form_of(audit.text, "action")


async def test_audit_filters_match_actor_resource_action_and_day(
    open_browser: OpenBrowser, session: AsyncSession
) -> None:
    from app.models import AuditEvent

    _, browser = await open_browser("admin")
    w = word()
    day = datetime(2026, 4, 5, 10, 0, tzinfo=UTC)
    rows = [
        AuditEvent(
            channel="admin",
            action=f"{w}.created",
            actor_email="Ann@Example.com",
            resource_type="order",
            occurred_at=day,
            changes={},
        ),
        AuditEvent(
            channel="api",
            action=f"{w}.deleted",
            actor_email="bob@example.com",
            resource_type="product",
            occurred_at=day.replace(day=6),
            changes={},
        ),
        AuditEvent(channel="cli", action=f"x{w}_%", resource_type="order", changes={}),
    ]
    session.add_all(rows)
    await session.flush()

    async def listed(**params: str) -> set[int]:
        response = await browser.get("/admin/audit-event/list", params=params)
        assert "alert-danger" not in response.text, params
        return shown(response.text)

    assert await listed(action=w) == {rows[0].id, rows[1].id}
    assert await listed(action=w, actor_email="ann@") == {rows[0].id}
    assert await listed(action=w, resource_type="product") == {rows[1].id}
    assert await listed(action=w, channel="api") == {rows[1].id}
    assert await listed(action=w, occurred_at_from="2026-04-05", occurred_at_to="2026-04-05") == {
        rows[0].id
    }
    # % and _ are letters here, not wildcards.
    assert await listed(action=f"x{w}_%") == {rows[2].id}
    assert await listed(action=f"x{w}__") == set()
