"""Order state changes (SPEC §7): place, pay, ship, cancel, with the stock they move."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app import audit
from app.auth.principal import Principal
from app.models import Order, OrderStatus
from app.models.base import utcnow
from app.orders import repository, stock
from app.orders.commands import Action
from app.orders.writes import (
    HOLDS_STOCK,
    TARGET,
    TRANSITIONS,
    InvalidTransition,
    flush,
    load_for_write,
    snapshot,
)
from app.webhooks.outbox import emit


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
    order = await load_for_write(session, principal, order_id, f"orders:{action}", expected_version)
    _check_transition(order, action)
    before = snapshot(order)
    stock_changes: dict[str, list[int]] = {}
    if action == "place":
        stock_changes = await stock.reserve_stock(session, order)
        order.placed_at = utcnow()
    elif action == "cancel" and OrderStatus(order.status) in HOLDS_STOCK:
        stock_changes = await stock.release_stock(session, order)
    order.status = TARGET[action].value
    await flush(session)
    changes = audit.diff(before, snapshot(order))
    if stock_changes:
        changes["stock"] = [
            {sku: old for sku, (old, _) in stock_changes.items()},
            {sku: new for sku, (_, new) in stock_changes.items()},
        ]
    done = f"order.{TARGET[action].value}"
    entry = audit.entry(
        principal, done, resource_type="order", resource_id=order.id, changes=changes
    )
    await emit(session, done, _event_payload(order), audit=entry)
    return order


async def lock_for_bulk_action(session: AsyncSession, order_ids: Sequence[int]) -> None:
    """Lock several orders and all their products up front, for one transaction that acts
    on each in turn: order by order, one order's products would be locked after another's,
    out of the global id order (app/orders/repository.py)."""
    await repository.lock_orders_with_products(session, order_ids)
