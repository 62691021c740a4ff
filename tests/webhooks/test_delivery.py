"""Webhook delivery end to end: outbox rows committed by the services, a worker pass, and a
real HTTP receiver on localhost (the documented example receiver, which verifies signatures)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from app.auth.principal import Principal
from app.infra.db import transaction
from app.main import create_app
from app.models import WebhookEvent
from app.orders.service import transition
from app.webhooks.delivery import GIVE_UP_AFTER
from tests.api.domain_helpers import token_caller
from tests.factories import make_customer, make_order, make_product
from tests.webhooks.conftest import CommittedDatabase
from tests.webhooks.helpers import (
    add_endpoint,
    age_delivery,
    age_failure_streak,
    deliveries,
    emit_committed,
    endpoint,
    events,
    make_due,
    only_delivery,
    run_once,
    worker_settings,
)
from tests.webhooks.receivers import Behaviour, running_receiver

BASE_SECONDS = 10.0


@pytest.fixture
async def api(
    committed: CommittedDatabase,
) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, str]]]:
    """An API client on the committed database and an admin's Authorization header."""
    app = create_app(worker_settings(committed.url), committed.database)
    async with transaction(committed.database.sessionmaker) as session:
        _, headers = await token_caller(session, "admin")
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client, headers


async def _stocked(committed: CommittedDatabase, **product: Any) -> tuple[int, int]:
    """A committed customer and product; returns their ids."""
    async with transaction(committed.database.sessionmaker) as session:
        customer = await make_customer(session)
        item = await make_product(session, **product)
    return customer.id, item.id


async def test_placing_an_order_delivers_a_signed_order_placed_event(
    committed: CommittedDatabase, api: tuple[httpx.AsyncClient, dict[str, str]]
) -> None:
    client, headers = api
    settings = worker_settings(committed.url)
    customer_id, product_id = await _stocked(committed, stock=5)
    with running_receiver() as receiver:
        endpoint_id, secret = await add_endpoint(
            committed.database, settings, receiver.url, ["order.placed"]
        )
        receiver.set_secret(secret)
        created = await client.post(
            "/api/v1/orders",
            json={"customer_id": customer_id, "items": [{"product_id": product_id, "quantity": 2}]},
            headers=headers,
        )
        assert created.status_code == 201, created.text
        order_id = created.json()["id"]
        placed = await client.post(f"/api/v1/orders/{order_id}/place", headers=headers)
        assert placed.status_code == 200, placed.text

        assert await run_once(committed.database, settings) == 1

    # The example receiver keeps an event only after its signature and timestamp check out.
    assert receiver.behaviour.statuses() == [200]
    [event] = receiver.events
    assert set(event) == {"id", "type", "created_at", "data"}
    assert event["type"] == "order.placed"
    assert event["data"]["order"]["id"] == order_id
    assert event["data"]["order"]["status"] == "placed"
    assert event["data"]["order"]["items"] == [
        {"product_id": product_id, "quantity": 2, "unit_price": "9.99"}
    ]
    sent = receiver.behaviour.requests[0].headers
    assert sent["Backoffice-Event-Id"] == event["id"]
    assert sent["Backoffice-Signature"].startswith("v1=")
    assert sent["Content-Type"] == "application/json"
    delivery = await only_delivery(committed.database)
    assert (delivery.endpoint_id, delivery.status, delivery.attempt_count) == (
        endpoint_id,
        "succeeded",
        1,
    )
    assert delivery.attempts[0]["status_code"] == 200


async def test_a_receiver_with_the_wrong_secret_refuses_the_signature(
    committed: CommittedDatabase,
) -> None:
    settings = worker_settings(committed.url)
    with running_receiver() as receiver:
        await add_endpoint(committed.database, settings, receiver.url, ["customer.created"])
        receiver.set_secret("whsec_not-the-one-we-were-given")
        await emit_committed(committed.database, "customer.created", {"customer": {"id": 1}})
        await run_once(committed.database, settings)
    assert receiver.behaviour.statuses() == [400]
    assert receiver.events == []
    assert (await only_delivery(committed.database)).status == "pending"


async def test_failures_are_retried_once_each_with_growing_delays_until_one_success(
    committed: CommittedDatabase,
) -> None:
    settings = worker_settings(committed.url, webhook_retry_base_seconds=BASE_SECONDS)
    with running_receiver(Behaviour(fail_times=3)) as receiver:
        _, secret = await add_endpoint(committed.database, settings, receiver.url)
        receiver.set_secret(secret)
        await emit_committed(committed.database, "customer.created", {"customer": {"id": 7}})
        delays = []
        for attempt in range(1, 4):
            assert await run_once(committed.database, settings) == 1
            assert len(receiver.behaviour.requests) == attempt
            delivery = await only_delivery(committed.database)
            assert (delivery.status, delivery.attempt_count) == ("pending", attempt)
            sent_at = delivery.attempts[-1]["at"]
            delays.append(
                (delivery.next_attempt_at - datetime.fromisoformat(sent_at)).total_seconds()
            )
            # Not due yet: an immediate second pass sends nothing.
            assert await run_once(committed.database, settings) == 0
            assert len(receiver.behaviour.requests) == attempt
            await make_due(committed.database)
        assert await run_once(committed.database, settings) == 1
        await make_due(committed.database)
        assert await run_once(committed.database, settings) == 0

    assert receiver.behaviour.statuses() == [500, 500, 500, 200]
    assert len({r.headers["Backoffice-Event-Id"] for r in receiver.behaviour.requests}) == 1
    assert len(receiver.events) == 1
    for delay, expected in zip(
        delays, (BASE_SECONDS, 2 * BASE_SECONDS, 4 * BASE_SECONDS), strict=True
    ):
        assert 0.8 * expected <= delay <= 1.2 * expected + 1, delays
    delivery = await only_delivery(committed.database)
    assert (delivery.status, delivery.attempt_count) == ("succeeded", 4)
    assert [a["status_code"] for a in delivery.attempts] == [500, 500, 500, 200]
    assert delivery.attempts[0]["excerpt"] == "try again later"


async def test_a_rolled_back_placement_delivers_nothing(
    committed: CommittedDatabase,
) -> None:
    settings = worker_settings(committed.url)
    async with transaction(committed.database.sessionmaker) as session:
        order = await make_order(session, items=[(await make_product(session, stock=5), 1)])
    with running_receiver() as receiver:
        await add_endpoint(committed.database, settings, receiver.url, ["order.placed"])
        with pytest.raises(RuntimeError, match="after the placement"):
            async with transaction(committed.database.sessionmaker) as session:
                await transition(
                    session, Principal.system(), order.id, "place", expected_version=None
                )
                written = (await session.execute(select(WebhookEvent.type))).scalars().all()
                assert written == ["order.placed"]
                raise RuntimeError("something failed after the placement")
        assert await run_once(committed.database, settings) == 0
    assert receiver.behaviour.requests == []
    assert await events(committed.database) == []
    assert await deliveries(committed.database) == []


async def test_a_failed_placement_through_the_api_delivers_nothing(
    committed: CommittedDatabase, api: tuple[httpx.AsyncClient, dict[str, str]]
) -> None:
    client, headers = api
    settings = worker_settings(committed.url)
    customer_id, product_id = await _stocked(committed, stock=1)
    with running_receiver() as receiver:
        await add_endpoint(committed.database, settings, receiver.url, ["order.placed"])
        created = await client.post(
            "/api/v1/orders",
            json={"customer_id": customer_id, "items": [{"product_id": product_id, "quantity": 3}]},
            headers=headers,
        )
        assert created.status_code == 201, created.text
        placed = await client.post(f"/api/v1/orders/{created.json()['id']}/place", headers=headers)
        assert placed.status_code == 409, placed.text
        assert await run_once(committed.database, settings) == 0
    assert receiver.behaviour.requests == []
    assert [e.type for e in await events(committed.database)] == []


async def test_a_delivery_failing_for_24_hours_is_marked_failed(
    committed: CommittedDatabase,
) -> None:
    settings = worker_settings(committed.url)
    with running_receiver(Behaviour(fail_times=100)) as receiver:
        await add_endpoint(committed.database, settings, receiver.url)
        await emit_committed(committed.database, "customer.created", {"customer": {"id": 1}})
        assert await run_once(committed.database, settings) == 1
        first = await only_delivery(committed.database)
        assert first.status == "pending"
        await age_delivery(committed.database, first.id, GIVE_UP_AFTER)
        await make_due(committed.database)
        assert await run_once(committed.database, settings) == 1
        await make_due(committed.database)
        assert await run_once(committed.database, settings) == 0
    delivery = await only_delivery(committed.database)
    assert (delivery.status, delivery.attempt_count, delivery.last_status_code) == (
        "failed",
        2,
        500,
    )
    assert len(receiver.behaviour.requests) == 2


async def test_an_endpoint_failing_for_24_hours_straight_is_disabled(
    committed: CommittedDatabase,
) -> None:
    settings = worker_settings(committed.url)
    with running_receiver(Behaviour(fail_times=100)) as receiver:
        endpoint_id, _ = await add_endpoint(committed.database, settings, receiver.url)
        await emit_committed(committed.database, "customer.created", {"customer": {"id": 1}})
        await run_once(committed.database, settings)
        streak = await endpoint(committed.database, endpoint_id)
        assert streak.is_active and streak.failing_since is not None
        await age_failure_streak(committed.database, endpoint_id, timedelta(hours=23))
        await make_due(committed.database)
        await run_once(committed.database, settings)
        assert (await endpoint(committed.database, endpoint_id)).is_active
        await age_failure_streak(committed.database, endpoint_id, timedelta(hours=1))
        await make_due(committed.database)
        await run_once(committed.database, settings)
        # A disabled endpoint is not offered new events.
        await emit_committed(committed.database, "customer.created", {"customer": {"id": 2}})
    disabled = await endpoint(committed.database, endpoint_id)
    assert not disabled.is_active
    assert disabled.disabled_at is not None
    assert "24 hours" in disabled.disabled_reason
    assert len(await deliveries(committed.database)) == 1


async def test_a_success_ends_the_failure_streak(committed: CommittedDatabase) -> None:
    settings = worker_settings(committed.url)
    with running_receiver(Behaviour(fail_times=1)) as receiver:
        endpoint_id, secret = await add_endpoint(committed.database, settings, receiver.url)
        receiver.set_secret(secret)
        await emit_committed(committed.database, "customer.created", {"customer": {"id": 1}})
        await run_once(committed.database, settings)
        assert (await endpoint(committed.database, endpoint_id)).failing_since is not None
        await make_due(committed.database)
        await run_once(committed.database, settings)
    assert (await endpoint(committed.database, endpoint_id)).failing_since is None


async def test_resending_a_failed_delivery_through_the_api_delivers_it(
    committed: CommittedDatabase, api: tuple[httpx.AsyncClient, dict[str, str]]
) -> None:
    client, headers = api
    settings = worker_settings(committed.url)
    with running_receiver(Behaviour(fail_times=1)) as receiver:
        _, secret = await add_endpoint(committed.database, settings, receiver.url)
        receiver.set_secret(secret)
        await emit_committed(committed.database, "customer.created", {"customer": {"id": 3}})
        delivery = await only_delivery(committed.database)
        await age_delivery(committed.database, delivery.id, GIVE_UP_AFTER)
        await run_once(committed.database, settings)
        assert (await only_delivery(committed.database)).status == "failed"

        response = await client.post(
            f"/api/v1/webhooks/deliveries/{delivery.id}/resend", headers=headers
        )
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "pending"
        again = await client.post(
            f"/api/v1/webhooks/deliveries/{delivery.id}/resend", headers=headers
        )
        assert again.status_code == 409, again.text
        assert await run_once(committed.database, settings) == 1

    resent = await only_delivery(committed.database)
    assert (resent.status, resent.attempt_count) == ("succeeded", 2)
    assert [a["status_code"] for a in resent.attempts] == [500, 200]
    assert [e["data"] for e in receiver.events] == [{"customer": {"id": 3}}]


async def test_low_stock_fires_once_when_stock_crosses_the_reorder_level(
    committed: CommittedDatabase,
) -> None:
    settings = worker_settings(committed.url)
    async with transaction(committed.database.sessionmaker) as session:
        product = await make_product(session, stock=10, reorder_level=5)
        orders = [
            (await make_order(session, items=[(product, quantity)])).id for quantity in (4, 2, 1)
        ]
    with running_receiver() as receiver:
        _, secret = await add_endpoint(
            committed.database, settings, receiver.url, ["product.low_stock"]
        )
        receiver.set_secret(secret)
        for order_id in orders:  # stock 10 → 6 (above), → 4 (crosses), → 3 (already below)
            async with transaction(committed.database.sessionmaker) as session:
                await transition(
                    session, Principal.system(), order_id, "place", expected_version=None
                )
        assert await run_once(committed.database, settings) == 1
    [event] = receiver.events
    assert event["type"] == "product.low_stock"
    assert event["data"]["product"] == {
        "id": product.id,
        "sku": product.sku,
        "name": product.name,
        "stock": 4,
        "reorder_level": 5,
    }
    low = [e for e in await events(committed.database) if e.type == "product.low_stock"]
    assert len(low) == 1


async def test_ping_through_the_api_queues_one_delivery_to_that_endpoint_only(
    committed: CommittedDatabase, api: tuple[httpx.AsyncClient, dict[str, str]]
) -> None:
    client, headers = api
    settings = worker_settings(committed.url)
    with running_receiver() as pinged, running_receiver() as other:
        pinged_id, secret = await add_endpoint(committed.database, settings, pinged.url)
        pinged.set_secret(secret)
        await add_endpoint(committed.database, settings, other.url)
        response = await client.post(f"/api/v1/webhooks/{pinged_id}/ping", headers=headers)
        assert response.status_code == 202, response.text
        assert response.json()["endpoint_id"] == pinged_id
        assert await run_once(committed.database, settings) == 1
    assert [e["type"] for e in pinged.events] == ["ping"]
    assert pinged.events[0]["data"]["endpoint_id"] == pinged_id
    assert other.behaviour.requests == []
    assert [d.endpoint_id for d in await deliveries(committed.database)] == [pinged_id]
