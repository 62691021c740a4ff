"""The order service decides (issue 15): it takes typed commands, checks the permission with
the row and the version the caller expects, whichever door called it; the API only
translates its body and If-Match. On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import Principal
from app.errors import PermissionDenied, PreconditionFailed
from app.models import Customer, Order
from app.orders import service
from app.orders.commands import MAX_QUANTITY, AddItem, UpdateItem, UpdateOrder
from app.permissions import BUILTIN_ROLES
from tests.api.order_helpers import (
    ORDERS,
    Caller,
    assert_problem,
    audit_rows,
    create_order,
    order_status,
)
from tests.factories import make_order, make_product

Write = Callable[[AsyncSession, Principal, Order], Awaitable[Any]]


def staff(role: str) -> Principal:
    """Someone holding a built-in role's permissions, calling through the API (no user row:
    the audit row names no actor)."""
    return Principal(None, None, "api", "access_token", frozenset(BUILTIN_ROLES[role][1]))


async def _place(session: AsyncSession, who: Principal, order: Order) -> Any:
    return await service.transition(session, who, order.id, "place", expected_version=None)


async def _pay(session: AsyncSession, who: Principal, order: Order) -> Any:
    return await service.transition(session, who, order.id, "pay", expected_version=None)


async def _edit(session: AsyncSession, who: Principal, order: Order) -> Any:
    command = UpdateOrder(notes="by phone")
    return await service.update_order(session, who, order.id, command, expected_version=None)


async def _add(session: AsyncSession, who: Principal, order: Order) -> Any:
    command = AddItem(product_id=order.items[0].product_id, quantity=1)
    return await service.add_item(session, who, order.id, command, expected_version=None)


async def _set_quantity(session: AsyncSession, who: Principal, order: Order) -> Any:
    item_id = order.items[0].id
    command = UpdateItem(quantity=3)
    return await service.update_item(
        session, who, order.id, item_id, command, expected_version=None
    )


async def _delete(session: AsyncSession, who: Principal, order: Order) -> Any:
    return await service.delete_order(session, who, order.id, expected_version=None)


# (role, write, allowed): SPEC §4's built-in roles, as the service itself enforces them.
POLICY: list[tuple[str, Write, bool]] = [
    ("clerk", _place, True),
    ("clerk", _pay, False),
    ("clerk", _edit, True),
    ("viewer", _edit, False),
    ("viewer", _add, False),
    ("viewer", _set_quantity, False),
    ("clerk", _delete, False),
    ("manager", _delete, True),
]


@pytest.mark.parametrize(("role", "write", "allowed"), POLICY)
async def test_the_service_checks_the_permission_whoever_calls_it(
    session: AsyncSession, customer: Customer, role: str, write: Write, allowed: bool
) -> None:
    product = await make_product(session, stock=10)
    order = await make_order(session, customer=customer, items=[(product, 1)])
    version = order.version

    if allowed:
        await write(session, staff(role), order)
        return
    with pytest.raises(PermissionDenied, match="This needs the 'orders:"):
        await write(session, staff(role), order)
    await session.refresh(order)
    assert (order.version, order.status) == (version, "draft")
    assert await audit_rows(session, resource_id=order.id) == []


async def test_the_service_refuses_a_version_the_order_is_not_at(
    session: AsyncSession, customer: Customer
) -> None:
    product = await make_product(session, stock=10)
    order = await make_order(session, customer=customer, items=[(product, 1)])
    admin = staff("admin")

    with pytest.raises(PreconditionFailed) as refused:
        await service.transition(
            session, admin, order.id, "place", expected_version=order.version + 1
        )

    assert refused.value.extra == {"current_version": order.version}
    assert await order_status(session, order.id) == "draft"
    placed = await service.transition(
        session, admin, order.id, "place", expected_version=order.version
    )
    assert placed.status == "placed"


async def test_lines_for_one_product_hold_at_most_the_maximum_however_they_are_sent(
    client: httpx.AsyncClient, session: AsyncSession, admin_caller: Caller, customer: Customer
) -> None:
    """Adding to a line was refused past the maximum; two lines of one product in a new
    order were merged past it. One rule now, naming the line that tips it over."""
    product = await make_product(session, price=Decimal("1.00"))
    half = MAX_QUANTITY // 2 + 1
    body = {
        "customer_id": customer.id,
        "items": [{"product_id": product.id, "quantity": half}] * 2,
    }

    response = await client.post(ORDERS, json=body, headers=admin_caller.headers)

    problem = assert_problem(response, 422)
    assert [e["loc"] for e in problem["errors"]] == [["body", "items", 1, "quantity"]]
    order = await create_order(client, admin_caller.headers, customer.id, [(product.id, half)])
    added = await client.post(
        f"{ORDERS}/{order['id']}/items",
        json={"product_id": product.id, "quantity": half},
        headers=admin_caller.headers,
    )
    assert [e["loc"] for e in assert_problem(added, 422)["errors"]] == [["body", "quantity"]]
    assert assert_problem(added, 422)["errors"][0]["message"] == (problem["errors"][0]["message"])


@pytest.mark.parametrize(
    ("if_match", "status"),
    [
        ("*", 200),
        ('"{v}"', 200),
        ('W/"{v}"', 200),
        ('"{stale}"', 412),
        ('"{v}", "{stale}"', 412),  # a list names no one version: refused, never guessed
        ("{v}", 412),  # unquoted: not an entity-tag
        ('"1x"', 412),
        (f'"{"9" * 50}"', 412),
    ],
)
async def test_if_match_is_translated_into_the_version_the_service_checks(
    client: httpx.AsyncClient,
    admin_caller: Caller,
    customer: Customer,
    if_match: str,
    status: int,
) -> None:
    order = await create_order(client, admin_caller.headers, customer.id)
    url = f"{ORDERS}/{order['id']}"
    await client.patch(url, json={"notes": "moved on"}, headers=admin_caller.headers)
    current = (await client.get(url, headers=admin_caller.headers)).json()["version"]
    header = if_match.format(v=current, stale=order["version"])

    response = await client.patch(
        url, json={"notes": "mine"}, headers={**admin_caller.headers, "If-Match": header}
    )

    assert response.status_code == status, response.text
    if status == 412:
        assert response.json()["current_version"] == current


async def test_a_null_in_an_order_patch_is_refused_naming_the_field(
    client: httpx.AsyncClient, admin_caller: Caller, customer: Customer
) -> None:
    order = await create_order(client, admin_caller.headers, customer.id, notes="keep")

    response = await client.patch(
        f"{ORDERS}/{order['id']}", json={"notes": None}, headers=admin_caller.headers
    )

    problem = assert_problem(response, 422)
    assert [(e["loc"], e["message"]) for e in problem["errors"]] == [
        (["body", "notes"], "may not be null")
    ]
