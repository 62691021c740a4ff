"""The admin's sidebar menu: built from the site's views, rendered once per shape.

sqladmin's layout renders its menu with template macros on every page: for each entry, its
visibility and access checks, its `url_for` and a dozen template steps, about a tenth of
a list page's work. The menu only changes with which views the user may open and which
one is open, so its HTML is made once for each such shape and reused. What a user may see
is asked of each view on every request (`is_visible`, `is_accessible`, the same checks
sqladmin's menu asks), so a change of roles shows on the next page.

It reads only the views' documented settings (name, name_plural, icon, category,
category_icon, identity, is_model), never sqladmin's private menu object.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup
from starlette.requests import Request

SHAPES_LIMIT = 1024  # distinct (views shown, view open) pairs remembered; then start again


@dataclass(frozen=True)
class Entry:
    """One link of the menu: a view, the category it sits under ("" for none)."""

    view: Any
    label: str
    icon: str
    category: str
    category_icon: str
    route: str  # the url_for name of its page
    params: tuple[tuple[str, str], ...]


def entry_of(view: Any) -> Entry:
    params: tuple[tuple[str, str], ...] = ()
    if view.is_model:
        route, params = "admin:list", (("identity", view.identity),)
    else:
        route = f"admin:view-{view.identity}"
    return Entry(
        view=view,
        label=getattr(view, "name_plural", "") or view.name,
        icon=view.icon or "",
        category=view.category or "",
        category_icon=view.category_icon or "",
        route=route,
        params=params,
    )


def _icon(icon: str) -> Markup:
    inner = Markup('<i class="{}"></i>').format(icon) if icon else Markup("")
    return Markup('<span class="nav-link-icon d-md-none d-lg-inline-block">{}</span>').format(inner)


def _link(css: str, active: bool, href: str, entry: Entry) -> Markup:
    return Markup(
        '<a class="{}{}" href="{}"{}>{}<span class="nav-link-title">{}</span></a>'
    ).format(
        css,
        " active" if active else "",
        href,
        Markup(' aria-current="page"') if active else "",
        _icon(entry.icon),
        entry.label,
    )


class SidebarMenu:
    """The menu of one admin site: `html(request)` gives the sidebar's navigation."""

    def __init__(self, views: Sequence[Any]) -> None:
        self.entries = [entry_of(view) for view in views]
        self.rendered: dict[tuple[tuple[bool, ...], int | None], Markup] = {}

    def html(self, request: Request) -> Markup:
        shown = tuple(
            bool(entry.view.is_visible(request) and entry.view.is_accessible(request))
            for entry in self.entries
        )
        key = (shown, self.active_index(request))
        page = self.rendered.get(key)
        if page is None:
            if len(self.rendered) >= SHAPES_LIMIT:
                self.rendered.clear()
            page = self.rendered[key] = self.render(request, *key)
        return page

    def active_index(self, request: Request) -> int | None:
        identity = request.path_params.get("identity")
        path = request.url.path.rstrip("/")
        for index, entry in enumerate(self.entries):
            if entry.view.is_model:
                if identity is not None and entry.view.identity == identity:
                    return index
            elif path == self.href(request, entry).rstrip("/"):
                return index
        return None

    def href(self, request: Request, entry: Entry) -> str:
        return str(request.url_for(entry.route, **dict(entry.params)))

    def link(self, request: Request, css: str, index: int, active: int | None) -> Markup:
        entry = self.entries[index]
        return _link(css, index == active, self.href(request, entry), entry)

    def render(self, request: Request, shown: tuple[bool, ...], active: int | None) -> Markup:
        """The navigation in sqladmin's markup (its script keeps categories open by name)."""
        # Top-level items in the order their first view was added, as sqladmin orders them.
        groups: dict[str, list[int]] = {}
        for index, entry in enumerate(self.entries):
            groups.setdefault(entry.category or f"\0{index}", []).append(index)
        parts = [Markup('<ul class="navbar-nav">')]
        for name, members in groups.items():
            visible = [index for index in members if shown[index]]
            if not visible:
                continue
            if name.startswith("\0"):
                (index,) = visible
                link = self.link(request, "nav-link", index, active)
                parts.append(Markup('<li class="nav-item">{}</li>').format(link))
                continue
            first = self.entries[members[0]]
            links = Markup("").join(
                self.link(request, "nav-link ps-lg-3", index, active) for index in visible
            )
            parts.append(
                Markup(
                    '<li class="nav-item dropdown" data-sqladmin-menu-category="{name}">'
                    '<a class="nav-link dropdown-toggle{active}" data-bs-toggle="dropdown"'
                    ' data-bs-auto-close="false" href="#" role="button" aria-expanded="false">'
                    '{icon}<span class="nav-link-title">{name}</span></a>'
                    '<div class="dropdown-menu"><div class="dropdown-menu-columns">'
                    '<div class="dropdown-menu-column">{links}</div></div></div></li>'
                ).format(
                    name=name,
                    active=" active" if active in visible else "",
                    icon=_icon(first.category_icon),
                    links=links,
                )
            )
        parts.append(Markup("</ul>"))
        return Markup("").join(parts)
