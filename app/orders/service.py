"""Order rules (SPEC §7): the state machine, stock reserved and returned, items, totals."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from app import audit
from app.auth.principal import Principal
from app.errors import Conflict, NotFound, ValidationFailed
from app.lists.grammar import ListSpec
from app.models import Customer, Order, OrderItem, OrderStatus, Product
from app.models.base import utcnow
from app.orders import repository, stock
from app.webhooks.outbox import emit

LIST_SPEC = ListSpec(
    model=Order,
    sortable=("id", "number", "total", "created_at", "updated_at"),
    default_sort="-id",
    searchable=("number", "notes"),
    exact=("status", "customer_id", "number", "created_by_id"),
    ranges=("id", "total", "created_at", "updated_at", "placed_at"),
)

# Which states each action may start from.
TRANSITIONS: dict[str, tuple[OrderStatus, ...]] = {
    "place": (OrderStatus.DRAFT,),
    "pay": (OrderStatus.PLACED,),
    "ship": (OrderStatus.PAID,),
    "cancel": (OrderStatus.DRAFT, OrderStatus.PLACED, OrderStatus.PAID),
}
TARGET = {
    "place": OrderStatus.PLACED,
    "pay": OrderStatus.PAID,
    "ship": OrderStatus.SHIPPED,
    "cancel": OrderStatus.CANCELLED,
}
# Orders in these states hold stock taken from the products.
HOLDS_STOCK = (OrderStatus.PLACED, OrderStatus.PAID, OrderStatus.SHIPPED)
MAX_QUANTITY = 1_000_000


class InvalidTransition(Conflict):
    """The action is not allowed from the order's current status."""


class OrderNotDraft(Conflict):
    """Items can change only while the order is a draft."""


async def get_order(session: AsyncSession, order_id: int, *, lock: bool = False) -> Order:
    order = await repository.get_order(session, order_id, lock=lock)
    if order is None:
        raise NotFound("No such order.")
    return order


def _snapshot(order: Order) -> dict[str, Any]:
    return audit.snapshot(order, ["number", "customer_id", "status", "notes", "total", "placed_at"])


def _recompute_total(order: Order) -> None:
    order.total = sum((item.unit_price * item.quantity for item in order.items), Decimal("0.00"))


def _require_draft(order: Order) -> None:
    if order.status != OrderStatus.DRAFT:
        raise OrderNotDraft(
            f"Order {order.number} is {order.status}; only draft orders have editable items.",
            status=order.status,
        )


def _check_quantity(quantity: int, loc: list[Any]) -> None:
    if not 0 < quantity <= MAX_QUANTITY:
        raise ValidationFailed(
            "Quantity must be a positive whole number.",
            errors=[{"loc": loc, "message": f"must be 1 to {MAX_QUANTITY}", "type": "range"}],
        )


async def _active_customer(session: AsyncSession, customer_id: int) -> Customer:
    customer = await session.get(Customer, customer_id)
    if customer is None:
        raise ValidationFailed(
            "No such customer.",
            errors=[
                {"loc": ["body", "customer_id"], "message": "no such customer", "type": "not_found"}
            ],
        )
    if not customer.is_active:
        raise Conflict("The customer is inactive; reactivate it to order.", field="customer_id")
    return customer


async def _orderable_products(
    session: AsyncSession, product_ids: Sequence[int], locs: Sequence[list[Any]]
) -> dict[int, Product]:
    """The products, each existing and active; `locs[i]` is where `product_ids[i]` was sent.

    Locked FOR KEY SHARE in id order: the items' foreign keys would take that lock anyway,
    one product at a time in the caller's order, and waiting for one product while holding
    another is how a deadlock starts (see app/orders/repository.py).
    """
    products = await repository.reference_products(session, product_ids)
    missing = [pid for pid in sorted(set(product_ids)) if pid not in products]
    if missing:
        raise ValidationFailed(
            f"No such product(s): {', '.join(map(str, missing))}.",
            errors=[
                {"loc": loc, "message": f"no such product {pid}", "type": "not_found"}
                for pid, loc in zip(product_ids, locs, strict=True)
                if pid not in products
            ],
        )
    inactive = [p.sku for p in products.values() if not p.is_active]
    if inactive:
        raise Conflict(f"Inactive product(s) cannot be ordered: {', '.join(inactive)}.")
    return products


async def create_order(
    session: AsyncSession,
    principal: Principal,
    *,
    customer_id: int,
    notes: str = "",
    items: Sequence[tuple[int, int]] = (),
) -> Order:
    """A draft order, optionally with items (prices copied from the products)."""
    await _active_customer(session, customer_id)
    for index, (_, quantity) in enumerate(items):
        _check_quantity(quantity, ["body", "items", index, "quantity"])
    products = await _orderable_products(
        session,
        [pid for pid, _ in items],
        [["body", "items", index, "product_id"] for index in range(len(items))],
    )
    # The number derives from the id, so it is unique without a second counter to race on.
    order = Order(
        number=f"SO-{uuid.uuid4().hex[:12]}",
        customer_id=customer_id,
        notes=notes,
        status=OrderStatus.DRAFT.value,
        created_by_id=principal.user_id,
    )
    merged: Counter[int] = Counter()
    for product_id, quantity in items:
        merged[product_id] += quantity
    order.items = [
        OrderItem(product_id=pid, quantity=qty, unit_price=products[pid].price)
        for pid, qty in merged.items()
    ]
    _recompute_total(order)
    session.add(order)
    await session.flush()
    # The id is known only now. The number goes straight to the row and is marked as
    # loaded: an ORM change here would be a second version, and every new order would
    # start at version 2 (its ETag and the admin's edit form would say so).
    number = f"SO-{order.id:06d}"
    await session.execute(
        update(Order)
        .where(Order.id == order.id)
        .values(number=number, updated_at=order.updated_at)
        .execution_options(synchronize_session=False)
    )
    set_committed_value(order, "number", number)
    changes = audit.diff(None, _snapshot(order))
    changes["items"] = [
        None,
        [
            {"product_id": i.product_id, "quantity": i.quantity, "unit_price": i.unit_price}
            for i in order.items
        ],
    ]
    audit.record(
        session,
        principal,
        "order.created",
        resource_type="order",
        resource_id=order.id,
        changes=changes,
    )
    return await get_order(session, order.id)


async def update_order(
    session: AsyncSession, principal: Principal, order: Order, values: dict[str, Any]
) -> Order:
    """Edit notes (any time) or the customer (drafts only)."""
    if "customer_id" in values and values["customer_id"] != order.customer_id:
        _require_draft(order)
        await _active_customer(session, values["customer_id"])
    changes = audit.apply_changes(order, values)
    if changes:
        await session.flush()
        audit.record(
            session,
            principal,
            "order.updated",
            resource_type="order",
            resource_id=order.id,
            changes=changes,
        )
    return await get_order(session, order.id)


async def add_item(
    session: AsyncSession, principal: Principal, order: Order, product_id: int, quantity: int
) -> Order:
    """Add a product to a draft (merging with its existing line); the total follows."""
    _require_draft(order)
    _check_quantity(quantity, ["body", "quantity"])
    product = (await _orderable_products(session, [product_id], [["body", "product_id"]]))[
        product_id
    ]
    line = next((item for item in order.items if item.product_id == product_id), None)
    old_total = order.total
    if line is None:
        line = OrderItem(product_id=product_id, quantity=quantity, unit_price=product.price)
        order.items.append(line)
        old_quantity = 0
    else:
        old_quantity = line.quantity
        line.quantity += quantity
        _check_quantity(line.quantity, ["body", "quantity"])
    _recompute_total(order)
    order.updated_at = utcnow()  # bumps the order's version: its ETag covers its items
    await session.flush()
    audit.record(
        session,
        principal,
        "order.item_added",
        resource_type="order",
        resource_id=order.id,
        changes={
            f"items.{product.sku}.quantity": [old_quantity or None, line.quantity],
            "total": [old_total, order.total],
        },
    )
    return await get_order(session, order.id)


def _line(order: Order, item_id: int) -> OrderItem:
    line = next((item for item in order.items if item.id == item_id), None)
    if line is None:
        raise NotFound("No such item on this order.")
    return line


async def update_item(
    session: AsyncSession, principal: Principal, order: Order, item_id: int, quantity: int
) -> Order:
    """Change a draft line's quantity."""
    _require_draft(order)
    _check_quantity(quantity, ["body", "quantity"])
    line = _line(order, item_id)
    old_quantity, old_total = line.quantity, order.total
    line.quantity = quantity
    _recompute_total(order)
    order.updated_at = utcnow()
    await session.flush()
    audit.record(
        session,
        principal,
        "order.item_updated",
        resource_type="order",
        resource_id=order.id,
        changes={
            f"items.{line.product_id}.quantity": [old_quantity, quantity],
            "total": [old_total, order.total],
        },
    )
    return await get_order(session, order.id)


async def remove_item(
    session: AsyncSession, principal: Principal, order: Order, item_id: int
) -> Order:
    """Remove a draft line."""
    _require_draft(order)
    line = _line(order, item_id)
    old_total = order.total
    order.items.remove(line)
    _recompute_total(order)
    order.updated_at = utcnow()
    await session.flush()
    audit.record(
        session,
        principal,
        "order.item_removed",
        resource_type="order",
        resource_id=order.id,
        changes={
            f"items.{line.product_id}.quantity": [line.quantity, None],
            "total": [old_total, order.total],
        },
    )
    return await get_order(session, order.id)


def _check_transition(order: Order, action: str) -> None:
    if OrderStatus(order.status) not in TRANSITIONS[action]:
        allowed = ", ".join(s.value for s in TRANSITIONS[action])
        raise InvalidTransition(
            f"Cannot {action} order {order.number}: it is {order.status} "
            f"(only {allowed} orders can be {TARGET[action].value}).",
            status=order.status,
            action=action,
        )


def _event_payload(order: Order) -> dict[str, Any]:
    return {
        "order": {
            "id": order.id,
            "number": order.number,
            "status": order.status,
            "customer_id": order.customer_id,
            "total": order.total,
            "placed_at": order.placed_at,
            "items": [
                {"product_id": i.product_id, "quantity": i.quantity, "unit_price": i.unit_price}
                for i in order.items
            ],
        }
    }


async def transition(
    session: AsyncSession, principal: Principal, order_id: int, action: str
) -> Order:
    """place / pay / ship / cancel one order; stock moves with it; audited and announced."""
    order = await get_order(session, order_id, lock=True)
    _check_transition(order, action)
    if action == "place" and not order.items:
        raise InvalidTransition(f"Order {order.number} has no items to place.", action=action)
    before = _snapshot(order)
    stock_changes: dict[str, list[int]] = {}
    if action == "place":
        stock_changes = await stock.reserve_stock(session, order)
        order.placed_at = utcnow()
    elif action == "cancel" and OrderStatus(order.status) in HOLDS_STOCK:
        stock_changes = await stock.release_stock(session, order)
    order.status = TARGET[action].value
    await session.flush()
    changes = audit.diff(before, _snapshot(order))
    if stock_changes:
        changes["stock"] = [
            {sku: old for sku, (old, _) in stock_changes.items()},
            {sku: new for sku, (_, new) in stock_changes.items()},
        ]
    audit.record(
        session,
        principal,
        f"order.{TARGET[action].value}",
        resource_type="order",
        resource_id=order.id,
        changes=changes,
    )
    await emit(session, f"order.{TARGET[action].value}", _event_payload(order))
    return order


async def lock_for_bulk_action(session: AsyncSession, order_ids: Sequence[int]) -> None:
    """Lock several orders and all their products up front, for one transaction that acts
    on each in turn: order by order, one order's products would be locked after another's,
    out of the global id order (app/orders/repository.py)."""
    await repository.lock_orders_with_products(session, order_ids)


async def delete_order(session: AsyncSession, principal: Principal, order: Order) -> None:
    """Delete a draft or cancelled order (others hold or held stock: cancel them instead)."""
    if order.status not in (OrderStatus.DRAFT, OrderStatus.CANCELLED):
        raise InvalidTransition(
            f"Order {order.number} is {order.status}; only draft or cancelled orders can be "
            "deleted.",
            status=order.status,
        )
    before = _snapshot(order)
    await session.delete(order)
    await session.flush()
    audit.record(
        session,
        principal,
        "order.deleted",
        resource_type="order",
        resource_id=order.id,
        changes=audit.diff(before, None),
    )
