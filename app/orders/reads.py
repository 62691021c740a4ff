"""Orders as Core rows, each with its customer and items in the same statement.

One SELECT serves both reads: the orders list pages it (app/lists), the order detail adds
`orders.id = :order_id`. The customer is joined; the items (with their product's sku and
name) come as one JSON text column per order, built by a correlated subquery, so a page
of any size is one statement and no IN list has to be expanded at execution (which a
statement sent straight to asyncpg cannot do; app/infra/db_reads.py). The rows are
shaped into the dicts `OrderRead` validates: the schema stays the one definition of the
JSON (tests hold list, detail and the ORM's answer to the same bytes).
"""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import Table, Text, bindparam, cast, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from app.customers.schemas import CustomerBrief
from app.errors import NotFound
from app.infra.db_reads import Reader, Row
from app.lists.cursors import CursorCodec
from app.lists.grammar import ListQuery, ListSpec
from app.lists.pages import Page, fetch_rows_page
from app.models import Customer, Order, OrderItem, Product
from app.orders.schemas import OrderRead

_orders: Table = Order.__table__  # type: ignore[assignment]
_customers: Table = Customer.__table__  # type: ignore[assignment]
_items: Table = OrderItem.__table__  # type: ignore[assignment]
_products: Table = Product.__table__  # type: ignore[assignment]


# Lower case: a SQL function, named like one.
class json_rows(FunctionElement[str]):
    """Aggregate: a JSON array holding, per row, a JSON array of the given values, in the
    order of the first (PostgreSQL says so; SQLite keeps its ordered input's order)."""

    name = "json_rows"
    type = Text()
    inherit_cache = True


@compiles(json_rows)
def _json_rows(element: json_rows, compiler: SQLCompiler, **kw: Any) -> str:
    return f"json_group_array(json_array({compiler.process(element.clauses, **kw)}))"


@compiles(json_rows, "postgresql")
def _json_rows_postgresql(element: json_rows, compiler: SQLCompiler, **kw: Any) -> str:
    first = compiler.process(next(iter(element.clauses)), **kw)
    values = compiler.process(element.clauses, **kw)
    # json, not text: asyncpg would decode it with the dialect's codec on one path only.
    return f"CAST(json_agg(json_build_array({values}) ORDER BY {first}) AS TEXT)"


# The schema's own fields: the order's columns, then its customer's (nested in the JSON).
ORDER_FIELDS = tuple(name for name in OrderRead.model_fields if name in _orders.c)
CUSTOMER_FIELDS = tuple(CustomerBrief.model_fields)
# An order's lines in the relationship's order (id). The price travels as text, the
# database's exact decimal, never as a JSON number a parser would make a float.
_lines = (
    select(
        _items.c.id,
        _items.c.product_id,
        _items.c.quantity,
        cast(_items.c.unit_price, Text).label("unit_price"),
        _products.c.sku,
        _products.c.name,
    )
    .select_from(_items.join(_products, _products.c.id == _items.c.product_id))
    .where(_items.c.order_id == _orders.c.id)
    .correlate(_orders)
    .order_by(_items.c.id)
    .subquery("lines")
)
_ITEMS_JSON = select(json_rows(*_lines.c)).scalar_subquery().correlate(_orders)
# Customer columns are labelled so they cannot be taken for the order's (`id`).
ORDERS = select(
    *(_orders.c[name] for name in ORDER_FIELDS),
    *(_customers.c[name].label(f"customer__{name}") for name in CUSTOMER_FIELDS),
    _ITEMS_JSON.label("items_json"),
).select_from(_orders.join(_customers, _customers.c.id == _orders.c.customer_id))
ONE_ORDER = ORDERS.where(_orders.c.id == bindparam("order_id"))
_WIDTH = len(ORDER_FIELDS)
_CUSTOMER_END = _WIDTH + len(CUSTOMER_FIELDS)


def order_dict(row: Row) -> dict[str, Any]:
    """One row of ORDERS as the dict `OrderRead` validates."""
    order: dict[str, Any] = dict(zip(ORDER_FIELDS, row[:_WIDTH], strict=True))
    order["customer"] = dict(zip(CUSTOMER_FIELDS, row[_WIDTH:_CUSTOMER_END], strict=True))
    lines = row[_CUSTOMER_END]
    order["items"] = [
        {
            "id": item_id,
            "product_id": product_id,
            "quantity": quantity,
            "unit_price": price,
            "product": {"sku": sku, "name": name},
        }
        for item_id, product_id, quantity, price, sku, name in (
            orjson.loads(lines) if lines else ()
        )
    ]
    return order


async def fetch_orders_page(
    reader: Reader, spec: ListSpec, query: ListQuery, codec: CursorCodec
) -> Page:
    """A page of orders as dicts shaped for `OrderRead`: one statement (two with a total)."""
    page = await fetch_rows_page(reader, spec, query, codec, ORDERS)
    return Page(
        items=[order_dict(row) for row in page.items],
        next_cursor=page.next_cursor,
        total=page.total,
    )


async def fetch_order(reader: Reader, order_id: int) -> dict[str, Any]:
    """One order as a dict shaped for `OrderRead`, in one statement; NotFound if none."""
    rows = await reader.rows(ONE_ORDER, {"order_id": order_id})
    if not rows:
        raise NotFound("No such order.")
    return order_dict(rows[0])
