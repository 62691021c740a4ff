"""Orders as JSON written by the database, each with its customer and items, one statement.

One SELECT serves both reads: the orders list pages it (app/lists), the order detail adds
`orders.id = :order_id`. The customer is joined; the items (with their product's sku and
name) are a correlated subquery. Each order's JSON text is built in the statement itself
(app/infra/sql_json.py) from `OrderRead`'s own fields, in its field order, byte for byte
what its serializer writes (tests hold list, detail and the ORM's answer to the same
bytes): no row becomes a Python object, and a page of any size is one statement, with no
IN list expanded at execution (which a statement sent straight to asyncpg cannot do;
app/infra/db_reads.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import Select, Table, bindparam, select

from app.customers.schemas import CustomerBrief
from app.errors import NotFound
from app.infra.db_reads import Reader
from app.infra.sql_json import ITEM_JSON, Json, json_array, json_object, json_two_places
from app.lists.cursors import CursorCodec
from app.lists.grammar import ListQuery, ListSpec
from app.lists.pages import Page, fetch_rows_page
from app.models import Customer, Order, OrderItem, Product
from app.orders.schemas import OrderItemRead, OrderRead

_orders: Table = Order.__table__  # type: ignore[assignment]
_customers: Table = Customer.__table__  # type: ignore[assignment]
_items: Table = OrderItem.__table__  # type: ignore[assignment]
_products: Table = Product.__table__  # type: ignore[assignment]


def _required(piece: Json | None, schema: str) -> Json:
    if piece is None:  # a field the database cannot write: caught at import, by every test
        raise TypeError(f"{schema} has a field app/infra/sql_json.py cannot write")
    return piece


# An order's line, joined to its product; `line_total` is the schema's computed field.
_LINE = _required(
    json_object(
        OrderItemRead,
        {
            **{name: _items.c[name] for name in ("id", "product_id", "quantity", "unit_price")},
            "sku": _products.c.sku,
            "name": _products.c.name,
            "line_total": Json(json_two_places(_items.c.unit_price * _items.c.quantity)),
        },
    ),
    "OrderItemRead",
)
# The order's lines in the relationship's order (id).
_lines = (
    select(_LINE.sql.label("line"), _items.c.id.label("line_id"))
    .select_from(_items.join(_products, _products.c.id == _items.c.product_id))
    .where(_items.c.order_id == _orders.c.id)
    .correlate(_orders)
    .order_by(_items.c.id)
    .subquery("lines")
)
_ITEMS = select(json_array(Json(_lines.c.line), _lines.c.line_id)).scalar_subquery()
_CUSTOMER = _required(
    json_object(CustomerBrief, {name: _customers.c[name] for name in CustomerBrief.model_fields}),
    "CustomerBrief",
)
ORDER_JSON = _required(
    json_object(
        OrderRead,
        {
            **{name: _orders.c[name] for name in OrderRead.model_fields if name in _orders.c},
            "customer": _CUSTOMER,
            "items": Json(_ITEMS.correlate(_orders)),
        },
    ),
    "OrderRead",
)
_FROM = _orders.join(_customers, _customers.c.id == _orders.c.customer_id)
ONE_ORDER = (
    select(_orders.c.version, ORDER_JSON.sql.label(ITEM_JSON))
    .select_from(_FROM)
    .where(_orders.c.id == bindparam("order_id"))
)


@lru_cache(maxsize=16)
def orders_select(spec: ListSpec, sort: str) -> Select[Any]:
    """The keyset columns of this sort (`id`, the sort field), then each order's JSON."""
    keys = [spec.column(name) for name in dict.fromkeys(("id", sort))]
    return select(*keys, ORDER_JSON.sql.label(ITEM_JSON)).select_from(_FROM)


async def fetch_orders_page(
    reader: Reader, spec: ListSpec, query: ListQuery, codec: CursorCodec
) -> Page:
    """A page of orders, each row ending with the order's JSON: one statement (two with a
    total)."""
    return await fetch_rows_page(reader, spec, query, codec, orders_select(spec, query.sort))


@dataclass(frozen=True)
class OrderJson:
    """One order as its JSON text, and its version (the ETag)."""

    version: int
    json: str


async def fetch_order(reader: Reader, order_id: int) -> OrderJson:
    """One order as `OrderRead` writes it, in one statement; NotFound if none."""
    rows = await reader.rows(ONE_ORDER, {"order_id": order_id}, order=())
    if not rows:
        raise NotFound("No such order.")
    version, text = rows[0]
    return OrderJson(version=version, json=text)
