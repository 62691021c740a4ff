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
from app.commands import Writes, authorize, check_version, flush_versioned
from app.errors import Conflict, NotFound, ValidationFailed
from app.lists.grammar import ListSpec
from app.models import Customer, Order, OrderItem, OrderStatus, Product
from app.models.base import utcnow
from app.orders import repository, stock
from app.orders.commands import MAX_QUANTITY, Action, AddItem, CreateOrder, UpdateItem, UpdateOrder
from app.orders.repository import Lock
from app.webhooks.outbox import emit

# Orders have no unique field a caller chooses (the number derives from the id).
UNIQUE: dict[str, str] = {}

LIST_SPEC = ListSpec(
    model=Order,
    sortable=("id", "number", "total", "created_at", "updated_at"),
    default_sort="-id",
    searchable=("number", "notes"),
    exact=("status", "customer_id", "number", "created_by_id"),
    ranges=("id", "total", "created_at", "updated_at", "placed_at"),
)

# Which states each action may start from.
TRANSITIONS: dict[Action, tuple[OrderStatus, ...]] = {
    "place": (OrderStatus.DRAFT,),
    "pay": (OrderStatus.PLACED,),
    "ship": (OrderStatus.PAID,),
    "cancel": (OrderStatus.DRAFT, OrderStatus.PLACED, OrderStatus.PAID),
}
TARGET: dict[Action, OrderStatus] = {
    "place": OrderStatus.PLACED,
    "pay": OrderStatus.PAID,
    "ship": OrderStatus.SHIPPED,
    "cancel": OrderStatus.CANCELLED,
}
# Orders in these states hold stock taken from the products.
HOLDS_STOCK = (OrderStatus.PLACED, OrderStatus.PAID, OrderStatus.SHIPPED)
# Orders in these states may be deleted; the others hold or held stock: cancel them.
DELETABLE = (OrderStatus.DRAFT, OrderStatus.CANCELLED)


class InvalidTransition(Conflict):
    """The action is not allowed from the order's current status."""


class OrderNotDraft(Conflict):
    """Items can change only while the order is a draft."""


async def get_order(session: AsyncSession, order_id: int) -> Order:
    """One order with its customer and items, to read (no lock)."""
    order = await repository.load_order(session, order_id, lock=Lock.NONE)
    if order is None:
        raise NotFound("No such order.")
    return order


# --- the checks every write makes ---------------------------------------------------------


async def _load_for_write(
    session: AsyncSession,
    principal: Principal,
    order_id: int,
    permission: str,
    expected_version: int | None,
    lock: Lock = Lock.WRITE,
) -> Order:
    """The one locked load of a write: the order (customer, items, products), then the
    caller's permission on it and the version they expect (412 when it is not the row's)."""
    order = await repository.load_order(session, order_id, lock=lock)
    if order is None:
        raise NotFound("No such order.")
    authorize(principal, permission, order)
    check_version(order, expected_version)
    return order


async def _flush(session: AsyncSession) -> None:
    # The version checked under the lock cannot move before this write on PostgreSQL; if
    # it did (a load that could not lock), the ORM's version check makes it a 412.
    await flush_versioned(session, UNIQUE)


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
    order = await _load_for_write(session, principal, order_id, "orders:update", expected_version)
    values = command.changes()
    customer = None
    if values.get("customer_id", order.customer_id) != order.customer_id:
        _require_draft(order)
        customer = await _active_customer(session, values["customer_id"])
    changes = audit.apply_changes(order, values)
    if customer is not None:
        order.customer = customer  # the answer shows the new customer, not the old
    if changes:
        await _flush(session)
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
    order = await _load_for_write(
        session, principal, order_id, "orders:delete", expected_version, Lock.DELETE
    )
    if order.status not in DELETABLE:
        raise InvalidTransition(
            f"Order {order.number} is {order.status}; only draft or cancelled orders can be "
            "deleted.",
            status=order.status,
        )
    before = _snapshot(order)
    await session.delete(order)
    await _flush(session)
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
    order = await _load_for_write(session, principal, order_id, "orders:update", expected_version)
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
    await _flush(session)
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
    order = await _load_for_write(session, principal, order_id, "orders:update", expected_version)
    _require_draft(order)
    line = _line(order, item_id)
    old_quantity, old_total = line.quantity, order.total
    line.quantity = command.quantity
    _recompute_total(order)
    order.updated_at = utcnow()
    await _flush(session)
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
    order = await _load_for_write(session, principal, order_id, "orders:update", expected_version)
    _require_draft(order)
    line = _line(order, item_id)
    old_total = order.total
    order.items.remove(line)
    _recompute_total(order)
    order.updated_at = utcnow()
    await _flush(session)
    audit.record(
        session,
        principal,
        "order.item_removed",
        resource_type="order",
        resource_id=order.id,
        changes=_item_changes(line.product.sku, line.quantity, None, order, old_total),
    )
    return order


def _check_transition(order: Order, action: Action) -> None:
    if OrderStatus(order.status) not in TRANSITIONS[action]:
        allowed = ", ".join(s.value for s in TRANSITIONS[action])
        raise InvalidTransition(
            f"Cannot {action} order {order.number}: it is {order.status} "
            f"(only {allowed} orders can be {TARGET[action].value}).",
            status=order.status,
            action=action,
        )
    if action == "place" and not order.items:
        raise InvalidTransition(f"Order {order.number} has no items to place.", action=action)


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
    session: AsyncSession,
    principal: Principal,
    order_id: int,
    action: Action,
    *,
    expected_version: int | None,
) -> Order:
    """place / pay / ship / cancel one order; stock moves with it; audited and announced.

    One locked load of the order (with customer, items and products), then its products
    locked to move their stock, then the writes: nothing is read twice.
    """
    order = await _load_for_write(
        session, principal, order_id, f"orders:{action}", expected_version
    )
    _check_transition(order, action)
    before = _snapshot(order)
    stock_changes: dict[str, list[int]] = {}
    if action == "place":
        stock_changes = await stock.reserve_stock(session, order)
        order.placed_at = utcnow()
    elif action == "cancel" and OrderStatus(order.status) in HOLDS_STOCK:
        stock_changes = await stock.release_stock(session, order)
    order.status = TARGET[action].value
    await _flush(session)
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


# What the admin's order forms translate into (app/admin/views/domain.py CommandView).
WRITES = Writes(CreateOrder, UpdateOrder, create_order, update_order, delete_order)
