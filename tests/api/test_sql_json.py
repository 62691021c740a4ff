"""The database writes list items' JSON (app/infra/sql_json.py): the very bytes pydantic's
serializer writes for the same rows, awkward values included, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
from pydantic import BaseModel, Field
from sqlalchemy import String, literal_column, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.customers.schemas import CustomerRead
from app.infra.sql_json import Json, json_object
from app.models import Customer, Product
from app.products.schemas import ProductRead
from tests.api.order_helpers import caller
from tests.factories import make_customer, make_product

# As tests/unit/test_row_json.py's, without NUL (a PostgreSQL text cannot hold one) and
# with a vertical tab and a single quote (the SQL's own string delimiter).
TEXTS = [
    "",
    "plain",
    'quote " backslash \\ slash /',
    "control \x01 \x08 \t \n \x0b \x0c \r \x1f \x7f",
    "unicode «ü» ∅ 漢字 😀 \u2028 \u2029",
    "<script>&amp;</script> 'single'",
]
MOMENTS = [
    datetime(2026, 3, 1, 9, 30, tzinfo=UTC),
    datetime(2026, 3, 1, 9, 30, 0, 1013, tzinfo=UTC),
    datetime(2026, 3, 1, 9, 30, 5, 500000, tzinfo=UTC),
    datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    datetime(2026, 3, 1, 9, 30, 5, 10, tzinfo=UTC),
]
AMOUNTS = [
    Decimal("0"),
    Decimal("0.5"),
    Decimal("12.50"),
    Decimal("9999999999.99"),
    Decimal("100"),
    Decimal("0.07"),
]


def pydantic_bytes(schema: type[BaseModel], row: Any) -> bytes:
    return schema.model_validate(row).model_dump_json().encode()


async def listed_items(client: httpx.AsyncClient, path: str, headers: dict[str, str]) -> bytes:
    response = await client.get(path, params={"limit": 200}, headers=headers)
    assert response.status_code == 200, response.text
    return response.content


async def test_products_are_written_as_pydantic_writes_them(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    admin = await caller(session, "admin")
    products = []
    for n, text in enumerate(TEXTS):
        for m, (moment, amount) in enumerate(zip(MOMENTS, AMOUNTS, strict=False)):
            product = await make_product(
                session,
                name=f"{text} {m}"[:200] or "x",
                description=text,
                price=amount,
                stock=n * 1000 + m,
                is_active=bool(m % 2),
                created_at=moment,
                updated_at=moment,
            )
            products.append(product)
    await session.flush()
    session.expire_all()

    body = await listed_items(client, "/api/v1/products", admin.headers)

    rows = (await session.execute(select(Product).order_by(Product.id))).scalars().all()
    expected = b"[" + b",".join(pydantic_bytes(ProductRead, row) for row in rows) + b"]"
    assert body.startswith(b'{"items":' + expected + b',"next_cursor":')


async def test_customers_are_written_as_pydantic_writes_them(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    admin = await caller(session, "admin")
    for n, text in enumerate(TEXTS):
        await make_customer(
            session,
            name=text or "x",
            phone=text[:30],
            company=text,
            notes=text,
            email=f"c{n}@example.com",
            created_at=MOMENTS[n % len(MOMENTS)],
        )
    await session.flush()
    session.expire_all()

    body = await listed_items(client, "/api/v1/customers", admin.headers)

    rows = (await session.execute(select(Customer).order_by(Customer.id))).scalars().all()
    expected = b"[" + b",".join(pydantic_bytes(CustomerRead, row) for row in rows) + b"]"
    assert body.startswith(b'{"items":' + expected + b',"next_cursor":')


class WithJsonColumn(BaseModel):
    id: int
    data: dict[str, Any]


class Aliased(BaseModel):
    id: int
    name: str = Field(serialization_alias="title")


_products = Product.__table__


@pytest.mark.parametrize(
    ("schema", "values"),
    [
        (WithJsonColumn, {"id": _products.c.id, "data": _products.c.name}),
        (ProductRead, {"id": _products.c.id}),  # fields without a value
        (Aliased, {"id": _products.c.id, "name": _products.c.name}),
    ],
    ids=["json column", "missing field", "alias"],
)
def test_a_schema_the_database_cannot_write_gets_none(
    schema: type[BaseModel], values: dict[str, Any]
) -> None:
    assert json_object(schema, values) is None


def test_every_piece_of_the_json_is_sql_text_never_a_bound_value() -> None:
    written = json_object(
        ProductRead, {name: _products.c[name] for name in ProductRead.model_fields}
    )
    assert written is not None
    assert not select(written.sql).compile().params


def test_a_json_piece_is_used_as_it_is() -> None:
    class Holder(BaseModel):
        inner: dict[str, int]

    written = json_object(Holder, {"inner": Json(literal_column("'{\"a\":1}'", String()))})
    assert written is not None
    assert """'{"inner":' || '{"a":1}' || '}'""" in str(select(written.sql).compile())
