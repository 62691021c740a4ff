"""The database refuses bad rows (SPEC §3) and round-trips types exactly, on both backends."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import TypeVar

import pytest
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from app.models import (
    ApiToken,
    AuditEvent,
    Base,
    Customer,
    Order,
    OrderItem,
    Product,
    RefreshToken,
    Role,
    StaffSession,
    User,
)
from tests.factories import make_customer, make_order, make_product, make_user

SOON = datetime(2030, 1, 1, tzinfo=UTC)
RowT = TypeVar("RowT", bound=Base)


async def add_and_flush(session: AsyncSession, *rows: Base) -> None:
    session.add_all(rows)
    await session.flush()


async def assert_rejected(session: AsyncSession, *rows: Base) -> None:
    """Adding `rows` fails with IntegrityError; a savepoint keeps the test transaction usable."""
    with pytest.raises(IntegrityError):
        async with session.begin_nested():
            await add_and_flush(session, *rows)


def product(**fields: object) -> Product:
    values: dict[str, object] = {"sku": "OK-SKU-1", "name": "Widget", "price": Decimal("1.00")}
    return Product(**(values | fields))


def user(email: str) -> User:
    return User(email=email, password_hash="x", security_stamp="s")


# --- products ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param({"stock": -1}, id="negative-stock"),
        pytest.param({"price": Decimal("-0.01")}, id="negative-price"),
        pytest.param({"reorder_level": -1}, id="negative-reorder-level"),
        pytest.param({"sku": "abc-123"}, id="lowercase-sku"),
        pytest.param({"sku": "AB"}, id="too-short-sku"),
        pytest.param({"sku": "AB C"}, id="sku-with-space"),
        pytest.param({"sku": "AB_C"}, id="sku-with-underscore"),
    ],
)
async def test_product_check_constraints_reject_bad_values(
    session: AsyncSession, fields: dict[str, object]
) -> None:
    await assert_rejected(session, product(**fields))


async def test_product_with_valid_values_is_accepted(session: AsyncSession) -> None:
    # The counterpart of the rejections above: the same row with good values goes in.
    row = product(sku="AB-0123456789", stock=0, reorder_level=0, price=Decimal("0.00"))
    await add_and_flush(session, row)
    assert row.id is not None


async def test_duplicate_sku_is_rejected(session: AsyncSession) -> None:
    existing = await make_product(session)
    await assert_rejected(session, product(sku=existing.sku))


# --- case-insensitive emails ---------------------------------------------------------------


async def test_user_email_is_unique_whatever_its_case(session: AsyncSession) -> None:
    await add_and_flush(session, user("Ann.Lee@Example.com"))
    await assert_rejected(session, user("ann.lee@EXAMPLE.COM"))


async def test_customer_email_is_unique_whatever_its_case(session: AsyncSession) -> None:
    await make_customer(session, email="Buyer@Shop.io")
    await assert_rejected(session, Customer(name="Other", email="buyer@shop.IO"))


# --- orders ------------------------------------------------------------------------------


async def test_order_item_quantity_must_be_positive(session: AsyncSession) -> None:
    order = await make_order(session)
    item_product = await make_product(session)
    await assert_rejected(
        session,
        OrderItem(order_id=order.id, product_id=item_product.id, quantity=0, unit_price=1),
    )


async def test_unknown_order_status_is_rejected(session: AsyncSession) -> None:
    customer = await make_customer(session)
    await assert_rejected(
        session, Order(number="SO-BAD-STATUS", customer_id=customer.id, status="lost")
    )


async def test_duplicate_order_number_is_rejected(session: AsyncSession) -> None:
    existing = await make_order(session)
    await assert_rejected(session, Order(number=existing.number, customer_id=existing.customer_id))


async def test_order_for_a_nonexistent_customer_is_rejected(session: AsyncSession) -> None:
    await assert_rejected(session, Order(number="SO-NO-CUSTOMER", customer_id=999_999_999))


async def test_deleting_a_product_used_by_an_order_item_is_refused(session: AsyncSession) -> None:
    used = await make_product(session)
    await make_order(session, items=[(used, 2)])

    with pytest.raises(IntegrityError):
        async with session.begin_nested():
            await session.execute(delete(Product).where(Product.id == used.id))

    assert await session.scalar(select(func.count()).where(Product.id == used.id)) == 1


async def test_deleting_an_order_deletes_its_items(session: AsyncSession) -> None:
    order = await make_order(session, items=[(await make_product(session), 1)])
    items = select(func.count()).select_from(OrderItem).where(OrderItem.order_id == order.id)
    assert await session.scalar(items) == 1

    await session.execute(delete(Order).where(Order.id == order.id))

    assert await session.scalar(items) == 0


# --- roles, tokens, audit -------------------------------------------------------------------


async def test_duplicate_role_name_is_rejected(session: AsyncSession) -> None:
    # "admin" is a built-in role created by the initial migration.
    await assert_rejected(session, Role(name="admin", permissions=[]))


TokenFactory = Callable[[int, str], Base]
TOKEN_TABLES: dict[str, TokenFactory] = {
    "api_tokens": lambda user_id, digest: ApiToken(
        user_id=user_id, name="ci", token_prefix="abcdefgh", token_hash=digest
    ),
    "refresh_tokens": lambda user_id, digest: RefreshToken(
        user_id=user_id, token_hash=digest, family_id="family", expires_at=SOON
    ),
    "staff_sessions": lambda user_id, digest: StaffSession(
        user_id=user_id, token_hash=digest, last_seen_at=SOON, expires_at=SOON
    ),
}


@pytest.mark.parametrize("table", sorted(TOKEN_TABLES))
async def test_duplicate_token_hash_is_rejected(session: AsyncSession, table: str) -> None:
    owner = await make_user(session)
    make = TOKEN_TABLES[table]
    digest = "a" * 64
    await add_and_flush(session, make(owner.id, digest))

    await assert_rejected(session, make(owner.id, digest))


async def test_audit_channel_outside_the_list_is_rejected(session: AsyncSession) -> None:
    await assert_rejected(session, AuditEvent(channel="email", action="user.created"))


async def test_one_failed_insert_does_not_poison_the_transaction(session: AsyncSession) -> None:
    await assert_rejected(session, product(stock=-5))

    row = await make_product(session)

    assert await session.scalar(select(Product.sku).where(Product.id == row.id)) == row.sku


# --- transactions --------------------------------------------------------------------------


async def test_a_released_savepoint_is_undone_by_the_outer_rollback(engine: AsyncEngine) -> None:
    # What every test (and every service using begin_nested) relies on. On SQLite it needs
    # app.infra.db to emit BEGIN itself: sqlite3 would let a leading SAVEPOINT start, and its
    # RELEASE commit, a transaction of its own.
    sku = f"SP-{uuid.uuid4().hex[:12].upper()}"
    statement = insert(Product).values(
        sku=sku,
        name="Savepoint",
        description="",
        price=1,
        stock=0,
        reorder_level=0,
        is_active=True,
        version=1,
        created_at=SOON,
        updated_at=SOON,
    )
    async with engine.connect() as connection:
        outer = await connection.begin()
        async with connection.begin_nested():
            await connection.execute(statement)
        await outer.rollback()

    async with engine.connect() as connection:
        count = await connection.scalar(select(func.count()).where(Product.sku == sku))
    assert count == 0


# --- types ---------------------------------------------------------------------------------


async def reloaded(session: AsyncSession, row: RowT) -> RowT:
    """The row as the database returns it now (not the object held in the identity map)."""
    model = type(row)
    session.expunge(row)
    fresh: RowT = await session.get_one(model, row.id, populate_existing=True)
    return fresh


async def test_timestamps_round_trip_as_timezone_aware_utc(session: AsyncSession) -> None:
    plus_two = timezone(timedelta(hours=2))
    placed_at = datetime(2031, 5, 17, 14, 30, 15, 123456, tzinfo=plus_two)
    order = await make_order(session)
    order.placed_at = placed_at
    await session.flush()

    fresh = await reloaded(session, order)

    assert fresh.placed_at == placed_at
    assert fresh.placed_at is not None
    assert fresh.placed_at.utcoffset() == timedelta(0)
    assert fresh.placed_at.hour == 12
    assert fresh.created_at.utcoffset() == timedelta(0)
    assert fresh.updated_at.utcoffset() == timedelta(0)


async def test_naive_datetime_is_refused(session: AsyncSession) -> None:
    order = await make_order(session)
    order.placed_at = datetime(2031, 5, 17, 14, 30)

    with pytest.raises(StatementError, match="naive datetime"):
        async with session.begin_nested():
            await session.flush()


@pytest.mark.parametrize("price", ["0.01", "12.50", "19.99", "9999999999.99"])
async def test_price_round_trips_as_an_exact_decimal(session: AsyncSession, price: str) -> None:
    row = await make_product(session, price=Decimal(price))

    fresh = await reloaded(session, row)

    assert isinstance(fresh.price, Decimal)
    assert fresh.price == Decimal(price)
    assert str(fresh.price) == price


async def test_version_increments_on_every_update(session: AsyncSession) -> None:
    row = await make_product(session)
    assert row.version == 1

    row.name = "Renamed"
    await session.flush()
    assert row.version == 2

    row.stock += 1
    await session.flush()
    assert row.version == 3


async def test_stale_update_raises_stale_data_error(session: AsyncSession) -> None:
    row = await make_product(session)
    # Another writer updates the row behind this session's back.
    await session.execute(
        update(Product)
        .where(Product.id == row.id)
        .values(version=Product.version + 1)
        .execution_options(synchronize_session=False)
    )

    row.name = "Lost update"
    with pytest.raises(StaleDataError):
        async with session.begin_nested():
            await session.flush()
