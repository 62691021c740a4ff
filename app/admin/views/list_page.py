"""The admin list page as data: columns, rows' cell texts and links, built once per request.

Our list template (templates/admin/list.html) only prints this. sqladmin's list template
asks the view for every row's links (three `url_for` route walks per row, through the
whole app's route table) and reads the view's private attributes; here each link is a
string joined from a pattern built once per page with `request.url_for`, so the page's
links are still paths under whatever prefix the admin is mounted at.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, NamedTuple
from urllib.parse import quote, urlencode

from sqladmin import ModelView
from sqladmin.authorization import Action, custom_action
from sqladmin.helpers import get_object_identifier, slugify_class_name
from sqlalchemy import inspect
from starlette.datastructures import URL, QueryParams
from starlette.requests import Request

from app.admin.policy import answer_depends_on_row

PK_MARK = "__bo_pk__"  # stands for the row's id in a link pattern (no route has it)


def attribute_name(attribute: Any) -> str:
    """A column given as its name or as the model's attribute (`Product.sku`)."""
    return attribute if isinstance(attribute, str) else str(attribute.key)


@dataclass(frozen=True)
class ListAction:
    """A custom action of the list's Actions menu (declared with base.action)."""

    slug: str
    label: str
    confirmation: str | None
    in_list: bool = True
    in_detail: bool = True


@dataclass(frozen=True)
class ListLayout:
    """What a view's list shows, read once per view from its documented settings."""

    names: tuple[str, ...]
    labels: dict[str, str]
    sortable: frozenset[str]
    default_sort: tuple[str, bool]
    relations: frozenset[str]
    linked_relations: frozenset[str]
    list_relations: tuple[Any, ...]  # the model attributes to load with the page
    formatters: dict[str, Callable[..., Any]]
    type_formatters: dict[type, Callable[[Any], Any]]
    compact_lists: bool
    checks_per_row: bool  # whether each row's details/edit/delete links are asked anew


def layout_of(view: Any) -> ListLayout:
    names = tuple(view.get_list_columns())
    relationships = {rel.key for rel in inspect(view.model).relationships}
    relations = frozenset(name for name in names if name in relationships)
    default = view.column_default_sort
    if isinstance(default, list):
        default = default[0] if default else None
    if isinstance(default, tuple):
        sort = (attribute_name(default[0]), bool(default[1]))
    elif default:
        sort = (attribute_name(default), False)
    else:
        sort = ("id", False)
    not_linked = {attribute_name(item) for item in view.non_link_related_fields}
    return ListLayout(
        names=names,
        labels={attribute_name(k): v for k, v in view.column_labels.items()},
        sortable=frozenset(attribute_name(item) for item in view.column_sortable_list),
        default_sort=sort,
        relations=relations,
        linked_relations=frozenset(relations - not_linked),
        list_relations=tuple(getattr(view.model, name) for name in sorted(relations)),
        formatters={attribute_name(k): v for k, v in view.column_formatters.items()},
        type_formatters=dict(view.column_type_formatters),
        compact_lists=bool(view.show_compact_lists),
        checks_per_row=checks_per_row(view),
    )


ROW_CHECKS = ("check_can_view_details", "check_can_edit", "check_can_delete")


def checks_per_row(view: Any) -> bool:
    """Whether the view's row checks can answer differently for two of its rows: when it
    overrides one of sqladmin's documented `check_can_*` hooks, or when the policy's answer
    depends on the row (a user's own tokens). Otherwise one answer holds for the page."""
    overridden = any(
        getattr(type(view), name) is not getattr(ModelView, name) for name in ROW_CHECKS
    )
    return overridden or answer_depends_on_row(view.identity, view.model)


# --- links ---------------------------------------------------------------------------------


class LinkPattern:
    """A route's path for any row: `request.url_for` once, the row's id joined in."""

    def __init__(self, request: Request, route: str, identity: str) -> None:
        url = str(request.url_for(route, identity=identity, pk=PK_MARK))
        self.head, _, self.tail = url.partition(PK_MARK)

    def to(self, pk: Any) -> str:
        return f"{self.head}{quote(str(pk), safe=';')}{self.tail}"


class Links:
    """The page's link patterns, built on first use (one `url_for` per route and view)."""

    def __init__(self, request: Request, identities: dict[type, str]) -> None:
        self.request = request
        self.identities = identities
        self.patterns: dict[tuple[str, str], LinkPattern] = {}

    def identity_of(self, obj: Any) -> str:
        # The related row's own view, named as sqladmin names it when it has none.
        return self.identities.get(type(obj)) or slugify_class_name(type(obj).__name__)

    def to(self, route: str, identity: str, pk: Any) -> str:
        pattern = self.patterns.get((route, identity))
        if pattern is None:
            pattern = self.patterns[route, identity] = LinkPattern(self.request, route, identity)
        return pattern.to(pk)

    def details(self, obj: Any) -> str:
        return self.to("admin:details", self.identity_of(obj), get_object_identifier(obj))


# --- cells ---------------------------------------------------------------------------------


class Cell(NamedTuple):
    """One cell: its text (Markup when a formatter made HTML) and, for a relation, links.

    Rows and cells are tuples so the template unpacks them in its `for`: in Jinja's async
    mode every attribute read is awaited, and a row is read some forty times."""

    text: Any = ""
    href: str | None = None
    items: tuple[tuple[Any, str | None], ...] | None = None  # a list relation's (text, href)
    compact: bool = False  # a list relation shown inline, "(a) (b)" (show_compact_lists)


def format_value(layout: ListLayout, value: Any) -> Any:
    """sqladmin's default list formatting, from the view's documented
    `column_type_formatters`: None is empty, a bool an icon, an enum its name."""
    if isinstance(value, Enum) and not isinstance(value, str):
        value = value.name
    formatter = layout.type_formatters.get(type(value))
    if formatter is None:
        for parent in type(value).__bases__:
            formatter = layout.type_formatters.get(parent)
            if formatter is not None:
                break
    return formatter(value) if formatter is not None else value


def cell_of(layout: ListLayout, links: Links, row: Any, name: str) -> Cell:
    value = getattr(row, name, None)
    formatter = layout.formatters.get(name)
    if name not in layout.relations:
        text = formatter(row, name) if formatter else format_value(layout, value)
        return Cell(text=text)
    linked = name in layout.linked_relations
    if isinstance(value, (list, set, tuple)):
        return Cell(
            items=tuple(
                (format_value(layout, item), links.details(item) if linked else None)
                for item in value
            ),
            compact=layout.compact_lists,
        )
    text = formatter(row, name) if formatter else format_value(layout, value)
    if value is None or not linked:
        return Cell(text=text)
    return Cell(text=text, href=links.details(value))


# --- rows and columns ----------------------------------------------------------------------


class Row(NamedTuple):
    pk: Any
    cells: list[Cell]
    details_url: str | None
    edit_url: str | None
    delete_url: str | None


@dataclass(frozen=True)
class Column:
    name: str
    label: str
    sort_url: str | None  # None: not sortable
    sorted: str | None  # "asc" / "desc" when the list is sorted by this column


def columns_of(layout: ListLayout, unpaged: URL) -> list[Column]:
    """Each column's header: its label and, when sortable, the link that sorts by it (or
    flips its order), from the list's URL without its paging cursor."""
    params = QueryParams(unpaged.query)
    columns = []
    for name in layout.names:
        label = layout.labels.get(name, name)
        if name not in layout.sortable:
            columns.append(Column(name, label, None, None))
            continue
        current = params.get("sort") if params.get("sortBy") == name else None
        if current in ("asc", "desc"):
            flip = "desc" if current == "asc" else "asc"
            url = str(unpaged.include_query_params(sort=flip))
        else:
            current, url = None, str(unpaged.include_query_params(sortBy=name, sort="asc"))
        columns.append(Column(name, label, url, current))
    return columns


async def rows_of(
    view: Any, layout: ListLayout, request: Request, records: Iterable[Any], links: Links
) -> list[Row]:
    """Each row's cells, and the links the user may follow: asked of the view for each
    row where the answer can depend on the row (`checks_per_row`), else once a page."""
    edit_query = f"?{request.url.query}" if request.url.query else ""
    delete_base = f"{request.url_for('admin:delete', identity=view.identity)}?pks="
    rows = []
    answers: tuple[bool, bool, bool] | None = None
    for record in records:
        pk = get_object_identifier(record)
        if answers is None or layout.checks_per_row:
            answers = (
                await view.check_can_view_details(request, record),
                await view.check_can_edit(request, record),
                await view.check_can_delete(request, record),
            )
        may_view, may_edit, may_delete = answers
        details = links.to("admin:details", view.identity, pk) if may_view else None
        edit = links.to("admin:edit", view.identity, pk) + edit_query if may_edit else None
        delete = delete_base + quote(str(pk), safe="") if may_delete else None
        cells = [cell_of(layout, links, record, name) for name in layout.names]
        rows.append(Row(pk, cells, details, edit, delete))
    return rows


# --- the page's toolbar and menus ---------------------------------------------------------


@dataclass(frozen=True)
class Toolbar:
    """The buttons above a list that this user may use: export, import, create."""

    export_urls: list[tuple[str, str]]  # (type, URL); empty: no export
    import_url: str | None
    create_url: str | None


async def toolbar_of(view: Any, request: Request) -> Toolbar:
    """The list's toolbar, asked of sqladmin's documented switches and checks."""
    identity = view.identity
    exports: list[tuple[str, str]] = []
    if view.can_export and await view.check_can_export(request):
        exports = [
            (kind, str(request.url_for("admin:export", identity=identity, export_type=kind)))
            for kind in view.export_types
        ]
    may_import = view.can_import and await view.check_can_import(request)
    may_create = view.can_create and await view.check_can_create(request)
    return Toolbar(
        export_urls=exports,
        import_url=str(request.url_for("admin:import", identity=identity)) if may_import else None,
        create_url=str(request.url_for("admin:create", identity=identity)) if may_create else None,
    )


@dataclass(frozen=True)
class MenuAction:
    slug: str
    label: str
    url: str  # its confirmation page (app/admin/bulk.py), with the list's parameters


@dataclass
class Menus:
    """The Actions menu: bulk delete and the custom actions this user may run."""

    delete_url: str | None = None
    actions: list[MenuAction] = field(default_factory=list)

    @property
    def any(self) -> bool:
        return self.delete_url is not None or bool(self.actions)


# Query parameters that are not the list's own (its search, filters, sort and page are).
NOT_LIST_PARAMS = frozenset({"pks", "notice"})


def list_params(request: Request) -> list[tuple[str, str]]:
    """The list's own parameters (search, filters, sort, page) carried by this request."""
    return [(k, v) for k, v in request.query_params.multi_items() if k not in NOT_LIST_PARAMS]


def with_params(url: str, params: list[tuple[str, str]]) -> str:
    return f"{url}?{urlencode(params)}" if params else url


def menus_of(view: Any, request: Request, declared: Sequence[ListAction]) -> Menus:
    """Each entry opens its action's confirmation page for the rows the list shows (the
    page offers all of them); admin.js adds the ticked rows (`pks=`) when there are some."""
    params = list_params(request)

    def confirm_url(slug: str) -> str:
        url = request.url_for("admin:bulk_confirm", identity=view.identity, action=slug)
        return with_params(str(url), params)

    menus = Menus()
    if view.can_delete and view.has_permission(request, Action.DELETE):
        menus.delete_url = confirm_url("delete")
    for item in declared:
        if item.in_list and view.has_permission(request, custom_action(item.slug)):
            menus.actions.append(MenuAction(item.slug, item.label, confirm_url(item.slug)))
    return menus


def declared_actions(view_class: type) -> list[ListAction]:
    """The custom actions a view declares, in sqladmin's menu order (last declared first).

    Each is declared with base.action, which records its ListAction: sqladmin's own
    `@action` keeps a label and a confirmation only in private attributes of the function,
    so a view decorated with sqladmin's directly would have no menu entry here.
    """
    found: list[tuple[int, ListAction]] = []
    for name in dir(view_class):
        member = getattr(view_class, name, None)
        if not callable(member):
            continue
        declared = getattr(member, "list_action", None)
        if isinstance(declared, ListAction):
            found.append((first_line(member), declared))
    return [declared for _, declared in sorted(found, key=lambda item: -item[0])]


def first_line(func: Any) -> int:
    while hasattr(func, "__wrapped__"):
        func = func.__wrapped__
    return int(func.__code__.co_firstlineno)
