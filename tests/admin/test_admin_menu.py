"""The admin's sidebar menu (app/admin/menu.py): who sees which links, the open page, the markup."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.routing import Mount, Route, Router

from app.admin import MODEL_VIEWS
from app.admin.menu import SidebarMenu
from app.edge.callers import identity_of, principal_for
from app.users.commands import UpdateUser
from app.users.service import update_user
from tests.admin.conftest import OpenBrowser
from tests.factories import make_user

MENU = re.compile(r'<ul class="navbar-nav">.*?</ul>', re.S)


def lists(*identities: str) -> set[str]:
    return {f"/admin/{identity}/list" for identity in identities}


PAGES = {"/admin/account", "/admin/product-import"}
EVERY_LINK = lists(*(view.identity for view in MODEL_VIEWS)) | PAGES
READER_LINKS = lists("order", "customer", "product", "api-token", "staff-session")
READER_LINKS.add("/admin/account")
MANAGER_LINKS = READER_LINKS | lists("user", "role", "audit-event") | PAGES


@dataclass
class Node:
    tag: str
    attrs: dict[str, str]
    parent: Node | None = None
    children: list[Node] = field(default_factory=list)
    text: str = ""

    def walk(self) -> list[Node]:
        return [self, *(node for child in self.children for node in child.walk())]

    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())


class TreeBuilder(HTMLParser):
    """A strict tree of a fragment: every tag closed, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.root = Node("#root", {})
        self.open = self.root

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {key: value or "" for key, value in attrs}, parent=self.open)
        self.open.children.append(node)
        self.open = node

    def handle_endtag(self, tag: str) -> None:
        assert self.open.tag == tag, f"</{tag}> closes <{self.open.tag}>"
        assert self.open.parent is not None
        self.open = self.open.parent

    def handle_data(self, data: str) -> None:
        self.open.text += data


def parse(fragment: str) -> Node:
    builder = TreeBuilder()
    builder.feed(fragment)
    builder.close()
    assert builder.open is builder.root, "unclosed tags"
    [menu] = builder.root.children
    return menu


async def menu_on(browser: httpx.AsyncClient, path: str) -> Node:
    """The sidebar menu of the page at `path`, as a tree."""
    response = await browser.get(path)
    assert response.status_code == 200, response.text
    [fragment] = MENU.findall(response.text)
    return parse(fragment)


def links(menu: Node) -> list[Node]:
    return [node for node in menu.walk() if node.tag == "a" and node.attrs["href"] != "#"]


def hrefs(menu: Node) -> set[str]:
    return {link.attrs["href"] for link in links(menu)}


def categories(menu: Node, *, open_only: bool = False) -> list[str]:
    """The categories shown (or only those whose toggle is marked active), in order."""
    return [
        node.attrs["data-sqladmin-menu-category"]
        for node in menu.walk()
        if "data-sqladmin-menu-category" in node.attrs
        and (not open_only or "active" in node.children[0].classes())
    ]


@pytest.mark.parametrize(
    ("role", "expected", "shown_categories"),
    [
        ("admin", EVERY_LINK, ["Staff", "Integrations"]),
        ("manager", MANAGER_LINKS, ["Staff"]),
        ("clerk", READER_LINKS, ["Staff"]),
        ("viewer", READER_LINKS, ["Staff"]),
    ],
)
async def test_the_menu_links_the_views_the_role_may_open(
    open_browser: OpenBrowser, role: str, expected: set[str], shown_categories: list[str]
) -> None:
    _, browser = await open_browser(role)

    menu = await menu_on(browser, "/admin/account")

    assert hrefs(menu) == expected
    assert len(links(menu)) == len(expected)  # each once
    assert categories(menu) == shown_categories
    for href in EVERY_LINK - {"/admin/account"}:  # the menu shows what opens, and only that
        assert ((await browser.get(href)).status_code == 200) == (href in expected), href


@pytest.mark.parametrize(
    ("path", "current", "category"),
    [
        ("/admin/product/list", "/admin/product/list", None),
        ("/admin/customer/create", "/admin/customer/list", None),
        ("/admin/user/list", "/admin/user/list", "Staff"),
        ("/admin/webhook-delivery/list", "/admin/webhook-delivery/list", "Integrations"),
        ("/admin/account", "/admin/account", None),
        ("/admin/", None, None),
    ],
)
async def test_only_the_open_pages_entry_is_marked_current(
    open_browser: OpenBrowser, path: str, current: str | None, category: str | None
) -> None:
    _, browser = await open_browser("admin")

    menu = await menu_on(browser, path)

    marked = [node for node in menu.walk() if "aria-current" in node.attrs]
    active = [link for link in links(menu) if "active" in link.classes()]
    if current is None:
        assert marked == [] and active == []
    else:
        [link] = marked
        assert link.tag == "a" and link.attrs["aria-current"] == "page"
        assert link.attrs["href"] == current
        assert active == [link]
    assert categories(menu, open_only=True) == ([category] if category else [])


async def test_the_menu_is_a_list_of_items_in_the_order_views_were_added(
    open_browser: OpenBrowser,
) -> None:
    _, browser = await open_browser("admin")

    menu = await menu_on(browser, "/admin/user/list")  # parse() checks every tag is closed

    assert menu.tag == "ul" and menu.classes() == {"navbar-nav"}
    assert menu.children and {child.tag for child in menu.children} == {"li"}
    assert all("nav-item" in item.classes() for item in menu.children)
    assert [node for node in menu.walk() if node.tag in {"li", "ul"}] == [menu, *menu.children]
    # Every link sits inside one of the list's items.
    assert sum(len(links(item)) for item in menu.children) == len(links(menu)) == len(EVERY_LINK)
    # In the order the views were added (as sqladmin orders its menu).
    titles = [item.children[0].children[-1].text for item in menu.children]
    assert " | ".join(titles) == (
        "Orders | Customers | Products | Staff | Audit log | Integrations | My account"
        " | Import products"
    )


async def test_a_menu_seen_by_one_user_is_never_shown_to_another(
    open_browser: OpenBrowser,
) -> None:
    _, admin = await open_browser("admin")
    _, viewer = await open_browser("viewer")

    for _ in range(2):  # the second round is served from the remembered shapes
        assert hrefs(await menu_on(admin, "/admin/product/list")) == EVERY_LINK
        assert hrefs(await menu_on(viewer, "/admin/product/list")) == READER_LINKS
        assert hrefs(await menu_on(viewer, "/admin/account")) == READER_LINKS
        assert hrefs(await menu_on(admin, "/admin/account")) == EVERY_LINK


async def test_a_change_of_roles_shows_on_the_next_page(
    open_browser: OpenBrowser, session: AsyncSession
) -> None:
    admin = await make_user(session, role="admin")
    by_admin = principal_for(identity_of(admin), channel="admin", auth_method="session")
    user, browser = await open_browser("viewer")
    assert hrefs(await menu_on(browser, "/admin/product/list")) == READER_LINKS

    for roles, expected in [(["manager"], MANAGER_LINKS), (["viewer"], READER_LINKS)]:
        await session.refresh(user)  # the login wrote the row (last_login_at, its version)
        await update_user(
            session, by_admin, user.id, UpdateUser(roles=roles), expected_version=None
        )
        await session.flush()

        assert hrefs(await menu_on(browser, "/admin/product/list")) == expected


# --- SidebarMenu on its own ----------------------------------------------------------------


def fake_view(identity: str, name: str, *, shown: bool = True, category: str = "") -> Any:
    return SimpleNamespace(
        identity=identity,
        name=name,
        name_plural=name,
        icon='fa"><script>alert(2)</script>',
        category=category,
        category_icon="",
        is_model=True,
        is_visible=lambda request: True,
        is_accessible=lambda request: shown,
    )


def request_for(path: str) -> Request:
    admin = Mount(
        "/admin", routes=[Route("/{identity}/list", lambda r: None, name="list")], name="admin"
    )
    server = ("testserver", 80)
    router = Router(routes=[admin])
    return Request(
        {"type": "http", "path": path, "headers": [], "server": server, "router": router}
    )


def test_names_icons_and_categories_are_escaped() -> None:
    menu = SidebarMenu(
        [
            fake_view("evil", "<script>alert(1)</script>"),
            fake_view("other", "Fine & dandy", category='Cat"><script>x</script>'),
        ]
    )

    html = str(menu.html(request_for("/admin/")))

    assert "<script" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "Fine &amp; dandy" in html
    assert 'data-sqladmin-menu-category="Cat&#34;&gt;&lt;script&gt;x&lt;/script&gt;"' in html
    assert parse(html).tag == "ul"


def test_each_shape_is_rendered_once_and_kept_apart() -> None:
    views = [fake_view("a", "Alpha"), fake_view("b", "Beta", shown=False)]
    menu = SidebarMenu(views)
    request = request_for("/admin/")

    first = menu.html(request)
    again = menu.html(request)
    views[1].is_accessible = lambda request: True
    wider = menu.html(request)

    assert again is first and "Beta" not in first
    assert "Beta" in wider and "Alpha" in wider
    assert len(menu.rendered) == 2
