"""Bulk actions in a real browser (SPEC §8): ticked rows and "all N matching this search"
each go through a confirmation page that names the rows before anything changes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.e2e.conftest import STAFF, LiveServer, browser_missing_reason
from tests.e2e.test_admin_browser import NOTICE, csrf_of, log_in, shoot

MISSING = browser_missing_reason()
pytestmark = [pytest.mark.browser, pytest.mark.skipif(MISSING is not None, reason=MISSING or "")]

if MISSING is None:
    from playwright.sync_api import Locator, Page, expect

PLACED = re.compile(r"\bplaced\b", re.IGNORECASE)
DRAFT = re.compile(r"\bdraft\b", re.IGNORECASE)


def draft_through_the_admin(page: Page, customer: int, product: int, notes: str) -> int:
    """A draft order with one item, made with the admin's own forms (create, add item)."""
    token = csrf_of(page)
    created = page.request.post(
        "/admin/order/create",
        form={
            "customer": str(customer),
            "notes": notes,
            "save": "Save and continue editing",
            "csrf_token": token,
        },
    )
    found = re.search(r"/admin/order/edit/(\d+)", created.url)
    assert found is not None, created.url
    order_id = int(found.group(1))
    added = page.request.post(
        f"/admin/order/{order_id}/items",
        form={"op": "add", "product_id": str(product), "quantity": "1", "csrf_token": token},
    )
    assert added.ok, added.status
    return order_id


def row_of(page: Page, order_id: int) -> Locator:
    return page.locator("tbody tr", has=page.locator(f'input[type="hidden"][value="{order_id}"]'))


def number_of(page: Page, order_id: int) -> str:
    """The order's number as its list row shows it (the first column)."""
    number = row_of(page, order_id).locator("td").nth(2).inner_text().strip()
    assert re.fullmatch(r"SO-\d{6}", number), number
    return number


def test_ticked_rows_and_all_matching_rows_are_placed_after_their_confirmation(
    page: Page, live_server: LiveServer, screenshots: Path
) -> None:
    customer = live_server.seeded.customers["Ada Lovelace"]
    product = live_server.seeded.products["GEAR-200"]
    log_in(page, STAFF["admin"])
    ticked = [draft_through_the_admin(page, customer, product, "bulk pair") for _ in range(2)]
    searched = [draft_through_the_admin(page, customer, product, "bulk lot") for _ in range(3)]

    # Two ticked rows: the Actions menu's Place opens a page naming both; nothing changed yet.
    page.goto("/admin/order/list")
    numbers = [number_of(page, order_id) for order_id in ticked]
    for order_id in ticked:
        row_of(page, order_id).locator("input.select-box").check()
    page.locator("#dropdownMenuButton").click()
    page.locator("#bulk-action-place").click()
    page.wait_for_url(re.compile(r"/admin/order/confirm/place\?pks="))
    expect(page.locator("#bulk-title")).to_have_text("Place 2 orders?")
    expect(page.locator("#bulk-selected-names li")).to_have_text(numbers)
    shoot(page, screenshots, "15-bulk-confirm-ticked")
    page.go_back()
    for order_id in ticked:
        expect(row_of(page, order_id)).to_contain_text(DRAFT)
    page.go_forward()
    page.locator("#bulk-confirm-selected").click()
    expect(page.locator(NOTICE)).to_have_text("The selected orders were placed.")
    for order_id in ticked:
        expect(row_of(page, order_id)).to_contain_text(PLACED)

    # A search, nothing ticked: Place offers all the rows matching it, across pages.
    page.goto("/admin/order/list?pageSize=25")
    page.locator("#search-input").fill("bulk lot")
    page.locator("#search-input").press("Enter")
    page.wait_for_url(re.compile(r"search=bulk"))
    expect(page.locator("tbody tr")).to_have_count(3)
    page.locator("#dropdownMenuButton").click()
    page.locator("#bulk-action-place").click()
    page.wait_for_url(re.compile(r"/admin/order/confirm/place\?"))
    expect(page.locator("#bulk-title")).to_have_text("Place all 3 orders matching this search?")
    expect(page.locator("#bulk-matching-names li")).to_have_count(3)
    shoot(page, screenshots, "16-bulk-confirm-all-matching")
    page.locator("#bulk-confirm-all").click()
    expect(page.locator(NOTICE)).to_have_text("The selected orders were placed.")
    page.goto("/admin/order/list?search=bulk+lot")
    for order_id in searched:
        expect(row_of(page, order_id)).to_contain_text(PLACED)
    # The two placed before are not drafts again, and nothing else was touched.
    page.goto("/admin/order/list?search=bulk+pair")
    expect(page.locator("tbody tr")).to_have_count(2)
