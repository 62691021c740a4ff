"""Order reads on the lean path (issue 16): the detail and the list are one statement each
(app/orders/reads.py), the same bytes as the ORM's order, and the lean handler's path
parameter answers 401, 403, 422, 404 and 304 as FastAPI's solver did."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

import httpx
import pytest
from fastapi import Depends, Request, Response
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.api.deps import ReaderDep, RowId, require
from app.api.lean import lean, lean_handler
from app.auth.principal import Principal
from app.models import OrderStatus
from app.orders import service
from app.orders.schemas import OrderRead
from tests.api.order_helpers import ORDERS, StatementLog, caller, statements_on
from tests.factories import make_customer, make_order, make_product


async def awkward_orders(session: AsyncSession) -> list[int]:
    """Orders whose JSON is easy to get wrong: no items, many items added out of product
    order, prices with trailing zeros and none, unicode and quotes in names, no company."""
    products = [
        await make_product(session, name='Oak desk «ü» "quoted"', price=Decimal("19.99")),
        await make_product(session, name="Lamp\\n\t", price=Decimal("0.10")),
        await make_product(session, name="Kettle", price=Decimal("3")),
        await make_product(session, name="Free sample", price=Decimal("0.00")),
        await make_product(session, name="Big", price=Decimal("123456.70")),
    ]
    plain = await make_customer(session, company=None, name="Zoë O'Brien")
    firm = await make_customer(session, company="Firma «Ü»")
    orders = [
        await make_order(session, customer=plain),
        await make_order(session, customer=firm, items=[(products[2], 7), (products[0], 1)]),
        await make_order(
            session,
            customer=plain,
            status=OrderStatus.PLACED,
            items=[(p, n + 1) for n, p in enumerate(reversed(products))],
        ),
        await make_order(session, customer=firm, items=[(products[1], 3)]),
    ]
    await session.flush()
    ids = [order.id for order in orders]
    session.expire_all()
    return ids


async def orm_json(session: AsyncSession, order_id: int) -> bytes:
    """The order as the ORM path serialized it before (service.get_order + OrderRead)."""
    session.expire_all()
    order = await service.get_order(session, order_id)
    return OrderRead.model_validate(order).model_dump_json().encode()


async def test_the_detail_and_the_list_are_the_orm_orders_bytes(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    admin = await caller(session, "admin")
    orders = await awkward_orders(session)

    listed = await client.get(ORDERS, params={"limit": 50}, headers=admin.headers)

    assert listed.status_code == 200, listed.text
    by_id = {item["id"]: item for item in listed.json()["items"]}
    for order_id in orders:
        expected = await orm_json(session, order_id)
        detail = await client.get(f"{ORDERS}/{order_id}", headers=admin.headers)
        assert detail.status_code == 200, detail.text
        assert detail.content == expected
        assert detail.headers["etag"] == f'"{detail.json()["version"]}"'
        assert by_id[order_id] == detail.json()
    # Items keep the relationship's order (their id), whatever the products' order.
    many = await client.get(f"{ORDERS}/{orders[2]}", headers=admin.headers)
    ids = [item["id"] for item in many.json()["items"]]
    assert ids == sorted(ids) and len(ids) == 5
    assert many.json()["items"][0]["unit_price"] == "123456.70"


async def test_the_detail_is_one_statement_and_the_list_one_whatever_the_limit(
    client: httpx.AsyncClient, engine: AsyncEngine, session: AsyncSession
) -> None:
    admin = await caller(session, "admin")
    orders = await awkward_orders(session)
    await client.get(ORDERS, headers=admin.headers)  # the token's first use stamps it

    def reads(log: StatementLog) -> list[str]:
        return [s for s in log.statements if s.startswith(("SELECT", "WITH"))]

    with statements_on(engine) as detail_log:
        detail = await client.get(f"{ORDERS}/{orders[2]}", headers=admin.headers)
    with statements_on(engine) as one_log:
        await client.get(ORDERS, params={"limit": 1}, headers=admin.headers)
    with statements_on(engine) as page_log:
        page = await client.get(ORDERS, params={"limit": 50}, headers=admin.headers)

    assert detail.status_code == 200 and len(detail.json()["items"]) == 5
    assert len(page.json()["items"]) == len(orders)
    for log in (detail_log, one_log, page_log):
        [read] = reads(log)
        # The caller's token, order, customer, items and their products together (the
        # token lookup rides on the read, app/infra/riding.py); no IN list of ids.
        tables = ("api_tokens", "FROM orders", "customers", "order_items")
        assert all(table in read for table in tables)
        assert " IN (" not in read
        assert len(log.statements) == len(detail_log.statements)


@pytest.mark.parametrize("etag", ["same", "*", "weak list"])
async def test_if_none_match_with_the_current_etag_is_304(
    client: httpx.AsyncClient, session: AsyncSession, etag: str
) -> None:
    admin = await caller(session, "admin")
    [order_id, *_] = await awkward_orders(session)
    url = f"{ORDERS}/{order_id}"
    current = (await client.get(url, headers=admin.headers)).headers["etag"]
    header = {"same": current, "*": "*", "weak list": f'"999", W/{current}'}[etag]

    response = await client.get(url, headers={**admin.headers, "If-None-Match": header})
    stale = await client.get(url, headers={**admin.headers, "If-None-Match": '"999"'})

    assert response.status_code == 304 and response.content == b""
    assert response.headers["etag"] == current
    assert stale.status_code == 200 and stale.headers["etag"] == current


@pytest.mark.parametrize("order_id", ["0", "-1", "2147483648", "1.5", "abc", "%C2%B2"])
async def test_a_bad_order_id_is_422_at_the_path_after_authentication_and_permission(
    client: httpx.AsyncClient, session: AsyncSession, order_id: str
) -> None:
    admin = await caller(session, "admin")
    nobody = await caller(session, None)
    url = f"{ORDERS}/{order_id}"

    invalid = await client.get(url, headers=admin.headers)
    anonymous = await client.get(url)
    refused = await client.get(url, headers=nobody.headers)

    assert invalid.status_code == 422, invalid.text
    assert invalid.headers["content-type"] == "application/problem+json"
    assert [error["loc"] for error in invalid.json()["errors"]] == [["path", "order_id"]]
    # FastAPI's solver ran the dependencies before validating the path: so does lean.py.
    assert anonymous.status_code == 401
    assert refused.status_code == 403 and "orders:read" in refused.json()["detail"]


async def test_an_unknown_order_is_404_and_every_role_with_orders_read_sees_any_order(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    orders = await awkward_orders(session)
    missing = await client.get(f"{ORDERS}/2147483647", headers=(await caller(session)).headers)
    assert missing.status_code == 404
    assert missing.json()["detail"] == "No such order."
    # orders:read has no owned-rows rule (permissions.OWNED_ROWS): every reader sees all.
    for role in ("manager", "clerk", "viewer"):
        who = await caller(session, role)
        for order_id in orders:
            response = await client.get(f"{ORDERS}/{order_id}", headers=who.headers)
            assert response.status_code == 200, (role, response.text)


OrdersReader = Annotated[Principal, Depends(require("orders:read"))]


def test_a_lean_endpoint_takes_at_most_one_integer_path_parameter() -> None:
    async def two_ids(
        a: RowId, b: RowId, request: Request, rows: ReaderDep, _: OrdersReader
    ) -> Response:
        raise AssertionError

    async def text_id(name: str, request: Request, rows: ReaderDep, _: OrdersReader) -> Response:
        raise AssertionError

    async def one_id(order_id: RowId, request: Request, rows: ReaderDep, _: OrdersReader) -> Any:
        raise AssertionError

    for refused in (two_ids, text_id):
        with pytest.raises(TypeError, match="at most one integer path parameter"):
            lean_handler(lean(refused))
    assert callable(lean_handler(lean(one_id)))
