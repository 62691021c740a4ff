"""The audit log over the API (SPEC §6, §9): audit:read only, filters, newest first, keyset
pages, and no way to write, change or delete an event — on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import AuditEvent
from tests.api.order_helpers import Caller, caller, count_audit_rows
from tests.factories import make_customer

AUDIT = "/api/v1/audit-events"


@pytest.fixture
async def manager(session: AsyncSession) -> Caller:
    return await caller(session, "manager")


@pytest.fixture
def scope() -> str:
    """A resource type no other row has: every query below is narrowed to this test's rows."""
    return f"probe-{uuid.uuid4().hex[:12]}"


async def add_event(session: AsyncSession, scope: str, **fields: Any) -> AuditEvent:
    values: dict[str, Any] = {
        "channel": "api",
        "action": "probe.touched",
        "resource_type": scope,
        "resource_id": "1",
        "changes": {},
    }
    values.update(fields)
    event = AuditEvent(**values)
    session.add(event)
    await session.flush()
    return event


async def listed_ids(
    client: httpx.AsyncClient, who: Caller, scope: str, **params: str
) -> list[int]:
    response = await client.get(
        AUDIT, params={"resource_type": scope, "limit": "200", **params}, headers=who.headers
    )
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


# --- who may read ------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["manager", "admin"])
async def test_roles_with_audit_read_can_list_the_log(
    client: httpx.AsyncClient, session: AsyncSession, role: str
) -> None:
    who = await caller(session, role)

    response = await client.get(AUDIT, headers=who.headers)

    assert response.status_code == 200, response.text
    assert set(response.json()) >= {"items", "next_cursor"}


@pytest.mark.parametrize("role", ["viewer", "clerk", None])
async def test_roles_without_audit_read_get_403(
    client: httpx.AsyncClient, session: AsyncSession, role: str | None
) -> None:
    who = await caller(session, role)

    response = await client.get(AUDIT, headers=who.headers)

    assert response.status_code == 403, response.text
    assert "audit:read" in response.json()["detail"]


async def test_an_anonymous_caller_gets_401(client: httpx.AsyncClient) -> None:
    assert (await client.get(AUDIT)).status_code == 401


# --- what an event looks like ------------------------------------------------------------------


async def test_an_api_change_shows_up_with_its_actor_channel_and_diff(
    client: httpx.AsyncClient, session: AsyncSession, manager: Caller
) -> None:
    created = await client.post(
        "/api/v1/products",
        json={"sku": "AUDIT-001", "name": "Audited", "price": "1.00"},
        headers={**manager.headers, "X-Request-ID": "audit-trail-1"},
    )
    assert created.status_code == 201, created.text

    response = await client.get(
        AUDIT,
        params={"resource_type": "product", "resource_id": str(created.json()["id"])},
        headers=manager.headers,
    )

    (item,) = response.json()["items"]
    assert item["action"] == "product.created"
    assert item["channel"] == "api"
    assert item["actor_user_id"] == manager.user.id
    assert item["actor_email"] == manager.user.email
    assert item["token_id"] == manager.token_id
    assert item["request_id"] == "audit-trail-1"
    assert item["changes"]["sku"] == [None, "AUDIT-001"]
    assert datetime.fromisoformat(item["occurred_at"]).tzinfo is not None


# --- filters -----------------------------------------------------------------------------------


async def test_filter_by_actor_user_id(
    client: httpx.AsyncClient, session: AsyncSession, manager: Caller, scope: str
) -> None:
    mine = await add_event(session, scope, actor_user_id=4242)
    await add_event(session, scope, actor_user_id=4343)
    await add_event(session, scope)

    assert await listed_ids(client, manager, scope, actor_user_id="4242") == [mine.id]


async def test_filter_by_action(
    client: httpx.AsyncClient, session: AsyncSession, manager: Caller, scope: str
) -> None:
    paid = await add_event(session, scope, action="order.paid")
    await add_event(session, scope, action="order.placed")

    assert await listed_ids(client, manager, scope, action="order.paid") == [paid.id]


@pytest.mark.parametrize("channel", ["admin", "api", "cli", "system"])
async def test_filter_by_channel(
    client: httpx.AsyncClient, session: AsyncSession, manager: Caller, scope: str, channel: str
) -> None:
    events = {name: await add_event(session, scope, channel=name) for name in ("admin", "api")}
    events |= {name: await add_event(session, scope, channel=name) for name in ("cli", "system")}

    assert await listed_ids(client, manager, scope, channel=channel) == [events[channel].id]


async def test_filter_by_resource_type_and_id(
    client: httpx.AsyncClient, session: AsyncSession, manager: Caller, scope: str
) -> None:
    seven = await add_event(session, scope, resource_id="7")
    await add_event(session, scope, resource_id="8")
    await add_event(session, f"{scope}-other", resource_id="7")

    assert await listed_ids(client, manager, scope, resource_id="7") == [seven.id]


async def test_filter_by_occurred_at_range(
    client: httpx.AsyncClient, session: AsyncSession, manager: Caller, scope: str
) -> None:
    def at(month: int) -> datetime:
        return datetime(2021, month, 1, tzinfo=UTC)

    january, march, may = [await add_event(session, scope, occurred_at=at(m)) for m in (1, 3, 5)]

    assert await listed_ids(
        client,
        manager,
        scope,
        occurred_at_gte="2021-02-01T00:00:00Z",
        occurred_at_lte="2021-04-01T00:00:00+00:00",
    ) == [march.id]
    assert await listed_ids(client, manager, scope, occurred_at_gte="2021-03-01T00:00:00Z") == [
        may.id,
        march.id,
    ]
    assert await listed_ids(client, manager, scope, occurred_at_lte="2021-03-01T00:00:00Z") == [
        march.id,
        january.id,
    ]


async def test_filters_combine(
    client: httpx.AsyncClient, session: AsyncSession, manager: Caller, scope: str
) -> None:
    both = await add_event(session, scope, actor_user_id=77, action="customer.updated")
    await add_event(session, scope, actor_user_id=77, action="customer.deleted")
    await add_event(session, scope, actor_user_id=78, action="customer.updated")

    assert await listed_ids(
        client, manager, scope, actor_user_id="77", action="customer.updated"
    ) == [both.id]


@pytest.mark.parametrize(
    "params",
    [
        {"occurred_at_gte": "yesterday"},
        {"occurred_at_gte": "2021-01-01T00:00:00"},  # no offset
        {"actor_user_id": "me"},
        {"changes": "x"},
        {"sort": "action"},
    ],
)
async def test_a_bad_filter_is_422(
    client: httpx.AsyncClient, manager: Caller, params: dict[str, str]
) -> None:
    response = await client.get(AUDIT, params=params, headers=manager.headers)

    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["loc"][0] == "query"


# --- order and pages ---------------------------------------------------------------------------


async def test_newest_events_come_first_by_default(
    client: httpx.AsyncClient, session: AsyncSession, manager: Caller, scope: str
) -> None:
    events = [await add_event(session, scope, resource_id=str(n)) for n in range(4)]

    assert await listed_ids(client, manager, scope) == [e.id for e in reversed(events)]


async def test_sorting_by_occurred_at_ascending(
    client: httpx.AsyncClient, session: AsyncSession, manager: Caller, scope: str
) -> None:
    later = await add_event(session, scope, occurred_at=datetime(2022, 6, 1, tzinfo=UTC))
    earlier = await add_event(session, scope, occurred_at=datetime(2022, 1, 1, tzinfo=UTC))

    assert await listed_ids(client, manager, scope, sort="occurred_at") == [earlier.id, later.id]


@pytest.mark.parametrize("sort", ["-id", "id", "occurred_at", "-occurred_at"])
async def test_paging_returns_every_event_once(
    client: httpx.AsyncClient, session: AsyncSession, manager: Caller, scope: str, sort: str
) -> None:
    moments = [datetime(2023, 1, 1 + n % 3, tzinfo=UTC) for n in range(7)]  # ties included
    events = [await add_event(session, scope, occurred_at=moment) for moment in moments]
    seen: list[int] = []
    cursor: str | None = None
    pages = 0

    while True:
        params = {"resource_type": scope, "limit": "3", "sort": sort}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get(AUDIT, params=params, headers=manager.headers)).json()
        seen += [item["id"] for item in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert pages == 3
    assert sorted(seen) == sorted(e.id for e in events)
    assert len(seen) == len(set(seen))
    assert seen == await listed_ids(client, manager, scope, sort=sort)


async def test_include_total_counts_the_filtered_events(
    client: httpx.AsyncClient, session: AsyncSession, manager: Caller, scope: str
) -> None:
    for _ in range(3):
        await add_event(session, scope)

    response = await client.get(
        AUDIT,
        params={"resource_type": scope, "limit": "1", "include_total": "true"},
        headers=manager.headers,
    )

    assert response.json()["total"] == 3
    assert len(response.json()["items"]) == 1


# --- append-only -------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
async def test_the_log_cannot_be_written_through_the_api(
    client: httpx.AsyncClient, session: AsyncSession, method: str
) -> None:
    admin = await caller(session, "admin")
    customer = await make_customer(session)
    event = await add_event(session, "customer", resource_id=str(customer.id))
    before = await count_audit_rows(session)
    body = {"action": "customer.forged", "channel": "api"} if method != "DELETE" else None

    on_collection = await client.request(method, AUDIT, json=body, headers=admin.headers)
    on_row = await client.request(method, f"{AUDIT}/{event.id}", json=body, headers=admin.headers)

    assert on_collection.status_code == 405, on_collection.text
    assert "GET" in on_collection.headers["allow"]
    assert on_row.status_code in {404, 405}, on_row.text
    assert await count_audit_rows(session) == before
    await session.refresh(event)
    assert event.action == "probe.touched"
