"""The admin details page as data: labelled fields, the actions valid now, related rows.

Our template (templates/admin/details.html) only prints this. sqladmin's details template
reads private attributes of the view and offers every action whatever the row's state;
here the page is built once per request from the view's documented settings, each action
is offered only when the view says it applies to this row (an order's transitions), and
a view may add sections of related rows (a customer's orders, a user's tokens).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, ClassVar

from sqladmin import ModelView
from sqladmin.authorization import custom_action
from sqladmin.helpers import get_object_identifier
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

from app.admin.display import Display, human_labels
from app.admin.views.list_page import Links, ListAction, attribute_name
from app.admin.views.lists import model_identities

DETAILS_ROW_KEY = "bo_details_row"  # request.state: the row the page shows, read once


@dataclass(frozen=True)
class DetailField:
    """One line of the details table: its label, its shown value, links for relations."""

    name: str
    label: str
    value: Any
    href: str | None = None
    items: tuple[tuple[Any, str | None], ...] | None = None


@dataclass(frozen=True)
class DetailAction:
    """A button of the page: a POST to the view's action for this one row."""

    slug: str
    label: str
    url: str
    confirmation: str | None


@dataclass(frozen=True)
class RelatedRows:
    """A section of rows related to this one: a small table, and where to see them all."""

    title: str
    headers: Sequence[str]
    rows: Sequence[tuple[str | None, Sequence[Any]]]  # (link to the row, its cells)
    total: int | None = None
    all_url: str | None = None
    empty: str = "None yet."


@dataclass
class DetailPage:
    title: str
    fields: list[DetailField]
    list_url: str
    edit_url: str | None = None
    delete_url: str | None = None
    actions: list[DetailAction] = field(default_factory=list)
    related: list[RelatedRows] = field(default_factory=list)


def details_names(view: Any) -> list[str]:
    """The fields the view shows on its details page (sqladmin's documented settings)."""
    return [attribute_name(name) for name in view.get_details_columns()]


def field_of(view: Any, display: Display, links: Links, obj: Any, name: str) -> DetailField:
    label = view.details_labels.get(name, name)
    value = getattr(obj, name, None)
    formatter = view.column_formatters_detail.get(name) or view.column_formatters_detail.get(
        getattr(view.model, name, None)
    )
    if name in view.relation_names:
        if isinstance(value, (list, set, tuple)):
            items = tuple((display.value(str(item)), links.details(item)) for item in value)
            return DetailField(name, label, "", items=items)
        if value is not None:
            return DetailField(name, label, str(value), href=links.details(value))
        return DetailField(name, label, "")
    shown = formatter(obj, name) if formatter else display.value(value)
    return DetailField(name, label, shown)


def actions_of(
    view: Any, request: Request, obj: Any, declared: Sequence[ListAction], heading: str
) -> list[DetailAction]:
    """The declared actions this user may run that apply to this row now, each asking
    to confirm for this row ("Place: order SO-000042?") where the list asks for a selection."""
    pk = get_object_identifier(obj)
    found = []
    # In the order they are declared (the way forward first: Place before Cancel); the
    # list's menu shows them in sqladmin's order, the last declared first.
    for item in reversed(declared):
        if not item.in_detail or not view.action_applies(item.slug, obj):
            continue
        if not view.has_permission(request, custom_action(item.slug), obj):
            continue
        url = f"{request.url_for(f'admin:action-{view.identity}-{item.slug}')}?pks={pk}"
        asks = f"{item.label}: {view.name.lower()} {heading}?" if item.confirmation else None
        found.append(DetailAction(item.slug, item.label, url, asks))
    return found


def show_on_details(request: Request, row: Any) -> None:
    """Have the details page show `row` (a page rendered by an action, not the route)."""
    setattr(request.state, DETAILS_ROW_KEY, row)


class DetailsMixin:
    """Replaces sqladmin's details template with ours, fed by `details_context`."""

    details_template: ClassVar[str] = "admin/details.html"
    display: ClassVar[Display] = Display()

    @cached_property
    def details_labels(self) -> dict[str, str]:
        """Each attribute's label (read once per view, not per field and request)."""
        view: Any = self
        return human_labels(inspect(view.model).attrs.keys(), view.column_labels)

    @cached_property
    def relation_names(self) -> frozenset[str]:
        view: Any = self
        return frozenset(rel.key for rel in inspect(view.model).relationships)

    def action_applies(self, slug: str, obj: Any) -> bool:
        """Whether action `slug` can act on `obj` as it is now (override with the rule)."""
        return True

    async def related_rows(
        self, session: AsyncSession, request: Request, obj: Any, links: Links
    ) -> list[RelatedRows]:
        """Sections of rows related to `obj` (override to add some)."""
        return []

    async def get_object_for_details(self, request: Request) -> Any:
        # sqladmin reads the row after `details_context` has: the page reads it once.
        if hasattr(request.state, DETAILS_ROW_KEY):
            return getattr(request.state, DETAILS_ROW_KEY)
        row = await self.read_for_details(request)
        setattr(request.state, DETAILS_ROW_KEY, row)
        return row

    async def read_for_details(self, request: Request) -> Any:
        """The row the page shows, or None (sqladmin's read, through `details_query`)."""
        return await ModelView.get_object_for_details(self, request)  # type: ignore[arg-type]

    async def details_context(self, request: Request) -> dict[str, Any]:
        view: Any = self
        obj = await self.get_object_for_details(request)
        if obj is None:
            return {}  # sqladmin answers 404
        links = Links(request, model_identities(request))
        pk = get_object_identifier(obj)
        page = DetailPage(
            title=f"{view.name} {self.heading(obj)}",
            fields=[field_of(view, self.display, links, obj, n) for n in details_names(view)],
            list_url=str(request.url_for("admin:list", identity=view.identity)),
            actions=actions_of(view, request, obj, view.list_actions, self.heading(obj)),
        )
        if await view.check_can_edit(request, obj):
            page.edit_url = links.to("admin:edit", view.identity, pk)
        if await view.check_can_delete(request, obj):
            page.delete_url = f"{request.url_for('admin:delete', identity=view.identity)}?pks={pk}"
        async with view.database.read_session() as session:
            page.related = await self.related_rows(session, request, obj, links)
        return {"page": page}

    def heading(self, obj: Any) -> str:
        """How the page names its row: its `number` or `name` where it has one."""
        for name in ("number", "sku", "name", "email"):
            value = getattr(obj, name, None)
            if value:
                return str(value)
        return f"#{get_object_identifier(obj)}"
