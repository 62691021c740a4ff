"""What every order write shares: the state tables, the one locked load, the versioned
flush and the audit snapshot (used by app/orders/service.py and app/orders/transitions.py)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app import audit
from app.auth.principal import Principal
from app.commands import authorize, check_version, flush_versioned
from app.errors import Conflict, NotFound
from app.models import Order, OrderStatus
from app.orders import repository
from app.orders.commands import Action
from app.orders.repository import Lock

# Orders have no unique field a caller chooses (the number derives from the id).
UNIQUE: dict[str, str] = {}

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


# --- the checks every write makes ---------------------------------------------------------


async def load_for_write(
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


async def flush(session: AsyncSession) -> None:
    # The version checked under the lock cannot move before this write on PostgreSQL; if
    # it did (a load that could not lock), the ORM's version check makes it a 412.
    await flush_versioned(session, UNIQUE)


def snapshot(order: Order) -> dict[str, Any]:
    return audit.snapshot(order, ["number", "customer_id", "status", "notes", "total", "placed_at"])
