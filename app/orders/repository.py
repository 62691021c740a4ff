"""Every query about orders and the stock they reserve, in one place."""

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
        # populate_existing: a row read earlier in this session must not hide what the
        # writer we waited for committed (the lock is worthless on a stale copy).
        statement = statement.with_for_update(of=Order).execution_options(populate_existing=True)
    return (await session.execute(statement)).unique().scalar_one_or_none()


async def lock_products(session: AsyncSession, product_ids: Iterable[int]) -> dict[int, Product]:
    """The products, row-locked in id order (a fixed order cannot deadlock)."""
    ids = sorted(set(product_ids))
    if not ids:
        return {}
    statement = (
        select(Product)
        .where(Product.id.in_(ids))
        .order_by(Product.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return {product.id: product for product in (await session.execute(statement)).scalars()}


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
