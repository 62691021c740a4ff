"""The order lifecycle over the API (SPEC §7, §9, §12): the state machine, stock, and the
audit rows and outbox events each step writes — on SQLite and PostgreSQL."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.models import Customer
from app.orders import transitions as order_transitions
from tests.api.order_helpers import (
    ACTIONS,
    ALLOWED,
    STATUSES,
    Caller,
    act,
    assert_problem,
    audit_rows,
    create_order,
    drive_to,
    observed_state,
    order_status,
    outbox_events,
    statements_on,
    stock_of,
)
from tests.factories import make_product

# --- the state machine -------------------------------------------------------------------------


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("status", STATUSES)
async def test_each_action_from_each_status(
    client: httpx.AsyncClient,
    session: AsyncSession,
    admin_caller: Caller,
    customer: Customer,
    status: str,
    action: str,
) -> None:
    """Allowed transitions move the order; every other one is a 409 that changes nothing."""
    product = await make_product(session, stock=10)
    order = await create_order(client, admin_caller.headers, customer.id, [(product.id, 2)])
    await drive_to(client, admin_caller.headers, order["id"], status)
    before = await observed_state(client, session, admin_caller.headers, order["id"])

    response = await act(client, admin_caller.headers, order["id"], action)

    target = ALLOWED.get((status, action))
    if target is not None:
        assert response.status_code == 200, response.text
        assert response.json()["status"] == target
        assert response.headers["etag"] != before["etag"]
        assert await order_status(session, order["id"]) == target
    else:
        body = assert_problem(response, 409)
        assert status in body["detail"]
        assert await observed_state(client, session, admin_caller.headers, order["id"]) == before


async def test_placing_records_placed_at_and_paying_keeps_it(
    client: httpx.AsyncClient, session: AsyncSession, admin_caller: Caller, customer: Customer
) -> None:
    product = await make_product(session, stock=3)
    order = await create_order(client, admin_caller.headers, customer.id, [(product.id, 1)])

    placed = (await act(client, admin_caller.headers, order["id"], "place")).json()
    paid = (await act(client, admin_caller.headers, order["id"], "pay")).json()

    assert placed["placed_at"] is not None
    assert paid["placed_at"] == placed["placed_at"]


# --- stock -------------------------------------------------------------------------------------


async def test_placing_reserves_stock_for_every_item(
    client: httpx.AsyncClient, session: AsyncSession, admin_caller: Caller, customer: Customer
) -> None:
    first = await make_product(session, stock=10)
    second = await make_product(session, stock=4)
    order = await create_order(
        client, admin_caller.headers, customer.id, [(first.id, 3), (second.id, 4)]
    )

    response = await act(client, admin_caller.headers, order["id"], "place")

    assert response.status_code == 200, response.text
    assert response.json()["status"] == "placed"
    assert await stock_of(session, first.id) == 7
    assert await stock_of(session, second.id) == 0


@pytest.mark.parametrize("status", ["placed", "paid"])
async def test_cancelling_a_placed_or_paid_order_returns_its_stock(
    client: httpx.AsyncClient,
    session: AsyncSession,
    admin_caller: Caller,
    customer: Customer,
    status: str,
) -> None:
    product = await make_product(session, stock=10)
    order = await create_order(client, admin_caller.headers, customer.id, [(product.id, 4)])
    await drive_to(client, admin_caller.headers, order["id"], status)
    assert await stock_of(session, product.id) == 6

    response = await act(client, admin_caller.headers, order["id"], "cancel")

    assert response.status_code == 200, response.text
    assert await stock_of(session, product.id) == 10


async def test_cancelling_a_draft_touches_no_stock(
    client: httpx.AsyncClient, session: AsyncSession, admin_caller: Caller, customer: Customer
) -> None:
    product = await make_product(session, stock=10)
    order = await create_order(client, admin_caller.headers, customer.id, [(product.id, 4)])
    product_read = await client.get(f"/api/v1/products/{product.id}", headers=admin_caller.headers)

    response = await act(client, admin_caller.headers, order["id"], "cancel")

    assert response.status_code == 200, response.text
    assert await stock_of(session, product.id) == 10
    again = await client.get(f"/api/v1/products/{product.id}", headers=admin_caller.headers)
    assert again.headers["etag"] == product_read.headers["etag"]
    (event,) = await audit_rows(session, "order.cancelled", resource_id=order["id"])
    assert "stock" not in event.changes


async def test_a_shipped_order_cannot_be_cancelled_and_its_stock_stays_taken(
    client: httpx.AsyncClient, session: AsyncSession, admin_caller: Caller, customer: Customer
) -> None:
    product = await make_product(session, stock=10)
    order = await create_order(client, admin_caller.headers, customer.id, [(product.id, 4)])
    await drive_to(client, admin_caller.headers, order["id"], "shipped")

    response = await act(client, admin_caller.headers, order["id"], "cancel")

    assert_problem(response, 409)
    assert await order_status(session, order["id"]) == "shipped"
    assert await stock_of(session, product.id) == 6


async def test_placing_with_two_products_short_names_both_and_reserves_nothing(
    client: httpx.AsyncClient, session: AsyncSession, admin_caller: Caller, customer: Customer
) -> None:
    plenty = await make_product(session, stock=50)
    scarce = await make_product(session, stock=1)
    gone = await make_product(session, stock=0)
    order = await create_order(
        client,
        admin_caller.headers,
        customer.id,
        [(plenty.id, 5), (scarce.id, 2), (gone.id, 1)],
    )

    response = await act(client, admin_caller.headers, order["id"], "place")

    body = assert_problem(response, 409)
    short = {entry["sku"]: entry for entry in body["products_short"]}
    assert set(short) == {scarce.sku, gone.sku}
    assert (short[scarce.sku]["requested"], short[scarce.sku]["available"]) == (2, 1)
    assert (short[gone.sku]["requested"], short[gone.sku]["available"]) == (1, 0)
    assert scarce.sku in body["detail"] and gone.sku in body["detail"]
    assert plenty.sku not in body["detail"]
    assert await stock_of(session, plenty.id) == 50
    assert await stock_of(session, scarce.id) == 1
    assert await order_status(session, order["id"]) == "draft"


async def test_placing_can_take_stock_exactly_to_zero(
    client: httpx.AsyncClient, session: AsyncSession, admin_caller: Caller, customer: Customer
) -> None:
    product = await make_product(session, stock=3)
    order = await create_order(client, admin_caller.headers, customer.id, [(product.id, 3)])

    response = await act(client, admin_caller.headers, order["id"], "place")

    assert response.status_code == 200, response.text
    assert await stock_of(session, product.id) == 0


async def test_placing_an_order_without_items_is_409(
    client: httpx.AsyncClient, session: AsyncSession, admin_caller: Caller, customer: Customer
) -> None:
    order = await create_order(client, admin_caller.headers, customer.id)

    response = await act(client, admin_caller.headers, order["id"], "place")

    assert_problem(response, 409)
    assert await order_status(session, order["id"]) == "draft"


# --- the audit log -----------------------------------------------------------------------------


async def test_creating_an_order_is_audited_with_its_items(
    client: httpx.AsyncClient, session: AsyncSession, admin_caller: Caller, customer: Customer
) -> None:
    product = await make_product(session, price=Decimal("4.20"))

    order = await create_order(
        client,
        admin_caller.headers,
        customer.id,
        [(product.id, 2)],
    )

    (event,) = await audit_rows(session, "order.created", resource_id=order["id"])
    assert event.channel == "api"
    assert event.actor_user_id == admin_caller.user.id
    assert event.actor_email == admin_caller.user.email
    assert event.token_id == admin_caller.token_id
    assert event.resource_type == "order"
    assert event.request_id
    assert event.changes["number"] == [None, order["number"]]
    assert event.changes["status"] == [None, "draft"]
    assert event.changes["total"] == [None, "8.40"]
    assert event.changes["items"] == [
        None,
        [{"product_id": product.id, "quantity": 2, "unit_price": "4.20"}],
    ]


async def test_placing_is_audited_with_the_status_and_stock_diff(
    client: httpx.AsyncClient, session: AsyncSession, admin_caller: Caller, customer: Customer
) -> None:
    first = await make_product(session, stock=10)
    second = await make_product(session, stock=3)
    order = await create_order(
        client, admin_caller.headers, customer.id, [(first.id, 4), (second.id, 3)]
    )

    await act(client, admin_caller.headers, order["id"], "place")

    (event,) = await audit_rows(session, "order.placed", resource_id=order["id"])
    assert event.channel == "api"
    assert event.actor_user_id == admin_caller.user.id
    assert event.changes["status"] == ["draft", "placed"]
    assert event.changes["placed_at"][0] is None and event.changes["placed_at"][1]
    assert event.changes["stock"] == [
        {first.sku: 10, second.sku: 3},
        {first.sku: 6, second.sku: 0},
    ]


async def test_cancelling_a_placed_order_is_audited_with_the_stock_returned(
    client: httpx.AsyncClient, session: AsyncSession, admin_caller: Caller, customer: Customer
) -> None:
    product = await make_product(session, stock=10)
    order = await create_order(client, admin_caller.headers, customer.id, [(product.id, 4)])
    await drive_to(client, admin_caller.headers, order["id"], "placed")

    await act(client, admin_caller.headers, order["id"], "cancel")

    (event,) = await audit_rows(session, "order.cancelled", resource_id=order["id"])
    assert event.channel == "api"
    assert event.actor_user_id == admin_caller.user.id
    assert event.changes["status"] == ["placed", "cancelled"]
    assert event.changes["stock"] == [{product.sku: 6}, {product.sku: 10}]


async def test_a_refused_action_is_rolled_back_before_the_answer_is_sent(
    client: httpx.AsyncClient,
    engine: AsyncEngine,
    session: AsyncSession,
    admin_caller: Caller,
    customer: Customer,
) -> None:
    """The request's transaction ends inside the request, not later in a garbage-collector task
    that would race the next user of the connection."""
    product = await make_product(session, stock=0)
    order = await create_order(client, admin_caller.headers, customer.id, [(product.id, 1)])

    with statements_on(engine) as log:
        response = await act(client, admin_caller.headers, order["id"], "place")

    assert_problem(response, 409)
    assert log.statements[-1].startswith("ROLLBACK"), log.statements[-3:]


async def test_a_refused_action_writes_no_audit_row(
    client: httpx.AsyncClient, session: AsyncSession, admin_caller: Caller, customer: Customer
) -> None:
    product = await make_product(session, stock=0)
    order = await create_order(client, admin_caller.headers, customer.id, [(product.id, 1)])

    assert (await act(client, admin_caller.headers, order["id"], "place")).status_code == 409
    assert (await act(client, admin_caller.headers, order["id"], "ship")).status_code == 409

    assert await audit_rows(session, "order.placed", resource_id=order["id"]) == []
    assert await audit_rows(session, "order.shipped", resource_id=order["id"]) == []


# --- the outbox --------------------------------------------------------------------------------


async def test_placing_writes_an_order_placed_event(
    client: httpx.AsyncClient, session: AsyncSession, admin_caller: Caller, customer: Customer
) -> None:
    product = await make_product(session, stock=10, price=Decimal("2.00"))
    order = await create_order(client, admin_caller.headers, customer.id, [(product.id, 3)])

    await act(client, admin_caller.headers, order["id"], "place")

    (event,) = await outbox_events(session, "order.placed")
    data = event.data["order"]
    assert (data["id"], data["number"], data["status"]) == (order["id"], order["number"], "placed")
    assert data["total"] == "6.00"
    assert data["items"] == [{"product_id": product.id, "quantity": 3, "unit_price": "2.00"}]


@pytest.mark.parametrize(("status", "action"), [("placed", "pay"), ("paid", "ship")])
async def test_each_state_change_writes_its_event(
    client: httpx.AsyncClient,
    session: AsyncSession,
    admin_caller: Caller,
    customer: Customer,
    status: str,
    action: str,
) -> None:
    product = await make_product(session, stock=10)
    order = await create_order(client, admin_caller.headers, customer.id, [(product.id, 1)])
    await drive_to(client, admin_caller.headers, order["id"], status)

    response = await act(client, admin_caller.headers, order["id"], action)

    target = ALLOWED[(status, action)]
    assert response.status_code == 200, response.text
    (event,) = await outbox_events(session, f"order.{target}")
    assert event.data["order"]["id"] == order["id"]


async def test_a_placement_refused_for_stock_writes_no_event(
    client: httpx.AsyncClient, session: AsyncSession, admin_caller: Caller, customer: Customer
) -> None:
    product = await make_product(session, stock=1)
    order = await create_order(client, admin_caller.headers, customer.id, [(product.id, 2)])

    response = await act(client, admin_caller.headers, order["id"], "place")

    assert_problem(response, 409)
    assert await outbox_events(session) == []


async def test_a_placement_that_fails_after_writing_its_event_leaves_no_trace(
    client: httpx.AsyncClient,
    session: AsyncSession,
    admin_caller: Caller,
    customer: Customer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The event row belongs to the placement's transaction: the rollback takes it away too."""
    product = await make_product(session, stock=5, reorder_level=4)
    order = await create_order(client, admin_caller.headers, customer.id, [(product.id, 2)])
    real_emit = order_transitions.emit
    written: list[int] = []

    async def emit_then_crash(
        db: AsyncSession, event_type: str, data: dict[str, Any], **audit: Any
    ) -> Any:
        written.append(await real_emit(db, event_type, data, **audit))
        raise RuntimeError("the process died after writing the event")

    monkeypatch.setattr(order_transitions, "emit", emit_then_crash)

    response = await act(client, admin_caller.headers, order["id"], "place")

    assert response.status_code == 500
    assert written, "the event was written before the failure"
    assert await outbox_events(session) == []
    assert await audit_rows(session, "order.placed") == []
    assert await stock_of(session, product.id) == 5
    assert await order_status(session, order["id"]) == "draft"


async def test_stock_falling_to_the_reorder_level_emits_low_stock(
    client: httpx.AsyncClient, session: AsyncSession, admin_caller: Caller, customer: Customer
) -> None:
    low = await make_product(session, stock=5, reorder_level=3)
    fine = await make_product(session, stock=50, reorder_level=3)
    order = await create_order(
        client, admin_caller.headers, customer.id, [(low.id, 2), (fine.id, 2)]
    )

    await act(client, admin_caller.headers, order["id"], "place")

    (event,) = await outbox_events(session, "product.low_stock")
    assert event.data["product"]["sku"] == low.sku
    assert event.data["product"]["stock"] == 3
    assert event.data["product"]["reorder_level"] == 3


async def test_stock_already_below_the_reorder_level_emits_no_second_low_stock(
    client: httpx.AsyncClient, session: AsyncSession, admin_caller: Caller, customer: Customer
) -> None:
    product = await make_product(session, stock=2, reorder_level=3)
    order = await create_order(client, admin_caller.headers, customer.id, [(product.id, 1)])

    await act(client, admin_caller.headers, order["id"], "place")

    assert await outbox_events(session, "product.low_stock") == []
    assert await stock_of(session, product.id) == 1


async def test_a_refused_placement_emits_no_low_stock(
    client: httpx.AsyncClient, session: AsyncSession, admin_caller: Caller, customer: Customer
) -> None:
    low = await make_product(session, stock=4, reorder_level=3)
    short = await make_product(session, stock=0)
    order = await create_order(
        client, admin_caller.headers, customer.id, [(low.id, 2), (short.id, 1)]
    )

    assert (await act(client, admin_caller.headers, order["id"], "place")).status_code == 409

    assert await outbox_events(session, "product.low_stock") == []
