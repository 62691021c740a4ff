"""The executable spec of the policy on the API door: every built-in role × every
permission-gated operation → allowed or 403 exactly as app.permissions.BUILTIN_ROLES says.

(The admin door's half of the matrix is tests/admin/test_admin_http.py, built from the
same BUILTIN_ROLES.) Allowed means "not refused by the policy": the operation may still
answer 404/409/422 for its own reasons, never 403.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import OrderStatus
from app.permissions import BUILTIN_ROLES, PERMISSIONS
from tests.api.conftest import LoginAs
from tests.factories import make_customer, make_order, make_product

Setup = Callable[[AsyncSession], Awaitable[dict[str, Any]]]


async def _rows(session: AsyncSession) -> dict[str, Any]:
    customer = await make_customer(session)
    product = await make_product(session, stock=100)
    draft = await make_order(session, customer=customer, items=[(product, 1)])
    placed = await make_order(
        session, customer=customer, status=OrderStatus.PLACED, items=[(product, 1)]
    )
    paid = await make_order(
        session, customer=customer, status=OrderStatus.PAID, items=[(product, 1)]
    )
    spare = await make_customer(session)
    spare_product = await make_product(session)
    return {
        "customer": customer.id,
        "product": product.id,
        "draft": draft.id,
        "placed": placed.id,
        "paid": paid.id,
        "spare_customer": spare.id,
        "spare_product": spare_product.id,
    }


@dataclass(frozen=True)
class Operation:
    permission: str
    method: str
    path: str
    body: dict[str, Any] | None = None
    content: bytes | None = None


def _operations(ids: dict[str, Any]) -> list[Operation]:
    n = ids["customer"]
    return [
        Operation("customers:read", "GET", "/api/v1/customers"),
        Operation(
            "customers:create",
            "POST",
            "/api/v1/customers",
            {"name": "M", "email": f"matrix{n}@example.com"},
        ),
        Operation(
            "customers:update", "PATCH", f"/api/v1/customers/{ids['customer']}", {"notes": "x"}
        ),
        Operation("customers:delete", "DELETE", f"/api/v1/customers/{ids['spare_customer']}"),
        Operation("products:read", "GET", "/api/v1/products"),
        Operation(
            "products:create",
            "POST",
            "/api/v1/products",
            {"sku": f"MX-{n}", "name": "M", "price": "1.00"},
        ),
        Operation(
            "products:update", "PATCH", f"/api/v1/products/{ids['product']}", {"name": "Renamed"}
        ),
        Operation("products:delete", "DELETE", f"/api/v1/products/{ids['spare_product']}"),
        Operation("products:read", "GET", "/api/v1/products/export.csv"),
        Operation(
            "products:import",
            "POST",
            "/api/v1/products/import?dry_run=true",
            content=b"sku,name,price\nMX-IMP,Thing,1.00\n",
        ),
        Operation("orders:read", "GET", "/api/v1/orders"),
        Operation("orders:create", "POST", "/api/v1/orders", {"customer_id": ids["customer"]}),
        Operation("orders:update", "PATCH", f"/api/v1/orders/{ids['draft']}", {"notes": "n"}),
        Operation("orders:delete", "DELETE", f"/api/v1/orders/{ids['draft']}"),
        Operation("orders:place", "POST", f"/api/v1/orders/{ids['draft']}/place"),
        Operation("orders:pay", "POST", f"/api/v1/orders/{ids['placed']}/pay"),
        Operation("orders:ship", "POST", f"/api/v1/orders/{ids['paid']}/ship"),
        Operation("orders:cancel", "POST", f"/api/v1/orders/{ids['placed']}/cancel"),
        Operation("users:read", "GET", "/api/v1/users"),
        Operation("users:read", "GET", "/api/v1/permissions"),
        Operation(
            "users:manage",
            "POST",
            "/api/v1/users",
            {"email": f"new{n}@example.com", "password": "a long passphrase 42"},
        ),
        Operation("roles:manage", "POST", "/api/v1/roles", {"name": f"r{n}"}),
        Operation("audit:read", "GET", "/api/v1/audit-events"),
        Operation("webhooks:manage", "GET", "/api/v1/webhooks"),
    ]


async def _call(client: httpx.AsyncClient, op: Operation, headers: dict[str, str]) -> int:
    if op.content is not None:
        response = await client.request(
            op.method, op.path, content=op.content, headers={**headers, "Content-Type": "text/csv"}
        )
    else:
        response = await client.request(op.method, op.path, json=op.body, headers=headers)
    return response.status_code


def test_the_matrix_covers_every_permission() -> None:
    listed = {
        op.permission
        for op in _operations(
            dict.fromkeys(
                [
                    "customer",
                    "product",
                    "draft",
                    "placed",
                    "paid",
                    "spare_customer",
                    "spare_product",
                ],
                1,
            )
        )
    }
    # tokens:manage is a row rule (others' tokens), exercised in the admin and auth tests.
    assert listed == set(PERMISSIONS) - {"tokens:manage"}


@pytest.mark.parametrize("role", sorted(BUILTIN_ROLES))
async def test_each_role_is_allowed_exactly_its_permissions_on_the_api(
    role: str, client: httpx.AsyncClient, session: AsyncSession, login_as: LoginAs
) -> None:
    granted = set(BUILTIN_ROLES[role][1])
    _, headers = await login_as(role)
    wrong: list[str] = []
    for index, op in enumerate(_operations(await _rows(session))):
        # Fresh rows per operation: an earlier allowed delete or transition must not turn
        # a later check into a 404 or 409 that hides the policy's answer.
        op = _operations(await _rows(session))[index]
        status = await _call(client, op, headers)
        allowed = op.permission in granted
        if (allowed and status == 403) or (not allowed and status != 403):
            wrong.append(f"{op.method} {op.path} ({op.permission}): {status}")
    assert not wrong, f"{role}: " + "; ".join(wrong)


async def test_a_user_without_roles_is_refused_everything_but_me(
    client: httpx.AsyncClient, session: AsyncSession, login_as: LoginAs
) -> None:
    _, headers = await login_as(None)
    statuses = {
        op.path: await _call(client, op, headers) for op in _operations(await _rows(session))
    }
    assert set(statuses.values()) == {403}
    assert (await client.get("/api/v1/me", headers=headers)).status_code == 200
