"""Idempotency-Key on POST (SPEC §6): replay, conflicts, per-caller scope, concurrency."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.api.idempotency import NOT_STORED_STATUSES
from app.models import (
    AuditEvent,
    Customer,
    IdempotencyRecord,
)
from app.models.base import utcnow
from tests.api.domain_helpers import assert_problem, token_caller
from tests.api.live import LiveApp
from tests.factories import make_customer, make_product

CUSTOMERS = "/api/v1/customers"
PRODUCTS = "/api/v1/products"
REPLAYED = "idempotent-replayed"


def keyed(headers: dict[str, str], key: str) -> dict[str, str]:
    return {**headers, "Idempotency-Key": key}


async def customers_named(session: AsyncSession, email: str) -> int:
    statement = select(func.count()).select_from(Customer).where(Customer.email == email)
    return int((await session.execute(statement)).scalar_one())


# --- replay --------------------------------------------------------------------------------


async def test_repeat_with_same_key_and_body_replays_the_first_response(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    _, admin = await token_caller(session)
    body = {"name": "Once", "email": "once@example.com"}

    first = await client.post(CUSTOMERS, json=body, headers=keyed(admin, "create-once-1"))
    second = await client.post(CUSTOMERS, json=body, headers=keyed(admin, "create-once-1"))

    assert first.status_code == 201, first.text
    assert REPLAYED not in first.headers
    assert second.status_code == 201
    assert second.headers[REPLAYED] == "true"
    assert second.json() == first.json()
    assert second.headers["location"] == first.headers["location"]
    assert second.headers["etag"] == first.headers["etag"]
    assert await customers_named(session, "once@example.com") == 1
    created = select(func.count()).where(AuditEvent.action == "customer.created")
    assert (await session.execute(created)).scalar_one() == 1


async def test_without_a_key_a_repeat_acts_again(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    customer = await make_customer(session)
    _, admin = await token_caller(session)

    first = await client.post("/api/v1/orders", json={"customer_id": customer.id}, headers=admin)
    second = await client.post("/api/v1/orders", json={"customer_id": customer.id}, headers=admin)

    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json()["id"] != second.json()["id"]


async def test_same_key_with_a_different_body_is_422_and_acts_not(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    _, admin = await token_caller(session)
    await client.post(
        CUSTOMERS, json={"name": "A", "email": "a@example.com"}, headers=keyed(admin, "k-422")
    )

    response = await client.post(
        CUSTOMERS, json={"name": "B", "email": "b@example.com"}, headers=keyed(admin, "k-422")
    )

    body = assert_problem(response, 422)
    assert "different request" in body["detail"]
    assert await customers_named(session, "b@example.com") == 0


async def test_same_key_on_another_endpoint_is_422(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    _, admin = await token_caller(session)
    await client.post(
        CUSTOMERS, json={"name": "A", "email": "a@example.com"}, headers=keyed(admin, "k-path")
    )

    response = await client.post(
        PRODUCTS,
        json={"sku": "KEY-001", "name": "P", "price": "1.00"},
        headers=keyed(admin, "k-path"),
    )

    assert_problem(response, 422)


async def test_keys_are_scoped_to_the_caller(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    _, alice = await token_caller(session)
    _, bob = await token_caller(session)

    by_alice = await client.post(
        CUSTOMERS, json={"name": "A", "email": "alice-c@example.com"}, headers=keyed(alice, "k")
    )
    by_bob = await client.post(
        CUSTOMERS, json={"name": "B", "email": "bob-c@example.com"}, headers=keyed(bob, "k")
    )

    assert (by_alice.status_code, by_bob.status_code) == (201, 201)
    assert REPLAYED not in by_bob.headers
    assert by_alice.json()["id"] != by_bob.json()["id"]


async def test_the_same_body_from_another_caller_is_not_a_replay(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    customer = await make_customer(session)
    _, alice = await token_caller(session)
    _, bob = await token_caller(session)
    body = {"customer_id": customer.id}

    first = await client.post("/api/v1/orders", json=body, headers=keyed(alice, "same"))
    second = await client.post("/api/v1/orders", json=body, headers=keyed(bob, "same"))

    assert (first.status_code, second.status_code) == (201, 201)
    assert REPLAYED not in second.headers
    assert first.json()["id"] != second.json()["id"]


async def test_an_anonymous_refusal_does_not_claim_the_key_for_a_real_caller(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    _, admin = await token_caller(session)
    body = {"name": "Late", "email": "late@example.com"}

    refused = await client.post(CUSTOMERS, json=body, headers={"Idempotency-Key": "k-anon"})
    accepted = await client.post(CUSTOMERS, json=body, headers=keyed(admin, "k-anon"))

    assert_problem(refused, 401)
    assert accepted.status_code == 201, accepted.text
    assert REPLAYED not in accepted.headers


# --- which first responses are kept --------------------------------------------------------


async def test_a_validation_error_is_replayed_too(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    _, admin = await token_caller(session)
    body = {"name": "", "email": "nope"}

    first = await client.post(CUSTOMERS, json=body, headers=keyed(admin, "k-bad"))
    second = await client.post(CUSTOMERS, json=body, headers=keyed(admin, "k-bad"))

    assert_problem(first, 422)
    assert second.status_code == 422
    assert second.headers[REPLAYED] == "true"
    assert second.json() == first.json()


async def test_a_conflict_is_kept_so_a_repeat_gets_it_even_once_it_is_resolved(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    # SPEC §6: a repeat returns the first response. A 409 is a final answer like any other
    # (a keyed `place` refused for stock must not succeed on a later repeat); acting again
    # takes a new key.
    assert 409 not in NOT_STORED_STATUSES
    taken = await make_product(session, sku="DUP-777")
    _, admin = await token_caller(session)
    body = {"sku": "DUP-777", "name": "Mine", "price": "2.00"}

    conflict = await client.post(PRODUCTS, json=body, headers=keyed(admin, "k-dup"))
    await client.delete(f"{PRODUCTS}/{taken.id}", headers=admin)
    again = await client.post(PRODUCTS, json=body, headers=keyed(admin, "k-dup"))
    fresh = await client.post(PRODUCTS, json=body, headers=keyed(admin, "k-dup-2"))

    assert assert_problem(conflict, 409)["field"] == "sku"
    assert again.status_code == 409
    assert again.headers[REPLAYED] == "true"
    assert again.json() == conflict.json()
    assert fresh.status_code == 201, fresh.text
    assert REPLAYED not in fresh.headers


async def test_an_expired_record_lets_the_key_act_again(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    customer = await make_customer(session)
    _, admin = await token_caller(session)
    body = {"customer_id": customer.id}
    first = await client.post("/api/v1/orders", json=body, headers=keyed(admin, "k-old"))
    await session.execute(
        update(IdempotencyRecord)
        .where(IdempotencyRecord.key == "k-old")
        .values(expires_at=utcnow() - timedelta(seconds=1))
    )

    second = await client.post("/api/v1/orders", json=body, headers=keyed(admin, "k-old"))

    assert second.status_code == 201, second.text
    assert REPLAYED not in second.headers
    assert second.json()["id"] != first.json()["id"]


# --- the key itself ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    [b"has spaces", b"x" * 256, b"", b"\xd0\xba\xd0\xbb\xd1\x8e\xd1\x87", b"tab\there"],
    ids=["spaces", "256-chars", "empty", "non-ascii", "tab"],
)
async def test_invalid_key_is_400_and_acts_not(
    client: httpx.AsyncClient, session: AsyncSession, key: bytes
) -> None:
    _, admin = await token_caller(session)

    response = await client.post(
        CUSTOMERS,
        json={"name": "K", "email": "k@example.com"},
        headers={**admin, "Idempotency-Key": key},
    )

    assert "Idempotency-Key" in assert_problem(response, 400)["detail"]
    assert await customers_named(session, "k@example.com") == 0


@pytest.mark.parametrize(
    "key", ["x" * 255, "a", "!#$%&'*+-.^_`|~", "0b7e5b1c-3f3a-4c1e-9d5e-2b8f6a7c9d10"]
)
async def test_keys_of_1_to_255_visible_ascii_characters_are_accepted(
    client: httpx.AsyncClient, session: AsyncSession, key: str
) -> None:
    _, admin = await token_caller(session)

    response = await client.post(
        CUSTOMERS, json={"name": "K", "email": "k@example.com"}, headers=keyed(admin, key)
    )

    assert response.status_code == 201, response.text


async def test_a_key_on_a_patch_is_ignored(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    customer = await make_customer(session)
    _, admin = await token_caller(session)

    response = await client.patch(
        f"{CUSTOMERS}/{customer.id}",
        json={"notes": "x"},
        headers=keyed(admin, "not a valid key but not a POST"),
    )

    assert response.status_code == 200, response.text


# --- concurrency (a committed SQLite file and PostgreSQL database: tests/api/live.py) ------


async def test_concurrent_identical_posts_with_one_key_create_one_row(
    live: LiveApp, live_client: httpx.AsyncClient
) -> None:
    database = live.database
    async with database.sessionmaker() as session:
        _, admin = await token_caller(session)
        await session.commit()
    email = f"race-{uuid.uuid4().hex[:8]}@example.com"
    body = {"name": "Race", "email": email}
    headers = keyed(admin, f"race-{uuid.uuid4()}")
    responses = await asyncio.gather(
        *(live_client.post(CUSTOMERS, json=body, headers=headers) for _ in range(20))
    )

    # Each repeat waits for the first to commit, then gets what it recorded.
    statuses = sorted(response.status_code for response in responses)
    assert set(statuses) == {201}, statuses
    originals = [r for r in responses if REPLAYED not in r.headers]
    assert len(originals) == 1, statuses
    assert all(r.json() == originals[0].json() for r in responses)
    async with database.sessionmaker() as session:
        assert await customers_named(session, email) == 1
