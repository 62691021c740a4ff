"""The admin in a real browser (SPEC §8): Chromium driven by Playwright against uvicorn.

Each test opens its own browser contexts (its own cookies), so tests do not depend on
one another; rows they create carry names no other test uses. Screenshots of the main
pages land in test-output/screenshots/ for review (docs/img/ holds a committed few).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.e2e.conftest import STAFF, LiveServer, Staff, browser_missing_reason

MISSING = browser_missing_reason()
pytestmark = [pytest.mark.browser, pytest.mark.skipif(MISSING is not None, reason=MISSING or "")]

if MISSING is None:
    from playwright.sync_api import Browser, BrowserContext, Page, expect

NOTICE = ".bo-notice.alert-success"
ERROR_NOTICE = ".bo-notice.alert-danger"


# --- helpers -------------------------------------------------------------------------------


def log_in(page: Page, staff: Staff) -> None:
    """Fill in the login form as a person would; lands on the dashboard."""
    page.goto("/admin/login")
    page.get_by_label("Email").fill(staff.email)
    page.get_by_label("Password").fill(staff.password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/admin/")


def shoot(page: Page, folder: Path, name: str, *, full_page: bool = False) -> None:
    page.screenshot(path=str(folder / f"{name}.png"), type="png", full_page=full_page)


def shoot_masked(page: Page, folder: Path, name: str) -> None:
    """A screenshot with the one-time token blacked out (screenshots get shared)."""
    page.screenshot(path=str(folder / f"{name}.png"), type="png", mask=[page.locator("#new-token")])


def select2_pick(page: Page, select: str, typed: str, choice: str) -> None:
    """Pick `choice` in the select2 search-as-you-type box over `select`, typing `typed`."""
    page.locator(f"{select} + .select2-container").click()
    page.locator(".select2-container--open .select2-search__field").fill(typed)
    page.locator(".select2-results__option", has_text=choice).first.click()
    expect(page.locator(f"{select} + .select2-container")).to_contain_text(choice)


def confirm_action(page: Page, name: str, label: str) -> None:
    """Press an action button on a details page and say "Yes" in its confirmation dialog."""
    page.locator("#detail-actions").get_by_role("button", name=label, exact=True).click()
    dialog = page.locator(f"#confirm-{name}")
    expect(dialog).to_be_visible()
    dialog.locator(f"#confirm-{name}-yes").click()
    # A success redirects with a notice code; a refusal is shown at the action's own URL.
    page.wait_for_url(re.compile(r"[?&](notice=|pks=)"))


def detail_value(page: Page, field: str) -> str:
    """The value shown for the model's `field` in a details page's table."""
    return page.locator(f'#details td[data-field="{field}"]').inner_text().strip()


def csrf_of(page: Page) -> str:
    token = page.locator('meta[name="csrf-token"]').get_attribute("content")
    assert token
    return token


# --- the order flow ------------------------------------------------------------------------


def test_staff_take_an_order_from_a_new_customer_to_placed_stock(
    page: Page, live_server: LiveServer, screenshots: Path
) -> None:
    gear = live_server.seeded.products["GEAR-100"]

    page.goto("/admin/login")
    expect(page.get_by_role("heading", name="Sign in to Backoffice")).to_be_visible()
    shoot(page, screenshots, "01-login")
    log_in(page, STAFF["admin"])

    # The dashboard: counts and the server-rendered chart (30 days, nothing fetched).
    for name in ("customers", "products", "orders"):
        expect(page.locator(f"#count-{name}")).to_have_text(re.compile(r"^\s*\d[\d,]*"))
    expect(page.locator("svg#orders-chart")).to_be_visible()
    expect(page.locator("svg#orders-chart rect")).to_have_count(30)

    # A new customer through the form.
    page.get_by_role("link", name="Customers", exact=True).click()
    page.get_by_role("link", name="New Customer").click()
    page.get_by_label("Name").fill("Katherine Johnson")
    page.get_by_label("Email").fill("katherine@e2e.example.com")
    page.get_by_label("Company").fill("Langley")
    page.get_by_role("button", name="Save", exact=True).click()
    page.wait_for_url("**/admin/customer/list**")
    expect(page.locator("table")).to_contain_text("katherine@e2e.example.com")
    shoot(page, screenshots, "03-customers")

    # A draft order for them: the customer is found by typing, not in a giant drop-down.
    page.get_by_role("link", name="Orders", exact=True).click()
    page.get_by_role("link", name="New Order").click()
    select2_pick(page, "#customer", "Kather", "Katherine Johnson")
    page.get_by_label("Notes").fill("Rush delivery")
    page.get_by_role("button", name="Save and continue editing").click()
    page.wait_for_url(re.compile(r"/admin/order/edit/\d+"))
    order_id = int(page.url.rsplit("/", 1)[1].split("?")[0])
    page.goto(f"/admin/order/details/{order_id}")
    expect(page.locator("#order-items")).to_contain_text("No items yet.")

    # Items: the product is found by part of its SKU.
    select2_pick(page, "#add-item-product", "GEAR-1", "GEAR-100")
    page.get_by_label("Quantity", exact=True).fill("3")
    page.get_by_role("button", name="Add item").click()
    expect(page.locator(NOTICE)).to_have_text("Items updated.")
    expect(page.locator("#order-items")).to_contain_text("GEAR-100")
    expect(page.locator("#order-total")).to_have_text("37.50")
    select2_pick(page, "#add-item-product", "LAMP", "LAMP-300")
    page.get_by_role("button", name="Add item").click()
    expect(page.locator("#order-total")).to_have_text("82.50")
    number = detail_value(page, "number")
    assert re.fullmatch(r"SO-\d{6}", number), number

    confirm_action(page, "place", "Place")
    expect(page.locator(NOTICE)).to_have_text(f"{number} placed.")
    assert detail_value(page, "status") == "Placed"
    shoot(page, screenshots, "04-order-details", full_page=True)

    # The stock went down by the quantity ordered.
    page.goto(f"/admin/product/details/{gear}")
    assert detail_value(page, "stock") == "37"

    # A placed order offers no Ship; shipping it anyway (a crafted or stale post) is a rule
    # violation: a message on the order's page, and nothing changes.
    page.goto(f"/admin/order/details/{order_id}")
    actions = page.locator("#detail-actions")
    expect(actions.get_by_role("button", name="Ship", exact=True)).to_have_count(0)
    expect(actions.get_by_role("button", name="Mark paid", exact=True)).to_have_count(1)
    page.evaluate(
        """([url, token]) => {
            const form = document.createElement("form");
            form.method = "POST";
            form.action = url;
            form.innerHTML = `<input type="hidden" name="csrf_token" value="${token}">`;
            document.body.appendChild(form);
            form.submit();
        }""",
        [f"/admin/order/action/ship?pks={order_id}", csrf_of(page)],
    )
    expect(page.locator(ERROR_NOTICE)).to_contain_text(f"Cannot ship order {number}: it is placed")
    expect(page.locator("#order-items")).to_be_visible()
    assert detail_value(page, "status") == "Placed"

    page.get_by_role("link", name="Orders", exact=True).click()
    expect(page.locator("table")).to_contain_text(number)
    shoot(page, screenshots, "05-orders")
    page.get_by_role("link", name="Products", exact=True).click()
    expect(page.locator("table")).to_contain_text("GEAR-100")
    shoot(page, screenshots, "06-products")
    page.goto("/admin/")
    expect(page.locator("#recent-orders")).to_contain_text(number)
    expect(page.locator("#low-stock")).to_contain_text("CABLE-400")
    shoot(page, screenshots, "02-dashboard")

    # Out through the confirmation page (logging out is a POST with a CSRF token).
    page.get_by_role("link", name="Logout").click()
    page.wait_for_url("**/admin/logout")
    page.locator("#logout-confirm").click()
    page.wait_for_url("**/admin/login")
    page.goto("/admin/")
    page.wait_for_url("**/admin/login")


# --- who sees what -------------------------------------------------------------------------


def test_a_viewer_sees_no_write_buttons_and_is_refused_when_posting(
    page: Page, live_server: LiveServer, screenshots: Path
) -> None:
    customer = live_server.seeded.customers["Ada Lovelace"]
    log_in(page, STAFF["viewer"])

    page.goto("/admin/customer/list")
    expect(page.locator("table")).to_contain_text("Ada Lovelace")
    expect(page.get_by_role("link", name="New Customer")).to_have_count(0)
    expect(page.locator('a[href*="/admin/customer/create"]')).to_have_count(0)
    expect(page.locator('a[href*="/admin/customer/edit/"]')).to_have_count(0)
    expect(page.locator('[data-url*="/admin/customer/delete"]')).to_have_count(0)
    # The staff menu and the audit log are not theirs to see.
    expect(page.get_by_role("link", name="Audit log")).to_have_count(0)
    expect(page.get_by_role("link", name="Import products")).to_have_count(0)
    shoot(page, screenshots, "07-viewer-customers")

    page.goto(f"/admin/customer/details/{customer}")
    expect(page.locator("#details")).to_contain_text("Ada Lovelace")
    expect(page.get_by_role("link", name="Edit", exact=True)).to_have_count(0)
    expect(page.get_by_role("button", name="Delete", exact=True)).to_have_count(0)

    # Posting directly, with a valid CSRF token from the page, is refused all the same.
    token = csrf_of(page)
    response = page.request.post(
        "/admin/customer/create",
        form={"name": "Sneaky", "email": "sneaky@e2e.example.com", "csrf_token": token},
        headers={"X-CSRF-Token": token},
    )
    assert response.status == 403
    response = page.request.post(
        f"/admin/customer/edit/{customer}",
        form={"name": "Renamed", "email": "ada@e2e.example.com", "csrf_token": token},
    )
    assert response.status == 403
    page.goto("/admin/customer/create")
    expect(page.locator("body")).to_contain_text("403")

    page.goto("/admin/customer/list?search=Sneaky")
    expect(page.locator("table")).not_to_contain_text("sneaky@e2e.example.com")
    page.goto(f"/admin/customer/details/{customer}")
    assert detail_value(page, "name") == "Ada Lovelace"


def test_a_clerk_sees_the_order_actions_of_their_role_only(
    page: Page, live_server: LiveServer
) -> None:
    log_in(page, STAFF["clerk"])
    page.goto("/admin/order/create")
    select2_pick(page, "#customer", "Grace", "Grace Hopper")
    page.get_by_role("button", name="Save and continue editing").click()
    page.wait_for_url(re.compile(r"/admin/order/edit/\d+"))
    order_id = int(page.url.rsplit("/", 1)[1].split("?")[0])

    page.goto(f"/admin/order/details/{order_id}")
    actions = page.locator("#detail-actions")
    expect(actions.get_by_role("button", name="Place", exact=True)).to_have_count(1)
    expect(actions.get_by_role("button", name="Cancel", exact=True)).to_have_count(1)
    expect(actions.get_by_role("button", name="Ship", exact=True)).to_have_count(0)
    expect(actions.get_by_role("button", name="Mark paid", exact=True)).to_have_count(0)
    # Clerks create and edit orders but may not delete them, nor create products.
    expect(actions.get_by_role("button", name="Delete", exact=True)).to_have_count(0)
    page.goto("/admin/product/list")
    expect(page.get_by_role("link", name="New Product")).to_have_count(0)


# --- stale edits ---------------------------------------------------------------------------


def test_a_second_save_over_a_changed_product_is_refused_and_nothing_is_lost(
    new_context: Callable[[], BrowserContext], live_server: LiveServer, screenshots: Path
) -> None:
    product = live_server.seeded.products["GEAR-200"]
    first, second = new_context().new_page(), new_context().new_page()
    log_in(first, STAFF["admin"])
    log_in(second, STAFF["manager"])
    for page in (first, second):
        page.goto(f"/admin/product/edit/{product}")
        # The form opens with the row's current values and its version.
        expect(page.get_by_label("Name")).to_have_value("Steel gear")
        expect(page.get_by_label("Price")).to_have_value(re.compile(r"^19\.9"))

    first.get_by_label("Name").fill("Steel gear, hardened")
    first.get_by_role("button", name="Save", exact=True).click()
    first.wait_for_url("**/admin/product/list**")

    second.get_by_label("Price").fill("24.00")
    second.get_by_role("button", name="Save", exact=True).click()
    refusal = second.locator(".alert-danger")
    expect(refusal).to_contain_text("Someone else changed this row")
    # What the second person typed is still in their form, and they can reload.
    expect(second.get_by_label("Price")).to_have_value("24.00")
    expect(second.get_by_role("link", name="Reload")).to_be_visible()
    shoot(second, screenshots, "08-stale-edit-refused")

    second.get_by_role("link", name="Reload").click()
    expect(second.get_by_label("Name")).to_have_value("Steel gear, hardened")
    second.goto(f"/admin/product/details/{product}")
    assert detail_value(second, "name") == "Steel gear, hardened"
    assert detail_value(second, "price") in {"19.90", "19.9"}


# --- My account: a token shown once ------------------------------------------------------


def test_a_token_created_in_my_account_works_until_revoked(
    new_context: Callable[[], BrowserContext], live_server: LiveServer, screenshots: Path
) -> None:
    context = new_context()
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    page = context.new_page()
    clerk = STAFF["clerk"]
    log_in(page, clerk)

    page.get_by_role("link", name="My account", exact=True).click()
    page.wait_for_url("**/admin/account")
    page.get_by_label("Name").fill("e2e nightly export")
    page.get_by_role("button", name="Create token").click()
    panel = page.locator("#new-token-panel")
    expect(panel).to_be_visible()
    token = page.locator("#new-token").inner_text().strip()
    assert token.startswith("bo_")
    page.locator("#copy-token").click()
    expect(page.locator("#copy-token")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == token
    shoot_masked(page, screenshots, "09-account-new-token")

    me = httpx.get(f"{live_server.url}/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200, me.text
    assert me.json()["email"] == clerk.email
    assert me.json()["auth_method"] == "personal_token"

    # Shown once: the page reached again lists the token by its prefix only.
    page.goto("/admin/account")
    expect(page.locator("#new-token-panel")).to_have_count(0)
    row = page.locator("#my-tokens tr", has_text="e2e nightly export")
    expect(row).to_contain_text(token[:11])
    assert token not in page.content()

    row.get_by_role("button", name="Revoke").click()
    expect(page.locator(NOTICE)).to_have_text("Token revoked.")
    expect(page.locator("#my-tokens tr", has_text="e2e nightly export")).to_contain_text("revoked")
    shoot(page, screenshots, "10-account")

    after = httpx.get(f"{live_server.url}/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert after.status_code == 401


# --- the audit log -------------------------------------------------------------------------


def test_the_audit_log_shows_admin_changes_with_a_readable_diff(
    page: Page, live_server: LiveServer, screenshots: Path
) -> None:
    customer = live_server.seeded.customers["Grace Hopper"]
    log_in(page, STAFF["admin"])
    page.goto(f"/admin/customer/edit/{customer}")
    expect(page.get_by_label("Company")).to_have_value("COBOL Co")
    page.get_by_label("Company").fill("US Navy")
    page.get_by_role("button", name="Save", exact=True).click()
    page.wait_for_url("**/admin/customer/list**")

    page.get_by_role("link", name="Audit log", exact=True).click()
    page.wait_for_url("**/admin/audit-event/list**")
    row = page.locator("table tbody tr", has_text="customer.updated").first
    expect(row).to_contain_text("admin")
    expect(row).to_contain_text(STAFF["admin"].email)
    shoot(page, screenshots, "11-audit-log")

    row.locator('a[href*="/admin/audit-event/details/"]').click()
    diff = page.locator("#audit-diff")
    company = diff.locator("tr", has_text="company")
    expect(company.locator("td.old")).to_have_text("COBOL Co")
    expect(company.locator("td.new")).to_have_text("US Navy")
    shoot(page, screenshots, "12-audit-details", full_page=True)


# --- CSV import ----------------------------------------------------------------------------


def test_a_csv_import_is_checked_first_and_applied_all_at_once(
    page: Page, live_server: LiveServer, screenshots: Path, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("sku,name,price,stock\nBOLT-500,Hex bolt,0.40,100\nnot a sku,Nut,-1,5\n")
    good = tmp_path / "good.csv"
    good.write_text("sku,name,price,stock\nBOLT-500,Hex bolt,0.40,100\nNUT-600,Hex nut,0.15,400\n")
    log_in(page, STAFF["admin"])
    page.get_by_role("link", name="Import products", exact=True).click()

    page.locator("#import-file").set_input_files(str(bad))
    page.locator("#import-apply").click()
    expect(page.locator("#import-report")).to_contain_text("nothing was imported")
    expect(page.locator("#import-errors")).to_contain_text("3")
    shoot(page, screenshots, "13-import-errors")

    page.locator("#import-file").set_input_files(str(good))
    page.locator("#import-preview").click()
    expect(page.locator("#import-report")).to_contain_text("Nothing has changed yet")
    page.locator("#import-file").set_input_files(str(good))
    page.locator("#import-apply").click()
    expect(page.locator("#import-report")).to_contain_text("Imported 2 row(s): 2 created")

    page.goto("/admin/product/list?search=BOLT-500")
    expect(page.locator("table")).to_contain_text("Hex bolt")


# --- the list page -------------------------------------------------------------------------


def test_the_list_page_sorts_deletes_a_row_and_runs_a_bulk_action(
    page: Page, live_server: LiveServer, screenshots: Path
) -> None:
    log_in(page, STAFF["admin"])

    # Sorting: the column header links to the sorted list and shows which way it is sorted.
    page.goto("/admin/customer/list")
    page.locator("thead").get_by_role("link", name="Name", exact=True).click()
    page.wait_for_url(re.compile(r"sortBy=name&sort=asc"))
    expect(page.locator("thead a", has=page.locator("i.fa-arrow-up"))).to_have_text("Name")
    names = page.locator("tbody tr td:nth-child(4)").all_inner_texts()
    assert names == sorted(names), names
    page.locator("thead").get_by_role("link", name="Name", exact=True).click()
    page.wait_for_url(re.compile(r"sortBy=name&sort=desc"))
    expect(page.locator("thead a", has=page.locator("i.fa-arrow-down"))).to_have_text("Name")

    # A row's trash icon opens the confirmation; confirming deletes that row only.
    page.goto("/admin/customer/create")
    page.get_by_label("Name").fill("Ephemeral Row")
    page.get_by_label("Email").fill("ephemeral@e2e.example.com")
    page.get_by_role("button", name="Save", exact=True).click()
    page.wait_for_url("**/admin/customer/list**")
    page.goto("/admin/customer/list?search=ephemeral")
    row = page.locator("tbody tr", has_text="ephemeral@e2e.example.com")
    expect(row).to_have_count(1)
    # Its links are the row's own: details and edit name its id.
    pk = row.locator('input[type="hidden"]').get_attribute("value")
    expect(row.locator(f'a[href="/admin/customer/details/{pk}"]')).to_have_count(1)
    expect(row.locator(f'a[href^="/admin/customer/edit/{pk}?"]')).to_have_count(1)
    row.locator('a[data-bs-target="#modal-delete"]').click()
    expect(page.locator("#modal-delete-text")).to_have_text(
        f"This will permanently delete Customer {pk}?"
    )
    page.locator("#modal-delete-button").click()
    expect(page.locator(NOTICE)).to_have_text("The selected rows were deleted.")
    page.goto("/admin/customer/list?search=ephemeral")
    expect(page.locator("tbody tr")).to_have_count(0)

    # A bulk action: rows ticked, the Actions menu, its confirmation page, then the notice.
    page.goto("/admin/order/create")
    select2_pick(page, "#customer", "Grace", "Grace Hopper")
    page.get_by_role("button", name="Save and continue editing").click()
    page.wait_for_url(re.compile(r"/admin/order/edit/\d+"))
    order_id = page.url.rsplit("/", 1)[1].split("?")[0]
    page.goto("/admin/order/list")
    row = page.locator("tbody tr", has=page.locator(f'input[type="hidden"][value="{order_id}"]'))
    row.locator("input.select-box").check()
    # The order's customer is a link to the customer's details.
    expect(row.locator('a[href^="/admin/customer/details/"]')).to_contain_text("Grace Hopper")
    page.locator("#dropdownMenuButton").click()
    page.locator("#bulk-action-cancel").click()
    expect(page.locator("#bulk-title")).to_have_text("Cancel 1 order?")
    expect(page.locator("#bulk-warning")).to_have_text("Cancel the selected orders?")
    shoot(page, screenshots, "14-list-bulk-action")
    page.locator("#bulk-confirm-selected").click()
    expect(page.locator(NOTICE)).to_contain_text("cancelled")
    page.goto(f"/admin/order/details/{order_id}")
    assert detail_value(page, "status") == "Cancelled"


# --- what staff see -----------------------------------------------------------------------


def test_moments_show_in_the_browsers_time_zone_to_the_minute_exact_on_hover(
    browser: Browser, live_server: LiveServer
) -> None:
    context = browser.new_context(base_url=live_server.url, timezone_id="Asia/Kolkata")
    try:
        page = context.new_page()
        log_in(page, STAFF["admin"])
        customer = live_server.seeded.customers["Ada Lovelace"]
        page.goto(f"/admin/customer/details/{customer}")
        moment = page.locator('#details td[data-field="created_at"] time')

        exact = moment.get_attribute("datetime")
        on_hover = moment.get_attribute("title")
        shown = moment.inner_text()
    finally:
        context.close()

    assert exact is not None and on_hover == exact
    utc = datetime.fromisoformat(exact)
    local = utc.astimezone(ZoneInfo("Asia/Kolkata"))
    # The server wrote UTC (ADMIN_TIMEZONE's default); the browser's zone is +05:30.
    assert shown == f"{local:%Y-%m-%d %H:%M} GMT+5:30", (exact, shown)
