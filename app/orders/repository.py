"""Every query about orders and the stock they reserve, in one place.

The lock-order rule (PostgreSQL; SQLite has one writer at a time and no row locks). Every
write path that row-locks products follows it, so no two transactions can wait on each
other in a circle:

1. Products in ascending id order, whatever the mode: all of a transaction's products in
   one statement (`lock_products`, `reference_products`, the CSV import's lock of the rows
   it updates), never one by one in the caller's or the file's order.
2. An order's row before the products whose stock it moves (placing and cancelling lock
   the order, then its products); paying and shipping lock the order only.
3. The weakest mode that serves:
   - `FOR KEY SHARE` to reference a product (creating an order, adding an item): the lock
     the items' foreign key takes anyway, taken first and in id order so the insert never
     waits while holding another product. It may come before the order's row (an item
     added to a draft): it conflicts only with `FOR UPDATE`, below, whose holders wait
     for no order;
   - `FOR NO KEY UPDATE` (`with_for_update(key_share=True)`) to change stock or an
     order's state: it does not conflict with KEY SHARE, so a draft being created on the
     same products never blocks a placement or a cancel, nor the other way round;
   - `FOR UPDATE` only where PostgreSQL takes it itself: a product's DELETE or SKU change
     (a key), one product per API request (`delete_product` takes it before counting).

A product PATCH updates one row, then, like a placement, only inserts (its audit row; a
low-stock event, whose deliveries KEY SHARE the webhook endpoints, after the products).
The soak's deadlocks "on product updates" were PATCHes queued on a product inside the
draft-versus-placement cycle above, not a cycle of their own.

A transaction acting on several orders (an admin bulk action) calls
`lock_orders_with_products` first: order by order, one order's products would be locked
after another's, out of id order.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Select, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload, selectinload

from app.models import Order, OrderItem, Product


def with_details(statement: Select[Order]) -> Select[Order]:
    """Customer joined, items (with products) in one more query: constant per page."""
    return statement.options(
        joinedload(Order.customer),
        selectinload(Order.items).joinedload(OrderItem.product),
    )


async def get_order(session: AsyncSession, order_id: int, *, lock: bool = False) -> Order | None:
    statement = with_details(select(Order).where(Order.id == order_id))
    if lock:
        # Serializes state changes of one order (PostgreSQL; SQLite serializes writers).
        # NO KEY UPDATE: nothing here changes the order's id, so a foreign key check on it
        # (an item being added) need not wait for it.
        # populate_existing: a row read earlier in this session must not hide what the
        # writer we waited for committed (the lock is worthless on a stale copy).
        statement = statement.with_for_update(of=Order, key_share=True).execution_options(
            populate_existing=True
        )
    return (await session.execute(statement)).unique().scalar_one_or_none()


async def lock_products(session: AsyncSession, product_ids: Iterable[int]) -> dict[int, Product]:
    """The products, locked `FOR NO KEY UPDATE` in id order, to change their stock."""
    return await _products_in_id_order(session, product_ids, read=False)


async def reference_products(
    session: AsyncSession, product_ids: Iterable[int]
) -> dict[int, Product]:
    """The products that exist, locked `FOR KEY SHARE` in id order, to add items for them."""
    return await _products_in_id_order(session, product_ids, read=True)


async def _products_in_id_order(
    session: AsyncSession, product_ids: Iterable[int], *, read: bool
) -> dict[int, Product]:
    ids = sorted(set(product_ids))
    if not ids:
        return {}
    statement = (
        select(Product)
        .where(Product.id.in_(ids))
        # PostgreSQL sorts before it locks, so the rows are locked in this order.
        .order_by(Product.id)
        .with_for_update(read=read, key_share=True)
        .execution_options(populate_existing=True)
    )
    return {product.id: product for product in (await session.execute(statement)).scalars()}


async def lock_orders_with_products(session: AsyncSession, order_ids: Iterable[int]) -> None:
    """Lock the orders, then every product they list, each in id order (for bulk actions)."""
    ids = sorted(set(order_ids))
    if not ids:
        return
    locked_orders = select(Order.id).where(Order.id.in_(ids)).order_by(Order.id)
    await session.execute(locked_orders.with_for_update(key_share=True))
    listed = select(OrderItem.product_id).where(OrderItem.order_id.in_(ids))
    await lock_products(session, (await session.execute(listed)).scalars())


async def take_stock(session: AsyncSession, product_id: int, quantity: int) -> int | None:
    """Atomically subtract `quantity` if that much is there; the new stock, or None if short."""
    statement = (
        update(Product)
        .where(Product.id == product_id, Product.stock >= quantity)
        .values(stock=Product.stock - quantity, version=Product.version + 1)
        .returning(Product.stock)
        .execution_options(synchronize_session=False)
    )
    return (await session.execute(statement)).scalar_one_or_none()


async def return_stock(session: AsyncSession, product_id: int, quantity: int) -> None:
    statement = (
        update(Product)
        .where(Product.id == product_id)
        .values(stock=Product.stock + quantity, version=Product.version + 1)
        .execution_options(synchronize_session=False)
    )
    await session.execute(statement)
