"""`backoffice seed-demo`: a deterministic, idempotent demo data set that obeys the order rules."""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from decimal import Decimal
from itertools import islice

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import AuditEvent, Customer, Order, OrderItem, OrderStatus, Product
from app.ops import demo
from tests.cli.helpers import in_database, invoke, lines

STOCK_TAKING = {"placed", "paid", "shipped"}


async def _sizes(session: AsyncSession) -> dict[str, int]:
    models = {"customers": Customer, "products": Product, "orders": Order, "order_items": OrderItem}
    return {
        name: int(await session.scalar(select(func.count()).select_from(model)) or 0)
        for name, model in models.items()
    }


async def _seed_events(session: AsyncSession) -> list[AuditEvent]:
    statement = select(AuditEvent).where(AuditEvent.action == "demo.seeded")
    return list(await session.scalars(statement))


def test_seed_demo_twice_adds_nothing_the_second_time(migrated_url: str) -> None:
    first = invoke(migrated_url, "seed-demo")
    assert first.exit_code == 0, first.output
    sizes = in_database(migrated_url, _sizes)
    assert sizes["customers"] >= 24 and sizes["products"] == demo.DEFAULT_PRODUCTS
    assert sizes["orders"] == demo.ORDER_COUNT

    second = invoke(migrated_url, "seed-demo")
    assert second.exit_code == 0, second.output
    assert second.stdout.strip() == "demo data present; nothing added"
    assert in_database(migrated_url, _sizes) == sizes

    [event] = in_database(migrated_url, _seed_events)
    assert event.channel == "cli"
    assert event.changes == {name: [0, count] for name, count in sizes.items()}


async def _orders(session: AsyncSession) -> list[tuple[str, str, Decimal, bool, Decimal]]:
    line_sum = func.coalesce(func.sum(OrderItem.unit_price * OrderItem.quantity), 0)
    statement = (
        select(Order.number, Order.status, Order.total, Order.placed_at.is_not(None), line_sum)
        .outerjoin(OrderItem, OrderItem.order_id == Order.id)
        .group_by(Order.id)
    )
    return [tuple(row) for row in await session.execute(statement)]  # type: ignore[misc]


async def _taken_and_stock(session: AsyncSession) -> dict[str, tuple[int, int]]:
    taken = (
        select(Product.sku, func.sum(OrderItem.quantity))
        .join(OrderItem, OrderItem.product_id == Product.id)
        .join(Order, Order.id == OrderItem.order_id)
        .where(Order.status.in_(STOCK_TAKING))
        .group_by(Product.sku)
    )
    by_sku = {sku: int(n) for sku, n in await session.execute(taken)}
    stock = (await session.execute(select(Product.sku, Product.stock))).all()
    return {sku: (by_sku.get(sku, 0), current) for sku, current in stock}


def test_demo_orders_cover_every_status_with_consistent_totals_and_stock(
    migrated_url: str,
) -> None:
    assert invoke(migrated_url, "seed-demo").exit_code == 0
    orders = in_database(migrated_url, _orders)
    assert {status for _, status, *_ in orders} == {status.value for status in OrderStatus}
    for number, status, total, placed, items_sum in orders:
        assert re.fullmatch(r"SO-\d{6}", number)
        assert total == items_sum and total > 0, number
        assert placed == (status in STOCK_TAKING) or status == "cancelled", number
    assert sorted(number for number, *_ in orders)[0] == "SO-000001"

    initial = {product.sku: product.stock for product in demo.iter_products(40)}
    taken_and_stock = in_database(migrated_url, _taken_and_stock)
    assert any(taken for taken, _ in taken_and_stock.values())
    for sku, (taken, stock) in taken_and_stock.items():
        assert stock >= 0
        assert stock == initial[sku] - taken, sku


async def _catalogue(session: AsyncSession) -> list[tuple[str, str, Decimal]]:
    statement = select(Product.sku, Product.name, Product.price).order_by(Product.sku)
    return list((await session.execute(statement)).all())


async def _customers(session: AsyncSession) -> list[tuple[str, str]]:
    statement = select(Customer.email, Customer.name).order_by(Customer.email)
    return list((await session.execute(statement)).all())


def test_demo_data_is_the_planned_deterministic_set(migrated_url: str) -> None:
    assert invoke(migrated_url, "seed-demo", "--products", "25").exit_code == 0
    planned = sorted((p.sku, p.name, p.price) for p in demo.iter_products(25))
    assert in_database(migrated_url, _catalogue) == planned
    assert in_database(migrated_url, _customers) == sorted(
        (c.email, c.name) for c in demo.demo_customers()
    )
    # Realistic, not "Customer 1": a first and a last name from the lists.
    assert all(len(name.split()) == 2 for _, name in in_database(migrated_url, _customers))


def test_the_plan_does_not_depend_on_hash_randomisation() -> None:
    script = (
        "from app.ops import demo; import itertools; "
        "print(demo.demo_customers()[:3], list(demo.iter_products(3)), "
        "demo.demo_orders(demo.demo_customers(), list(demo.iter_products(40)))[:3])"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", script],
            env={"PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in ("1", "2")
    }
    assert len(outputs) == 1


async def _insert_products(session: AsyncSession, products: list[Product]) -> None:
    session.add_all(products)
    await session.commit()


async def _product(session: AsyncSession, sku: str) -> tuple[str, int, int]:
    product = (await session.scalars(select(Product).where(Product.sku == sku))).one()
    return product.name, product.stock, product.version


def test_bulk_path_skips_skus_that_exist_and_adds_the_rest(
    migrated_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(demo, "BATCH_SIZE", 25)
    monkeypatch.setattr("app.ops.cli.PROGRESS_THRESHOLD", 100)
    taken_sku = list(islice(demo.iter_products(60), 60))[-1].sku
    mine = Product(sku=taken_sku, name="Somebody else's product", price=Decimal("1.00"), stock=3)
    in_database(migrated_url, lambda session: _insert_products(session, [mine]))

    result = invoke(migrated_url, "seed-demo", "--products", "120")
    assert result.exit_code == 0, result.output
    assert "119 products" in result.stdout
    assert "120/120" in result.stderr  # the progress bar, on stderr
    assert in_database(migrated_url, _sizes)["products"] == 120
    assert in_database(migrated_url, lambda session: _product(session, taken_sku)) == (
        "Somebody else's product",
        3,
        1,
    )

    again = invoke(migrated_url, "seed-demo", "--products", "150")
    assert again.exit_code == 0, again.output
    assert again.stdout.strip() == "demo data added: 30 products"
    assert in_database(migrated_url, _sizes)["products"] == 150
    assert len(in_database(migrated_url, _seed_events)) == 2


def test_a_large_catalogue_shows_a_progress_bar(migrated_url: str) -> None:
    count = 10_000  # the threshold: at and above it the bar is shown
    result = invoke(migrated_url, "seed-demo", "--products", str(count))
    assert result.exit_code == 0, result.output
    assert f"{count}/{count}" in result.stderr
    assert in_database(migrated_url, _sizes)["products"] == count


def test_a_small_catalogue_has_no_progress_bar(migrated_url: str) -> None:
    result = invoke(migrated_url, "seed-demo", "--products", "30")
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    assert lines(result.stdout) == [
        f"demo data added: {demo.CUSTOMER_COUNT} customers, 30 products, "
        f"{demo.ORDER_COUNT} orders ({in_database(migrated_url, _sizes)['order_items']} items)"
    ]


def test_orders_whose_products_lack_stock_are_skipped_not_forced(migrated_url: str) -> None:
    empty_shelves = [
        Product(sku=p.sku, name=p.name, price=p.price, stock=0) for p in demo.iter_products(40)
    ]
    in_database(migrated_url, lambda session: _insert_products(session, empty_shelves))

    result = invoke(migrated_url, "seed-demo")
    assert result.exit_code == 0, result.output
    assert "orders skipped (their products lack stock)" in result.stdout
    orders = in_database(migrated_url, _orders)
    assert orders and {status for _, status, *_ in orders} <= {"draft", "cancelled"}
    assert all(stock == 0 for _, stock in in_database(migrated_url, _taken_and_stock).values())


@pytest.mark.parametrize("products", ["0", "-5", "many"])
def test_products_must_be_a_positive_number(migrated_url: str, products: str) -> None:
    result = invoke(migrated_url, "seed-demo", "--products", products)
    assert result.exit_code == 2
    assert in_database(migrated_url, _sizes)["products"] == 0


def test_status_counts_are_a_mix_not_just_one_of_each(migrated_url: str) -> None:
    assert invoke(migrated_url, "seed-demo").exit_code == 0
    counts = Counter(status for _, status, *_ in in_database(migrated_url, _orders))
    assert all(count >= 3 for count in counts.values()), counts
