"""Stock that orders take and give back: all of an order's items or none, under row locks."""

from __future__ import annotations

from collections import Counter

from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import Conflict
from app.models import Order
from app.orders import repository
from app.products.service import notice_stock_change


class InsufficientStock(Conflict):
    """Some products lack the stock an order needs; none was reserved."""


def _quantities(order: Order) -> Counter[int]:
    needed: Counter[int] = Counter()
    for item in order.items:
        needed[item.product_id] += item.quantity
    return needed


async def reserve_stock(session: AsyncSession, order: Order) -> dict[str, list[int]]:
    """Take every item's stock, or none: the answer names each product short."""
    needed = _quantities(order)
    products = await repository.lock_products(session, needed)
    short = [
        {
            "product_id": pid,
            "sku": products[pid].sku,
            "requested": qty,
            "available": products[pid].stock,
        }
        for pid, qty in sorted(needed.items())
        if products[pid].stock < qty
    ]
    if short:
        names = ", ".join(
            f"{s['sku']} (need {s['requested']}, have {s['available']})" for s in short
        )
        raise InsufficientStock(f"Insufficient stock: {names}.", products_short=short)
    stock_changes: dict[str, list[int]] = {}
    for pid, qty in sorted(needed.items()):
        product = products[pid]
        old_stock = product.stock
        if not await repository.take_stock(session, product, qty):
            # Only if a writer slipped past the lock (SQLite).
            raise InsufficientStock(
                f"Insufficient stock: {product.sku}.",
                products_short=[{"product_id": pid, "sku": product.sku}],
            )
        stock_changes[product.sku] = [old_stock, product.stock]
        await notice_stock_change(session, product, old_stock)
    return stock_changes


async def release_stock(session: AsyncSession, order: Order) -> dict[str, list[int]]:
    """Give back every item's stock (a cancel of an order that holds it)."""
    needed = _quantities(order)
    products = await repository.lock_products(session, needed)
    stock_changes: dict[str, list[int]] = {}
    for pid, qty in sorted(needed.items()):
        product = products[pid]
        old_stock = product.stock
        await repository.return_stock(session, product, qty)
        stock_changes[product.sku] = [old_stock, product.stock]
    return stock_changes
