"""Order rules (SPEC §7): the state machine, stock reserved and returned, items, totals.

One function per write, each taking its command (app/orders/commands.py: every field
already checked by the domain's rules; a state change is its `Action`), the principal
and, for an order that exists, its id and the version the caller expects (None: the
caller names none, as an API request without If-Match). Each loads the order once,
locked (app/orders/repository.py), checks the permission with the row and the version,
applies the rule, and writes the audit row and the outbox event; the order it returns is
that same object, ready to be shown without a second read.
"""

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
from app.commands import Writes, authorize
from app.errors import Conflict, NotFound, ValidationFailed
from app.lists.grammar import ListSpec
from app.models import Customer, Order, OrderItem, OrderStatus, Product
from app.models.base import utcnow
from app.orders import repository
from app.orders.commands import MAX_QUANTITY, AddItem, CreateOrder, UpdateItem, UpdateOrder
from app.orders.repository import Lock
from app.orders.transitions import lock_for_bulk_action as lock_for_bulk_action
from app.orders.transitions import transition as transition
from app.orders.writes import (
    DELETABLE,
    InvalidTransition,
    OrderNotDraft,
    flush,
    load_for_write,
    snapshot,
)

LIST_SPEC = ListSpec(
    model=Order,
    sortable=("id", "number", "total", "created_at", "updated_at"),
    default_sort="-id",
    searchable=("number", "notes"),
    exact=("status", "customer_id", "number", "created_by_id"),
    ranges=("id", "total", "created_at", "updated_at", "placed_at"),
)


async def get_order(session: AsyncSession, order_id: int) -> Order:
    """One order with its customer and items, to read (no lock)."""
    order = await repository.load_order(session, order_id, lock=Lock.NONE)
    if order is None:
        raise NotFound("No such order.")
    return order


def _recompute_total(order: Order) -> None:
    order.total = sum((item.unit_price * item.quantity for item in order.items), Decimal("0.00"))


def _require_draft(order: Order) -> None:
    if order.status != OrderStatus.DRAFT:
        raise OrderNotDraft(
            f"Order {order.number} is {order.status}; only draft orders have editable items.",
            status=order.status,
        )


async def _active_customer(session: AsyncSession, customer_id: int) -> Customer:
    customer = await session.get(Customer, customer_id)
    if customer is None:
        raise _invalid([(["customer_id"], "no such customer", "not_found")])
    if not customer.is_active:
        raise Conflict("The customer is inactive; reactivate it to order.", field="customer_id")
    return customer


async def _orderable_products(
    session: AsyncSession, product_ids: Sequence[int], locs: Sequence[list[str | int]]
) -> dict[int, Product]:
    """The products, each existing and active; `locs[i]` is where `product_ids[i]` was given.

    Locked FOR KEY SHARE in id order: the items' foreign keys would take that lock anyway,
    one product at a time in the caller's order, and waiting for one product while holding
    another is how a deadlock starts (see app/orders/repository.py).
    """
    products = await repository.reference_products(session, product_ids)
    missing = [
        (loc, f"no such product {pid}", "not_found")
        for pid, loc in zip(product_ids, locs, strict=True)
        if pid not in products
    ]
    if missing:
        raise _invalid(missing)
    inactive = [p.sku for p in products.values() if not p.is_active]
    if inactive:
        raise Conflict(f"Inactive product(s) cannot be ordered: {', '.join(inactive)}.")
    return products


def _invalid(errors: Sequence[tuple[list[str | int], str, str]]) -> ValidationFailed:
    """A 422 found by looking at rows, shaped as a command's (app/commands.py `build`):
    each field's path under `body`, and a detail naming each, which the admin shows."""
    return ValidationFailed(
        "; ".join(f"{'.'.join(map(str, loc))}: {message}" for loc, message, _ in errors),
        errors=[
            {"loc": ["body", *loc], "message": message, "type": kind}
            for loc, message, kind in errors
        ],
    )


def _line_too_big(loc: list[str | int], quantity: int) -> ValidationFailed:
    message = f"the product's line would hold {quantity}; a line holds at most {MAX_QUANTITY}"
    return _invalid([(loc, message, "range")])


def _item_changes(
    sku: str, old: int | None, new: int | None, order: Order, old_total: Decimal
) -> dict[str, list[Any]]:
    """An item edit's audit changes: the line's quantity (None: no line) and the total."""
    return {f"items.{sku}.quantity": [old, new], "total": [old_total, order.total]}


# --- the writes ---------------------------------------------------------------------------


async def create_order(session: AsyncSession, principal: Principal, command: CreateOrder) -> Order:
    """A draft order, optionally with items (prices copied from the products; lines for
    the same product merged)."""
    authorize(principal, "orders:create")
    customer = await _active_customer(session, command.customer_id)
    merged: Counter[int] = Counter()
    for index, item in enumerate(command.items):
        merged[item.product_id] += item.quantity
        if merged[item.product_id] > MAX_QUANTITY:
            raise _line_too_big(["items", index, "quantity"], merged[item.product_id])
    products = await _orderable_products(
        session,
        [item.product_id for item in command.items],
        [["items", index, "product_id"] for index in range(len(command.items))],
    )
    order = Order(
        # A placeholder: the number derives from the id, so it is unique without a
        # second counter to race on.
        number=f"SO-{uuid.uuid4().hex[:12]}",
        customer=customer,
        notes=command.notes,
        status=OrderStatus.DRAFT.value,
        created_by_id=principal.user_id,
    )
    order.items = [
        OrderItem(product=products[pid], quantity=qty, unit_price=products[pid].price)
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
    changes = audit.diff(None, snapshot(order))
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
    return order


async def update_order(
    session: AsyncSession,
    principal: Principal,
    order_id: int,
    command: UpdateOrder,
    *,
    expected_version: int | None,
) -> Order:
    """Edit notes (any time) or the customer (drafts only)."""
    order = await load_for_write(session, principal, order_id, "orders:update", expected_version)
    values = command.changes()
    customer = None
    if values.get("customer_id", order.customer_id) != order.customer_id:
        _require_draft(order)
        customer = await _active_customer(session, values["customer_id"])
    changes = audit.apply_changes(order, values)
    if customer is not None:
        order.customer = customer  # the answer shows the new customer, not the old
    if changes:
        await flush(session)
        audit.record(
            session,
            principal,
            "order.updated",
            resource_type="order",
            resource_id=order.id,
            changes=changes,
        )
    return order


async def delete_order(
    session: AsyncSession, principal: Principal, order_id: int, *, expected_version: int | None
) -> None:
    """Delete a draft or cancelled order (others hold or held stock: cancel them instead)."""
    order = await load_for_write(
        session, principal, order_id, "orders:delete", expected_version, Lock.DELETE
    )
    if order.status not in DELETABLE:
        raise InvalidTransition(
            f"Order {order.number} is {order.status}; only draft or cancelled orders can be "
            "deleted.",
            status=order.status,
        )
    before = snapshot(order)
    await session.delete(order)
    await flush(session)
    audit.record(
        session,
        principal,
        "order.deleted",
        resource_type="order",
        resource_id=order.id,
        changes=audit.diff(before, None),
    )


async def add_item(
    session: AsyncSession,
    principal: Principal,
    order_id: int,
    command: AddItem,
    *,
    expected_version: int | None,
) -> Order:
    """Add a product to a draft (merging with its existing line); the total follows."""
    order = await load_for_write(session, principal, order_id, "orders:update", expected_version)
    _require_draft(order)
    products = await _orderable_products(session, [command.product_id], [["product_id"]])
    product = products[command.product_id]
    line = next((item for item in order.items if item.product_id == product.id), None)
    old_quantity = line.quantity if line is not None else None
    new_quantity = (old_quantity or 0) + command.quantity
    if new_quantity > MAX_QUANTITY:
        raise _line_too_big(["quantity"], new_quantity)
    old_total = order.total
    if line is None:
        order.items.append(
            OrderItem(product=product, quantity=new_quantity, unit_price=product.price)
        )
    else:
        line.quantity = new_quantity
    _recompute_total(order)
    order.updated_at = utcnow()  # bumps the order's version: its ETag covers its items
    await flush(session)
    audit.record(
        session,
        principal,
        "order.item_added",
        resource_type="order",
        resource_id=order.id,
        changes=_item_changes(product.sku, old_quantity, new_quantity, order, old_total),
    )
    return order


def _line(order: Order, item_id: int) -> OrderItem:
    line = next((item for item in order.items if item.id == item_id), None)
    if line is None:
        raise NotFound("No such item on this order.")
    return line


async def update_item(
    session: AsyncSession,
    principal: Principal,
    order_id: int,
    item_id: int,
    command: UpdateItem,
    *,
    expected_version: int | None,
) -> Order:
    """Change a draft line's quantity."""
    order = await load_for_write(session, principal, order_id, "orders:update", expected_version)
    _require_draft(order)
    line = _line(order, item_id)
    old_quantity, old_total = line.quantity, order.total
    line.quantity = command.quantity
    _recompute_total(order)
    order.updated_at = utcnow()
    await flush(session)
    audit.record(
        session,
        principal,
        "order.item_updated",
        resource_type="order",
        resource_id=order.id,
        changes=_item_changes(line.product.sku, old_quantity, line.quantity, order, old_total),
    )
    return order


async def remove_item(
    session: AsyncSession,
    principal: Principal,
    order_id: int,
    item_id: int,
    *,
    expected_version: int | None,
) -> Order:
    """Remove a draft line."""
    order = await load_for_write(session, principal, order_id, "orders:update", expected_version)
    _require_draft(order)
    line = _line(order, item_id)
    old_total = order.total
    order.items.remove(line)
    _recompute_total(order)
    order.updated_at = utcnow()
    await flush(session)
    audit.record(
        session,
        principal,
        "order.item_removed",
        resource_type="order",
        resource_id=order.id,
        changes=_item_changes(line.product.sku, line.quantity, None, order, old_total),
    )
    return order


# What the admin's order forms translate into (app/admin/views/domain.py CommandView).
WRITES = Writes(CreateOrder, UpdateOrder, create_order, update_order, delete_order)
