"""Every query about orders and the stock they reserve, in one place.

The lock-order rule (PostgreSQL; SQLite has one writer at a time and no row locks). Every
write path that row-locks products follows it, so no two transactions can wait on each
other in a circle:

1. Products in ascending id order, whatever the mode: all of a transaction's products in
   one statement (`lock_products`, `reference_products`, the CSV import's lock of the rows
   it updates), never one by one in the caller's or the file's order.
2. An order's row before the products whose stock it moves or its items reference: every
   write to an existing order starts with `load_order(..., lock=...)`, the one locked
   load (placing and cancelling then lock its products; an item added to a draft then
   references its product); paying and shipping lock the order only.
3. The weakest mode that serves:
   - `FOR KEY SHARE` to reference a product (creating an order, adding an item): the lock
     the items' foreign key takes anyway, taken first and in id order so the insert never
     waits while holding another product. It conflicts only with `FOR UPDATE`, below,
     whose holders wait for no order;
   - `FOR NO KEY UPDATE` (`with_for_update(key_share=True)`) to change stock or an
     order's state, notes or items: it does not conflict with KEY SHARE, so a draft
     being created on the same products never blocks a placement or a cancel, nor the
     other way round;
   - `FOR UPDATE` only where the statement takes it anyway: a product's DELETE or SKU
     change (a key), one product per API request (`delete_product` takes it before
     counting); an order's DELETE (`Lock.DELETE`, taken by the load, so the delete never
     upgrades a lock it holds).

A product PATCH updates one row, then, like a placement, only inserts (its audit row; a
low-stock event, whose deliveries KEY SHARE the webhook endpoints, after the products).
The soak's deadlocks "on product updates" were PATCHes queued on a product inside the
draft-versus-placement cycle above, not a cycle of their own.

A transaction acting on several orders (an admin bulk action) calls
`lock_orders_with_products` first: order by order, one order's products would be locked
after another's, out of id order.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

from sqlalchemy import Select, Update, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload
from sqlalchemy.orm.attributes import set_committed_value

from app.models import Order, OrderItem, Product


class Lock(enum.Enum):
    """How `load_order` locks the order's row (PostgreSQL; SQLite serializes writers)."""

    NONE = "none"  # a read
    WRITE = "write"  # FOR NO KEY UPDATE: its state, notes or items change, not its id
    DELETE = "delete"  # FOR UPDATE: the mode its DELETE takes


def with_details(statement: Select[Order]) -> Select[Order]:
    """Customer, items and their products joined: one statement for one order."""
    return statement.options(
        joinedload(Order.customer, innerjoin=True),
        joinedload(Order.items).joinedload(OrderItem.product, innerjoin=True),
    )


async def load_order(session: AsyncSession, order_id: int, *, lock: Lock) -> Order | None:
    """The order with its customer, items and their products, in one statement; locked
    (the order's row only, `OF orders`) before anything else a write to it locks."""
    statement = with_details(select(Order).where(Order.id == order_id))
    if lock is not Lock.NONE:
        # NO KEY UPDATE for a change that keeps the order's id: a foreign key check on it
        # need not wait. populate_existing: a row read earlier in this session must not
        # hide what the writer we waited for committed (the lock is worthless on a stale
        # copy).
        statement = statement.with_for_update(
            of=Order, key_share=lock is Lock.WRITE
        ).execution_options(populate_existing=True)
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


async def take_stock(session: AsyncSession, product: Product, quantity: int) -> bool:
    """Atomically subtract `quantity` if that much is there; False if short. `product`
    shows the stored row after it, with no second read."""
    statement = (
        update(Product)
        .where(Product.id == product.id, Product.stock >= quantity)
        .values(stock=Product.stock - quantity, version=Product.version + 1)
    )
    return await _moved(session, product, statement)


async def return_stock(session: AsyncSession, product: Product, quantity: int) -> None:
    statement = (
        update(Product)
        .where(Product.id == product.id)
        .values(stock=Product.stock + quantity, version=Product.version + 1)
    )
    await _moved(session, product, statement)


async def _moved(session: AsyncSession, product: Product, statement: Update) -> bool:
    # The row changes in SQL (stock - n, not a value read earlier); RETURNING brings back
    # what the ORM would otherwise have to read again.
    returning = statement.returning(Product.stock, Product.version, Product.updated_at)
    row = (
        await session.execute(returning.execution_options(synchronize_session=False))
    ).one_or_none()
    if row is None:
        return False
    for name, value in zip(("stock", "version", "updated_at"), row, strict=True):
        set_committed_value(product, name, value)
    return True
