"""Factories for rows the tests need: users (with roles), customers, products, orders."""

from __future__ import annotations

import itertools
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.passwords import hash_password_sync
from app.models import Customer, Order, OrderItem, OrderStatus, Product, User
from app.users import repository as users_repository

DEFAULT_PASSWORD = "correct-horse-battery-9"
# Hashing is deliberately slow; one hash serves every factory-made user.
_DEFAULT_HASH = hash_password_sync(DEFAULT_PASSWORD)
_sequence = itertools.count(1)


def _next() -> int:
    return next(_sequence)


async def make_user(
    session: AsyncSession,
    *,
    role: str | None = "admin",
    email: str | None = None,
    full_name: str = "Test User",
    is_active: bool = True,
) -> User:
    roles = await users_repository.get_roles_by_name(session, [role] if role else [])
    user = User(
        email=email or f"user{_next()}@example.com",
        full_name=full_name,
        password_hash=_DEFAULT_HASH,
        is_active=is_active,
        security_stamp=f"stamp-{_next()}",
        roles=roles,
    )
    session.add(user)
    await session.flush()
    return user


async def make_customer(session: AsyncSession, **fields: object) -> Customer:
    n = _next()
    values: dict[str, object] = {"name": f"Customer {n}", "email": f"customer{n}@example.com"}
    values.update(fields)
    customer = Customer(**values)
    session.add(customer)
    await session.flush()
    return customer


async def make_product(session: AsyncSession, **fields: object) -> Product:
    n = _next()
    values: dict[str, object] = {
        "sku": f"SKU-{n:05d}",
        "name": f"Product {n}",
        "price": Decimal("9.99"),
        "stock": 10,
    }
    values.update(fields)
    product = Product(**values)
    session.add(product)
    await session.flush()
    return product


async def make_order(
    session: AsyncSession,
    *,
    customer: Customer | None = None,
    status: OrderStatus = OrderStatus.DRAFT,
    items: list[tuple[Product, int]] | None = None,
) -> Order:
    customer = customer or await make_customer(session)
    order = Order(number=f"SO-T{_next():07d}", customer_id=customer.id, status=status.value)
    lines = [
        OrderItem(product_id=product.id, quantity=quantity, unit_price=product.price)
        for product, quantity in (items or [])
    ]
    order.items = lines
    order.total = sum((line.unit_price * line.quantity for line in lines), Decimal("0.00"))
    session.add(order)
    await session.flush()
    return order
