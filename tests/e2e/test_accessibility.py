"""The admin's accessibility (SPEC §8): axe-core on every page type, 390 px, keyboard only.

axe-core comes from npm at test time (tests/e2e/node, installed by `make test`) and is
injected with `page.evaluate`: scripts evaluated over the DevTools protocol are not subject
to the page's Content-Security-Policy, which refuses any script tag we would add.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import (
    ACTION_TIMEOUT_MS,
    PROJECT_ROOT,
    STAFF,
    VIEWPORT,
    LiveServer,
    browser_missing_reason,
)
from tests.e2e.test_admin_browser import log_in, select2_pick, shoot

MISSING = browser_missing_reason()
pytestmark = [pytest.mark.browser, pytest.mark.skipif(MISSING is not None, reason=MISSING or "")]

if MISSING is None:
    from playwright.sync_api import Browser, BrowserContext, Page, expect

AXE_SCRIPT = PROJECT_ROOT / "tests" / "e2e" / "node" / "node_modules" / "axe-core" / "axe.min.js"
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
BLOCKING_IMPACTS = {"serious", "critical"}
PHONE = {"width": 390, "height": 844}
# At 390 px every page is checked for sideways scroll; axe runs again on these (the menu
# collapses and the list's filters move: the rest of the markup is the same as on a desktop).
AXE_ON_PHONE = {
    "dashboard",
    "customer list",
    "audit-event list",
    "order details",
    "user details",
    "my account",
}


def axe_source() -> str:
    """axe.min.js, or a failure under CI / `make test` (a skip elsewhere) when not installed."""
    if AXE_SCRIPT.exists():
        return AXE_SCRIPT.read_text()
    message = (
        f"{AXE_SCRIPT.relative_to(PROJECT_ROOT)} is missing: "
        "run `npm ci --prefix tests/e2e/node` (make test does)"
    )
    if os.environ.get("CI") or os.environ.get("AXE_REQUIRED"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module")
def axe() -> str:
    return axe_source()


# --- what each page is ---------------------------------------------------------------------


@dataclass(frozen=True)
class AdminPage:
    """A page to check: a URL to open, or a step that brings the browser there."""

    name: str
    url: str = ""
    reach: Callable[[Page], None] | None = None

    @property
    def slug(self) -> str:
        return re.sub(r"[^a-z0-9]+", "-", self.name.lower()).strip("-")

    def open(self, page: Page) -> None:
        if self.reach is not None:
            self.reach(page)
        else:
            page.goto(self.url)
        page.wait_for_load_state("load")


def new_draft_order(page: Page, customer: str, sku: str | None) -> int:
    """A draft order for `customer` made through the forms, with one line of `sku` if given."""
    page.goto("/admin/order/create")
    select2_pick(page, "#customer", customer.split()[0], customer)
    page.get_by_role("button", name="Save and continue editing").click()
    page.wait_for_url(re.compile(r"/admin/order/edit/\d+"))
    order_id = int(page.url.rsplit("/", 1)[1].split("?")[0])
    if sku is not None:
        page.goto(f"/admin/order/details/{order_id}")
        select2_pick(page, "#add-item-product", sku, sku)
        page.get_by_role("button", name="Add item").click()
        expect(page.locator("#order-items")).to_contain_text(sku)
    return order_id


def first_details_url(page: Page, identity: str) -> str:
    page.goto(f"/admin/{identity}/list")
    href = page.locator(f'tbody a[href^="/admin/{identity}/details/"]').first.get_attribute("href")
    assert href, f"no {identity} row to open"
    return href


def post_refused_bulk_action(order_ids: list[int]) -> Callable[[Page], None]:
    """Shipping draft orders is refused: the orders list comes back with the message."""

    def reach(page: Page) -> None:
        page.goto("/admin/order/list")
        pks = ",".join(str(pk) for pk in order_ids)
        with page.expect_navigation():
            page.evaluate(
                """(url) => {
                  const form = document.createElement("form");
                  form.method = "POST";
                  form.action = url;
                  const token = document.createElement("input");
                  token.type = "hidden";
                  token.name = "csrf_token";
                  token.value = document.querySelector('meta[name="csrf-token"]').content;
                  form.appendChild(token);
                  document.body.appendChild(form);
                  form.submit();
                }""",
                f"/admin/order/action/ship?pks={pks}",
            )
        expect(page.locator(".bo-notice.alert-danger")).to_be_visible()

    return reach


LIST_IDENTITIES = [
    "customer",
    "product",
    "order",
    "user",
    "role",
    "api-token",
    "staff-session",
    "audit-event",
    "webhook-endpoint",
    "webhook-delivery",
]


def admin_pages(page: Page, live_server: LiveServer) -> list[AdminPage]:
    """Every page type an admin sees, with the rows they need made first."""
    customer = live_server.seeded.customers["Ada Lovelace"]
    product = live_server.seeded.products["LAMP-300"]
    with_item = new_draft_order(page, "Ada Lovelace", "GEAR-200")
    empty = new_draft_order(page, "Grace Hopper", None)
    pages = [AdminPage("dashboard", "/admin/")]
    pages += [
        AdminPage(f"{identity} list", f"/admin/{identity}/list") for identity in LIST_IDENTITIES
    ]
    pages += [
        AdminPage("customer details", f"/admin/customer/details/{customer}"),
        AdminPage("product details", f"/admin/product/details/{product}"),
        AdminPage("order details", f"/admin/order/details/{with_item}"),
        AdminPage("user details", first_details_url(page, "user")),
        AdminPage("audit event details", first_details_url(page, "audit-event")),
        AdminPage("product edit", f"/admin/product/edit/{product}"),
        AdminPage("customer create", "/admin/customer/create"),
        AdminPage("order create", "/admin/order/create"),
        # Its permissions are a multiple select as wide as its longest option.
        AdminPage("role create", "/admin/role/create"),
        AdminPage("my account", "/admin/account"),
        AdminPage("product import", "/admin/product-import"),
        AdminPage("list with an error", reach=post_refused_bulk_action([with_item, empty])),
        AdminPage("bulk confirmation", f"/admin/order/confirm/cancel?pks={empty}"),
        AdminPage("not found", "/admin/customer/details/987654321"),
        AdminPage("logout", "/admin/logout"),
    ]
    return pages


# --- the checks ----------------------------------------------------------------------------


def axe_violations(page: Page, axe: str) -> list[dict[str, Any]]:
    """axe's serious and critical violations of the WCAG 2.1 A/AA rules on the open page."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(axe)
    result = page.evaluate(
        "(tags) => axe.run(document, {runOnly: {type: 'tag', values: tags},"
        " resultTypes: ['violations']})",
        WCAG_TAGS,
    )
    return [v for v in result["violations"] if v["impact"] in BLOCKING_IMPACTS]


def node_summary(node: dict[str, Any]) -> str:
    """A node's selector, with the colours axe measured when it is about contrast."""
    where = ", ".join(map(str, node["target"]))
    for check in node.get("any", []):
        data = check.get("data") or {}
        if isinstance(data, dict) and "contrastRatio" in data:
            return (
                f"{where} [{data.get('fgColor')} on {data.get('bgColor')}: {data['contrastRatio']}]"
            )
    return where


def describe(violations: list[dict[str, Any]]) -> str:
    lines = []
    for violation in violations:
        targets = [node_summary(node) for node in violation["nodes"][:5]]
        more = len(violation["nodes"]) - len(targets)
        lines.append(
            f"    {violation['id']} ({violation['impact']}): {' | '.join(targets)}"
            + (f" (+{more} more)" if more > 0 else "")
        )
    return "\n".join(lines)


def page_overflow(page: Page) -> str | None:
    """How far the page scrolls sideways, with the outermost elements sticking out, or None."""
    widths = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    if widths[0] <= widths[1]:
        return None
    culprits = page.evaluate(
        """(limit) => Array.from(document.querySelectorAll('body *'))
            .filter(e => e.getBoundingClientRect().right > limit + 1
                    && e.parentElement.getBoundingClientRect().right <= limit + 1)
            .slice(0, 6)
            .map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '')
                 + (e.className && typeof e.className === 'string'
                    ? '.' + e.className.trim().split(/\\s+/).join('.') : ''))""",
        widths[1],
    )
    return f"scrollWidth {widths[0]} > {widths[1]}: {', '.join(culprits)}"


@pytest.fixture
def contexts(browser: Browser, live_server: LiveServer) -> Iterator[list[BrowserContext]]:
    opened: list[BrowserContext] = []
    yield opened
    for context in opened:
        context.close()


def open_context(
    browser: Browser, live_server: LiveServer, opened: list[BrowserContext], **options: Any
) -> BrowserContext:
    context = browser.new_context(base_url=live_server.url, **options)
    context.set_default_timeout(ACTION_TIMEOUT_MS)
    opened.append(context)
    return context


def test_every_admin_page_passes_axe_and_fits_a_390px_screen(
    axe: str,
    browser: Browser,
    live_server: LiveServer,
    contexts: list[BrowserContext],
    screenshots: Path,
) -> None:
    failures: list[str] = []
    desktop = open_context(browser, live_server, contexts, viewport=VIEWPORT).new_page()

    def check_axe(label: str, name: str, page: Page) -> None:
        extra = axe_violations(page, axe)
        if extra:
            failures.append(f"{label} {page.url}\n{describe(extra)}")

    desktop.goto("/admin/login")
    check_axe("login", "login", desktop)
    log_in(desktop, STAFF["admin"])
    pages = admin_pages(desktop, live_server)
    for admin_page in pages:
        admin_page.open(desktop)
        check_axe(admin_page.name, admin_page.name, desktop)
        shoot(desktop, screenshots, f"a11y-{admin_page.slug}")

    phone = open_context(browser, live_server, contexts, viewport=PHONE).new_page()
    phone.goto("/admin/login")
    check_axe("login at 390 px", "login", phone)
    overflow = page_overflow(phone)
    if overflow:
        failures.append(f"login at 390 px: {overflow}")
    # The same staff session as on the desktop: no second login.
    phone.context.add_cookies(desktop.context.cookies())
    for admin_page in pages:
        admin_page.open(phone)
        overflow = page_overflow(phone)
        if overflow:
            failures.append(f"{admin_page.name} at 390 px {phone.url}: {overflow}")
        if admin_page.name in AXE_ON_PHONE:
            check_axe(f"{admin_page.name} at 390 px", admin_page.name, phone)
        shoot(phone, screenshots, f"a11y-{admin_page.slug}-390px")

    assert not failures, f"{len(failures)} page(s) fail:\n" + "\n".join(failures)


# --- keyboard only -------------------------------------------------------------------------

FOCUSED = """() => {
  const e = document.activeElement;
  if (!e || e === document.body) { return null; }
  const style = getComputedStyle(e);
  const isButtonInput = e.tagName === "INPUT" && ["submit", "button"].includes(e.type);
  const box = e.getBoundingClientRect();
  return {
    tag: e.tagName.toLowerCase(), id: e.id,
    text: (isButtonInput ? e.value : (e.innerText || "")).trim(),
    in_modal: Boolean(e.closest(".modal.show")),
    visible: box.width > 1 && box.height > 1,
    ring: (style.outlineStyle !== "none" && parseFloat(style.outlineWidth) > 0)
          || style.boxShadow !== "none",
  };
}"""


def tab_to(page: Page, wanted: Callable[[dict[str, Any]], bool], what: str) -> dict[str, Any]:
    """Press Tab until the focused element is the one `wanted`; it has a visible focus ring."""
    seen = []
    for _ in range(80):
        page.keyboard.press("Tab")
        focused = page.evaluate(FOCUSED)
        if focused and wanted(focused):
            assert focused["visible"], f"{what} is focused but not visible: {focused}"
            assert focused["ring"], f"{what} shows no focus indicator: {focused}"
            return dict(focused)
        seen.append(focused and (focused["id"] or focused["text"][:20] or focused["tag"]))
    raise AssertionError(f"{what} was not reached with Tab; focus went through {seen}")


def skip_to_content(page: Page) -> None:
    """The first Tab stop is the skip link; Enter on it puts the focus on the page's content."""
    link = tab_to(page, lambda f: True, "the first Tab stop")
    assert link["text"] == "Skip to the content", link
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main-content"


def test_a_product_is_edited_with_the_keyboard_only(page: Page, live_server: LiveServer) -> None:
    product = live_server.seeded.products["CABLE-400"]
    log_in(page, STAFF["manager"])
    page.goto(f"/admin/product/edit/{product}")

    skip_to_content(page)
    tab_to(page, lambda f: f["id"] == "name", "the Name field")
    page.keyboard.press("ControlOrMeta+A")
    page.keyboard.type("Punch-card cable, shielded")
    tab_to(page, lambda f: f["tag"] == "input" and f["text"] == "Save", "the Save button")
    page.keyboard.press("Enter")
    page.wait_for_url("**/admin/product/list**")

    page.goto(f"/admin/product/details/{product}")
    expect(page.locator("main table").first).to_contain_text("Punch-card cable, shielded")


def test_an_order_is_placed_with_the_keyboard_only(page: Page, live_server: LiveServer) -> None:
    log_in(page, STAFF["clerk"])
    order_id = new_draft_order(page, "Grace Hopper", "GEAR-100")
    page.goto(f"/admin/order/details/{order_id}")

    skip_to_content(page)
    tab_to(page, lambda f: f["text"] == "Place" and not f["in_modal"], "the Place button")
    page.keyboard.press("Enter")
    expect(page.locator(".modal.show")).to_be_visible()
    tab_to(page, lambda f: f["in_modal"] and f["text"] in {"Yes", "Place"}, "the dialog's Yes")
    page.keyboard.press("Enter")
    expect(page.locator(".bo-notice.alert-success")).to_contain_text("placed.")
