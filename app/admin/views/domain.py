"""Admin views for customers, products and orders (writes through their services)."""

from __future__ import annotations

from typing import Any, ClassVar, cast

from sqladmin import expose
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from wtforms import StringField

from app.admin import related
from app.admin.display import status_column
from app.admin.filters import BooleanFilter, ChoiceFilter, DateRangeFilter, NumberRangeFilter
from app.admin.ids import parse_id, require_id
from app.admin.notices import redirect_with_notice
from app.admin.views.base import (
    AdminError,
    CommandForm,
    ServiceModelView,
    action,
    require_principal,
)
from app.admin.views.details import RelatedRows
from app.admin.views.list_page import Links
from app.admin.views.lists import MAX_SEARCH_LENGTH, ListRefused, checked_text
from app.auth.principal import Principal
from app.commands import Writes, build
from app.customers import service as customers
from app.errors import NotFound
from app.lists.grammar import ListQuery
from app.lists.statements import filtered
from app.models import Customer, Order, OrderStatus, Product
from app.orders import service as orders
from app.orders.commands import Action, AddItem, UpdateItem
from app.orders.writes import TRANSITIONS
from app.products import service as products


class CommandView(ServiceModelView):
    """A view whose forms only translate into its service's commands (`writes`): each
    field's rule and message, the permission and the version check are the service's."""

    # The form carries what was typed; the command checks it, as it does the API's body.
    form_base_class = CommandForm
    writes: ClassVar[Writes]

    async def create(
        self, session: AsyncSession, principal: Principal, data: dict[str, Any]
    ) -> Any:
        command = build(self.writes.create_command, _as_typed(data))
        return await self.writes.create(session, principal, command)

    async def update_model(self, request: Request, pk: str, data: dict[str, Any]) -> Any:
        values = _as_typed(self.clean(data))

        async def save(session: AsyncSession, principal: Principal, expected: int) -> Any:
            command = build(self.writes.update_command, values)
            return await self.writes.update(
                session, principal, int(pk), command, expected_version=expected
            )

        return await self.save_edit(request, save)

    async def remove(self, session: AsyncSession, principal: Principal, obj: Any) -> None:
        # A delete button names no version: it acts on the row as it is.
        await self.writes.delete(session, principal, obj.id, expected_version=None)


def _as_typed(data: dict[str, Any]) -> dict[str, Any]:
    """A form's fields as typed, for a command; a field the post left out is not given."""
    return {name: value for name, value in data.items() if value is not None}


class CustomerView(CommandView, model=Customer):
    name = "Customer"
    name_plural = "Customers"
    identity = "customer"
    icon = "fa-solid fa-users"
    column_list: ClassVar[Any] = ["id", "name", "email", "company", "is_active", "created_at"]
    # The search box searches what the API's `q` searches (one list of fields).
    list_spec = customers.LIST_SPEC
    column_searchable_list: ClassVar[Any] = list(customers.LIST_SPEC.search_fields)
    column_sortable_list: ClassVar[Any] = ["id", "name", "email", "company", "created_at"]
    column_default_sort: ClassVar[Any] = ("id", True)
    column_filters: ClassVar[Any] = [
        BooleanFilter(Customer.is_active, title="Active"),
        DateRangeFilter(Customer.created_at, title="Created at"),
    ]
    form_columns: ClassVar[Any] = [
        "name",
        "email",
        "phone",
        "company",
        "notes",
        "is_active",
        "version",
    ]
    writes = customers.WRITES

    async def related_rows(
        self, session: AsyncSession, request: Request, obj: Any, links: Links
    ) -> list[RelatedRows]:
        return await related.customer_orders(session, request, obj, links, self.display)


class ProductView(CommandView, model=Product):
    name = "Product"
    name_plural = "Products"
    identity = "product"
    icon = "fa-solid fa-box"
    column_list: ClassVar[Any] = [
        "id",
        "sku",
        "name",
        "price",
        "stock",
        "reorder_level",
        "is_active",
    ]
    # The search box searches what the API's `q` searches (one list of fields).
    list_spec = products.LIST_SPEC
    column_searchable_list: ClassVar[Any] = list(products.LIST_SPEC.search_fields)
    column_sortable_list: ClassVar[Any] = ["id", "sku", "name", "price", "stock"]
    column_default_sort: ClassVar[Any] = ("id", True)
    column_filters: ClassVar[Any] = [
        NumberRangeFilter(Product.price, title="Price"),
        NumberRangeFilter(Product.stock, title="Stock"),
        BooleanFilter(Product.is_active, title="Active"),
    ]
    form_columns: ClassVar[Any] = [
        "sku",
        "name",
        "description",
        "price",
        "stock",
        "reorder_level",
        "is_active",
        "version",
    ]
    writes = products.WRITES
    # Numbers are typed text too: the command reads a price or a count as the API's does.
    form_overrides: ClassVar[dict[str, Any]] = {
        **ServiceModelView.form_overrides,
        "price": StringField,
        "stock": StringField,
        "reorder_level": StringField,
    }
    form_widget_args: ClassVar[dict[str, dict[str, Any]]] = {
        "price": {"inputmode": "decimal"},
        "stock": {"inputmode": "numeric"},
        "reorder_level": {"inputmode": "numeric"},
    }

    async def related_rows(
        self, session: AsyncSession, request: Request, obj: Any, links: Links
    ) -> list[RelatedRows]:
        return await related.product_order_lines(session, request, obj, links, self.display)


STATUS_CHOICES = [(s.value, s.value.capitalize()) for s in OrderStatus]


class OrderView(CommandView, model=Order):
    name = "Order"
    name_plural = "Orders"
    identity = "order"
    icon = "fa-solid fa-cart-shopping"
    column_list: ClassVar[Any] = [
        "number",
        "customer",
        "status",
        "total",
        "placed_at",
        "created_at",
    ]
    # The search box searches what the API's `q` searches (one list of fields).
    list_spec = orders.LIST_SPEC
    column_searchable_list: ClassVar[Any] = list(orders.LIST_SPEC.search_fields)
    column_sortable_list: ClassVar[Any] = ["number", "status", "total", "created_at"]
    column_default_sort: ClassVar[Any] = ("id", True)
    column_filters: ClassVar[Any] = [
        ChoiceFilter(Order.status, STATUS_CHOICES, title="Status"),
        NumberRangeFilter(Order.total, title="Total"),
        DateRangeFilter(Order.placed_at, title="Placed at"),
        DateRangeFilter(Order.created_at, title="Created at"),
    ]
    column_details_list: ClassVar[Any] = [
        "number",
        "customer",
        "status",
        "notes",
        "total",
        "placed_at",
        "created_at",
        "updated_at",
        "version",
    ]
    form_columns: ClassVar[Any] = ["customer", "notes", "version"]
    form_ajax_refs: ClassVar[dict[str, dict[str, Any]]] = {
        "customer": {"fields": ("name", "email", "company"), "order_by": "name"}
    }
    details_template = "admin/order_details.html"
    # Statuses as coloured badges, on the list and on the details page.
    column_formatters: ClassVar[Any] = {"status": status_column}
    column_formatters_detail: ClassVar[Any] = {"status": status_column}
    writes = orders.WRITES

    async def load(self, session: AsyncSession, pk: int) -> Any:
        return await orders.get_order(session, pk)

    def clean(self, data: dict[str, Any]) -> dict[str, Any]:
        values = super().clean(data)
        customer = values.pop("customer", None)
        if customer not in (None, ""):
            # The ajax select sends the id as typed; the command reads and checks it.
            values["customer_id"] = getattr(customer, "id", customer)
        if values.get("notes") is None:
            values["notes"] = ""
        return values

    # The buttons and the items form below only translate too: every rule (each field,
    # the permission, draft-only items, the transitions) is the service's, and its refusal
    # is the message shown.

    async def read_for_details(self, request: Request) -> Any:
        # The page shows the customer and every item's product: one statement.
        async with self.database.read_session() as session:
            try:
                return await orders.get_order(session, require_id(request.path_params["pk"]))
            except NotFound:
                return None

    def action_applies(self, slug: str, obj: Any) -> bool:
        """Only the transitions valid from the order's status are offered (the rule is the
        service's TRANSITIONS; the service still refuses a stale click)."""
        allowed = TRANSITIONS.get(cast(Action, slug))
        return allowed is None or obj.status in allowed

    async def _transition(self, request: Request, verb: Action) -> Response:
        notice = {"place": "placed", "pay": "paid", "ship": "shipped", "cancel": "cancelled"}[verb]

        async def per_row(session: AsyncSession, principal: Principal, pk: int) -> Order:
            # A bulk action names no versions: it acts on the rows selected on the list.
            return await orders.transition(session, principal, pk, verb, expected_version=None)

        return await self.bulk_action(
            request, per_row, lambda _: notice, lock_first=orders.lock_for_bulk_action
        )

    @action(name="place", label="Place", confirmation_message="Place the selected orders?")
    async def place(self, request: Request) -> Response:
        return await self._transition(request, "place")

    @action(name="pay", label="Mark paid", confirmation_message="Mark the selected orders paid?")
    async def pay(self, request: Request) -> Response:
        return await self._transition(request, "pay")

    @action(name="ship", label="Ship", confirmation_message="Ship the selected orders?")
    async def ship(self, request: Request) -> Response:
        return await self._transition(request, "ship")

    @action(name="cancel", label="Cancel", confirmation_message="Cancel the selected orders?")
    async def cancel(self, request: Request) -> Response:
        return await self._transition(request, "cancel")

    @expose("/product-lookup", methods=["GET"])
    async def product_lookup(self, request: Request) -> Response:
        """Search-as-you-type for the add-item form: active products by SKU or name."""
        term = request.query_params.get("term", "").strip()[:100]
        if not term or not self.has_permission(request, "edit"):
            return JSONResponse({"results": []})
        try:
            checked_text("The search", term, MAX_SEARCH_LENGTH)
        except ListRefused:  # nothing is named with a control character
            return JSONResponse({"results": []})
        # The API's `q` rule: a name containing the term, or a SKU starting with it.
        query = ListQuery(q=term)
        active = select(Product).where(Product.is_active.is_(True))
        statement = (
            filtered(products.LIST_SPEC, query, active)
            .params(**query.params())
            .order_by(Product.sku)
            .limit(20)
        )
        async with self.database.read_session() as session:
            found = (await session.execute(statement)).scalars().all()
        return JSONResponse(
            {
                "results": [
                    {"id": p.id, "text": f"{p.sku} — {p.name} ({p.stock} in stock)"} for p in found
                ]
            }
        )

    @expose("/{pk}/items", methods=["POST"])
    async def items(self, request: Request) -> Response:
        """Add, change or remove a draft order's line (form field `op`). The buttons carry
        no version: each acts on the line it shows, and only a draft's lines change."""
        principal = require_principal(request)
        pk = require_id(request.path_params["pk"])
        form = await request.form()
        op = str(form.get("op", "add"))
        # An item id that is no id names no line of the order: the service's 404 says so.
        item_id = parse_id(form.get("item_id")) or 0
        try:
            async with self.unit_of_work(request) as session:
                if op == "remove":
                    await orders.remove_item(session, principal, pk, item_id, expected_version=None)
                elif op == "update":
                    command = build(UpdateItem, {"quantity": form.get("quantity")})
                    await orders.update_item(
                        session, principal, pk, item_id, command, expected_version=None
                    )
                else:
                    fields = {
                        "product_id": form.get("product_id"),
                        "quantity": form.get("quantity"),
                    }
                    await orders.add_item(
                        session, principal, pk, build(AddItem, fields), expected_version=None
                    )
        except AdminError as exc:
            return redirect_with_notice(request, self.identity, [str(pk)], str(exc), error=True)
        return redirect_with_notice(request, self.identity, [str(pk)], "items-updated")
