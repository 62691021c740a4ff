"""A connection lost around COMMIT: re-run when safe, replayed when keyed, never doubled."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.models import AuditEvent, Customer, IdempotencyRecord
from tests.api.domain_helpers import assert_problem, token_caller
from tests.faults.conftest import ProxiedApp

pytestmark = pytest.mark.postgres
CUSTOMERS = "/api/v1/customers"
REPLAYED = "idempotent-replayed"


async def _caller(proxied: ProxiedApp) -> dict[str, str]:
    async with proxied.database.sessionmaker() as session:
        _, headers = await token_caller(session)
        await session.commit()
    return headers


async def _count(engine: AsyncEngine, email: str) -> tuple[int, int]:
    """Customers with `email`, and customer.created audit rows naming it."""
    async with engine.connect() as connection:
        customers = await connection.scalar(
            select(func.count()).select_from(Customer).where(Customer.email == email)
        )
        audits = await connection.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "customer.created")
        )
    return int(customers or 0), int(audits or 0)


def _body() -> dict[str, str]:
    return {"name": "Fault", "email": f"fault-{uuid.uuid4().hex[:8]}@example.com"}


def _is_commit(sql: str) -> bool:
    return sql.strip().rstrip(";").upper() == "COMMIT"


async def test_keyed_create_that_committed_as_the_connection_dropped_is_replayed_not_redone(
    proxied: ProxiedApp, proxied_client: httpx.AsyncClient
) -> None:
    headers = await _caller(proxied)
    body = _body()
    # The server commits; the app never hears "COMMIT" back: the outcome is unknown to it.
    trigger = proxied.proxy.arm("to_client", _is_commit)

    answer = await proxied_client.post(
        CUSTOMERS, json=body, headers={**headers, "Idempotency-Key": "drop-after-commit"}
    )

    assert trigger.fired == 1
    # Re-run at once (app/edge/retry.py): its claim found the committed record and replayed it.
    assert answer.status_code == 201, answer.text
    assert answer.headers[REPLAYED] == "true"
    assert await _count(proxied.direct, body["email"]) == (1, 1)
    later = await proxied_client.post(
        CUSTOMERS, json=body, headers={**headers, "Idempotency-Key": "drop-after-commit"}
    )
    assert later.status_code == 201
    assert later.json() == answer.json()
    assert await _count(proxied.direct, body["email"]) == (1, 1)


async def test_unkeyed_create_whose_commit_outcome_is_unknown_is_503_and_not_rerun(
    proxied: ProxiedApp, proxied_client: httpx.AsyncClient
) -> None:
    headers = await _caller(proxied)
    body = _body()
    proxied.proxy.arm("to_client", _is_commit)

    answer = await proxied_client.post(CUSTOMERS, json=body, headers=headers)

    # Running it again could create it twice; only the caller can decide (docs/deploy.md).
    problem = assert_problem(answer, 503)
    assert answer.headers["retry-after"]
    assert "SELECT" not in problem["detail"]
    assert await _count(proxied.direct, body["email"]) == (1, 1)


@pytest.mark.parametrize("keyed", [True, False], ids=["keyed", "unkeyed"])
async def test_connection_lost_before_the_server_had_the_work_is_rerun_once(
    proxied: ProxiedApp, proxied_client: httpx.AsyncClient, keyed: bool
) -> None:
    headers = await _caller(proxied)
    if keyed:
        headers["Idempotency-Key"] = f"lost-insert-{uuid.uuid4().hex}"
    body = _body()
    trigger = proxied.proxy.arm("to_server", lambda sql: "INSERT INTO customers" in sql)

    answer = await proxied_client.post(CUSTOMERS, json=body, headers=headers)

    assert trigger.fired == 1
    assert answer.status_code == 201, answer.text
    assert REPLAYED not in answer.headers
    assert await _count(proxied.direct, body["email"]) == (1, 1)


async def test_keyed_create_whose_commit_never_reached_the_server_runs_again(
    proxied: ProxiedApp, proxied_client: httpx.AsyncClient
) -> None:
    headers = await _caller(proxied)
    body = _body()
    trigger = proxied.proxy.arm("to_server", _is_commit)

    answer = await proxied_client.post(
        CUSTOMERS, json=body, headers={**headers, "Idempotency-Key": "commit-lost"}
    )

    assert trigger.fired == 1
    assert answer.status_code == 201, answer.text
    assert REPLAYED not in answer.headers  # the first attempt left nothing to replay
    assert await _count(proxied.direct, body["email"]) == (1, 1)
    async with proxied.direct.connect() as connection:
        records = await connection.scalar(
            select(func.count())
            .select_from(IdempotencyRecord)
            .where(IdempotencyRecord.key == "commit-lost")
        )
    assert records == 1


async def test_a_5xx_frees_the_key_at_once(
    proxied: ProxiedApp, proxied_client: httpx.AsyncClient
) -> None:
    headers = {**await _caller(proxied), "Idempotency-Key": "blip"}
    body = _body()
    # More drops than the retry policy has attempts: the caller gets 503.
    proxied.proxy.arm("to_server", lambda sql: "INSERT INTO customers" in sql, times=10)

    refused = await proxied_client.post(CUSTOMERS, json=body, headers=headers)
    proxied.proxy.triggers.clear()
    retried = await proxied_client.post(CUSTOMERS, json=body, headers=headers)

    assert_problem(refused, 503)
    assert refused.headers["retry-after"]
    # Not "in progress" for minutes: the failed attempt left no claim behind.
    assert retried.status_code == 201, retried.text
    assert await _count(proxied.direct, body["email"]) == (1, 1)


async def test_requests_after_every_connection_was_terminated_succeed(
    proxied: ProxiedApp, proxied_client: httpx.AsyncClient
) -> None:
    headers = await _caller(proxied)
    assert (await proxied_client.get(CUSTOMERS, headers=headers)).status_code == 200
    # What a database restart does to a pool: every connection it had is gone.
    async with proxied.direct.connect() as connection:
        database = await connection.scalar(select(func.current_database()))
        await connection.exec_driver_sql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            f"WHERE datname = '{database}' AND pid <> pg_backend_pid()"
        )
    await asyncio.sleep(0.2)

    answers = [
        await proxied_client.get(CUSTOMERS, headers=headers),
        await proxied_client.post(CUSTOMERS, json=_body(), headers=headers),
        await proxied_client.get("/api/v1/products", headers=headers),
    ]

    assert [a.status_code for a in answers] == [200, 201, 200], [a.text for a in answers]
