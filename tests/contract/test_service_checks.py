"""The services decide, whatever a door forgot (issue 15): the permission with the row, the
version the caller expects, and a version that moved between the read and the write (a
412 from `UPDATE … WHERE version = …`, not the generic 409). On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import Principal
from app.customers import service as customers
from app.customers.commands import CreateCustomer, UpdateCustomer
from app.errors import PermissionDenied, PreconditionFailed
from app.infra.db import Database
from app.models import Customer, Product, Role, WebhookEndpoint
from app.products import importer
from app.products import service as products
from app.products.commands import CreateProduct, UpdateProduct
from app.roles import service as roles
from app.webhooks import service as webhooks
from tests.api.order_helpers import caller
from tests.factories import make_customer, make_product

Write = Callable[[AsyncSession, Principal, int, int | None], Awaitable[Any]]


def product_edit(session: AsyncSession, who: Principal, row_id: int, expected: int | None) -> Any:
    command = UpdateProduct(name="Mine")
    return products.update_product(session, who, row_id, command, expected_version=expected)


def product_delete(session: AsyncSession, who: Principal, row_id: int, expected: int | None) -> Any:
    return products.delete_product(session, who, row_id, expected_version=expected)


def customer_edit(session: AsyncSession, who: Principal, row_id: int, expected: int | None) -> Any:
    command = UpdateCustomer(company="Mine")
    return customers.update_customer(session, who, row_id, command, expected_version=expected)


def customer_delete(
    session: AsyncSession, who: Principal, row_id: int, expected: int | None
) -> Any:
    return customers.delete_customer(session, who, row_id, expected_version=expected)


def role_delete(session: AsyncSession, who: Principal, row_id: int, expected: int | None) -> Any:
    return roles.delete_role(session, who, row_id, expected_version=expected)


def secret_rotation(
    session: AsyncSession, who: Principal, row_id: int, expected: int | None
) -> Any:
    return webhooks.rotate_secret(session, who, row_id, expected_version=expected)


Model = type[Product] | type[Customer] | type[Role] | type[WebhookEndpoint]
WRITES: dict[str, tuple[Model, Write]] = {
    "product edit": (Product, product_edit),
    "product delete": (Product, product_delete),
    "customer edit": (Customer, customer_edit),
    "customer delete": (Customer, customer_delete),
    "role delete": (Role, role_delete),
    "webhook secret rotation": (WebhookEndpoint, secret_rotation),
}


async def fresh_row(session: AsyncSession, model: Model) -> Any:
    if model is Product:
        return await make_product(session)
    if model is Customer:
        return await make_customer(session)
    row: Role | WebhookEndpoint = (
        Role(name="checked-role", description="", permissions=["orders:read"])
        if model is Role
        else WebhookEndpoint(url="https://hooks.example.com/in", events=[], secret="whsec_x")
    )
    session.add(row)
    await session.flush()
    return row


async def staff(session: AsyncSession, role: str = "admin") -> Principal:
    """The Principal an admin's request carries (the test's own construction: the services
    only read `permissions` and `channel`)."""
    user = (await caller(session, role)).user
    permissions = frozenset(p for r in user.roles for p in r.permissions)
    return Principal(user.id, user.email, "api", "access_token", permissions)


@pytest.mark.parametrize("write", list(WRITES))
async def test_a_version_that_moves_between_the_read_and_the_write_is_a_412(
    database: Database, session: AsyncSession, write: str
) -> None:
    model, act = WRITES[write]
    row = await fresh_row(session, model)
    who = await staff(session)
    async with database.sessionmaker() as writer:
        # The writer has read the row at version 1 (and checks If-Match "1" against it) …
        read: Any = await writer.get(model, row.id)  # held: the session maps it weakly
        assert read is not None and read.version == 1
        # … when someone else's change lands (another session on the same connection).
        async with database.sessionmaker() as other:
            await other.execute(update(model).where(model.id == row.id).values(version=2))
            await other.commit()

        with pytest.raises(PreconditionFailed, match="changed while this change was"):
            await act(writer, who, row.id, 1)


@pytest.mark.parametrize("write", list(WRITES))
async def test_a_stale_expected_version_is_a_412_and_changes_nothing(
    session: AsyncSession, write: str
) -> None:
    model, act = WRITES[write]
    row = await fresh_row(session, model)

    with pytest.raises(PreconditionFailed, match="at version 1"):
        await act(session, await staff(session), row.id, 7)

    await session.refresh(row)
    assert row.version == 1


@pytest.mark.parametrize("write", list(WRITES))
async def test_a_caller_without_the_permission_is_refused_by_the_service_itself(
    session: AsyncSession, write: str
) -> None:
    model, act = WRITES[write]
    row = await fresh_row(session, model)

    with pytest.raises(PermissionDenied):
        await act(session, await staff(session, "viewer"), row.id, None)


async def test_creates_and_imports_check_the_permission_too(session: AsyncSession) -> None:
    viewer = await staff(session, "viewer")
    clerk = await staff(session, "clerk")  # creates customers, not products

    with pytest.raises(PermissionDenied):
        await products.create_product(
            session, clerk, CreateProduct(sku="PERM-001", name="x", price="1")
        )
    with pytest.raises(PermissionDenied):
        await customers.create_customer(
            session, viewer, CreateCustomer(name="x", email="perm@example.com")
        )
    with pytest.raises(PermissionDenied):
        await importer.import_products(session, clerk, b"sku,name,price\nPERM-002,x,1\n")
    assert (
        await customers.create_customer(
            session, clerk, CreateCustomer(name="x", email="perm@example.com")
        )
    ).id
