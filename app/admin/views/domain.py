"""Admin views for customers, products and orders (writes through their services)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, ClassVar

from sqladmin import action, expose
from sqladmin.filters import BooleanFilter, StaticValuesFilter
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from app.admin.ids import parse_id, require_id
from app.admin.notices import redirect_with_notice
from app.admin.views.base import AdminError, ServiceModelView, check_against, require_principal
from app.admin.views.lists import MAX_SEARCH_LENGTH, ListRefused, checked_text
from app.auth.principal import Principal
from app.customers import service as customers
from app.customers.schemas import CustomerUpdate
from app.lists.grammar import ListQuery
from app.lists.statements import filtered
from app.models import Customer, Order, OrderStatus, Product
from app.orders import service as orders
from app.orders.schemas import OrderUpdate
from app.products import service as products
from app.products.schemas import ProductCreate


class CustomerView(ServiceModelView, model=Customer):
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
    column_filters: ClassVar[Any] = [BooleanFilter(Customer.is_active)]
    form_columns: ClassVar[Any] = [
        "name",
        "email",
        "phone",
        "company",
        "notes",
        "is_active",
        "version",
    ]

    async def create(
        self, session: AsyncSession, principal: Principal, data: dict[str, Any]
    ) -> Any:
        check_against(CustomerUpdate, data)
        return await customers.create_customer(session, principal, _text_fields(data))

    async def update(
        self, session: AsyncSession, principal: Principal, obj: Any, data: dict[str, Any]
    ) -> Any:
        check_against(CustomerUpdate, data)
        return await customers.update_customer(session, principal, obj, _text_fields(data))

    async def remove(self, session: AsyncSession, principal: Principal, obj: Any) -> None:
        await customers.delete_customer(session, principal, obj)


def _text_fields(data: dict[str, Any]) -> dict[str, Any]:
    # WTForms gives None for empty optional text; the models store "".
    return {
        k: ("" if v is None and k in {"phone", "company", "notes", "description"} else v)
        for k, v in data.items()
    }


class ProductView(ServiceModelView, model=Product):
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
    column_filters: ClassVar[Any] = [BooleanFilter(Product.is_active)]
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

    def clean(self, data: dict[str, Any]) -> dict[str, Any]:
        values = _text_fields(super().clean(data))
        if isinstance(values.get("price"), Decimal):
            values["price"] = values["price"].quantize(Decimal("0.01"))
        if isinstance(values.get("sku"), str):
            values["sku"] = values["sku"].strip().upper()
        return values

    async def create(
        self, session: AsyncSession, principal: Principal, data: dict[str, Any]
    ) -> Any:
        check_against(ProductCreate, data)
        return await products.create_product(session, principal, data)

    async def update(
        self, session: AsyncSession, principal: Principal, obj: Any, data: dict[str, Any]
    ) -> Any:
        check_against(ProductCreate, data)
        return await products.update_product(session, principal, obj, data)

    async def remove(self, session: AsyncSession, principal: Principal, obj: Any) -> None:
        await products.delete_product(session, principal, obj)


STATUS_CHOICES = [(s.value, s.value.capitalize()) for s in OrderStatus]


class OrderView(ServiceModelView, model=Order):
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
    column_filters: ClassVar[Any] = [StaticValuesFilter(Order.status, values=STATUS_CHOICES)]
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

    async def load(self, session: AsyncSession, pk: int) -> Any:
        return await orders.get_order(session, pk)

    def clean(self, data: dict[str, Any]) -> dict[str, Any]:
        values = super().clean(data)
        customer = values.pop("customer", None)
        if customer not in (None, ""):
            customer_id = parse_id(getattr(customer, "id", customer))
            if customer_id is None:
                raise AdminError("Choose a customer.")
            values["customer_id"] = customer_id
        if values.get("notes") is None:
            values["notes"] = ""
        return values

    async def create(
        self, session: AsyncSession, principal: Principal, data: dict[str, Any]
    ) -> Any:
        if "customer_id" not in data:
            raise AdminError("Choose a customer.")
        check_against(OrderUpdate, data)
        return await orders.create_order(
            session, principal, customer_id=data["customer_id"], notes=data.get("notes", "")
        )

    async def update(
        self, session: AsyncSession, principal: Principal, obj: Any, data: dict[str, Any]
    ) -> Any:
        check_against(OrderUpdate, data)
        return await orders.update_order(session, principal, obj, data)

    async def remove(self, session: AsyncSession, principal: Principal, obj: Any) -> None:
        await orders.delete_order(session, principal, obj)

    async def details_context(self, request: Request) -> dict[str, Any]:
        async with self.database.read_session() as session:
            order = await orders.get_order(session, int(request.path_params["pk"]))
            return {"order": order, "items": list(order.items), "OrderStatus": OrderStatus}

    async def _transition(self, request: Request, name: str) -> Response:
        notice = {"place": "placed", "pay": "paid", "ship": "shipped", "cancel": "cancelled"}[name]

        async def per_row(session: AsyncSession, principal: Principal, pk: int) -> Order:
            return await orders.transition(session, principal, pk, name)

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
        """Add, change or remove a draft order's line (form field `op`)."""
        principal = require_principal(request)
        if not self.has_permission(request, "edit"):
            return redirect_with_notice(
                request, self.identity, None, "You may not edit orders.", error=True
            )
        pk = str(require_id(request.path_params["pk"]))
        form = await request.form()
        op = str(form.get("op", "add"))
        try:
            async with self.unit_of_work(request) as session:
                order = await orders.get_order(session, int(pk))
                if op == "remove":
                    await orders.remove_item(session, principal, order, _int(form.get("item_id")))
                elif op == "update":
                    await orders.update_item(
                        session,
                        principal,
                        order,
                        _int(form.get("item_id")),
                        _int(form.get("quantity")),
                    )
                else:
                    await orders.add_item(
                        session,
                        principal,
                        order,
                        _int(form.get("product_id")),
                        _int(form.get("quantity")),
                    )
        except AdminError as exc:
            return redirect_with_notice(request, self.identity, [pk], str(exc), error=True)
        return redirect_with_notice(request, self.identity, [pk], "items-updated")


def _int(value: object) -> int:
    """A row id or a quantity from the form: a positive whole number the column can hold."""
    number = parse_id(value)
    if number is None:
        raise AdminError("Enter a whole number from 1 to 2147483647.")
    return number
