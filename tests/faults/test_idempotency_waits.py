"""A repeat that arrives while the first request under its key is still running."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time

import httpx
import pytest
from sqlalchemy import func, insert, select

from app.infra.db import LOCK_TIMEOUT_MS
from app.infra.retry_policy import RETRY_AFTER_SECONDS
from app.models import ApiToken, Customer, IdempotencyRecord
from app.models.base import utcnow
from tests.api.domain_helpers import assert_problem, token_caller
from tests.faults.conftest import ProxiedApp

pytestmark = pytest.mark.postgres
CUSTOMERS = "/api/v1/customers"
KEY = "still-running"


async def _caller(proxied: ProxiedApp) -> tuple[dict[str, str], str]:
    """Headers of a token caller, and the idempotency identity of that token."""
    async with proxied.database.sessionmaker() as session:
        user, headers = await token_caller(session)
        await session.commit()
        token_id = await session.scalar(select(ApiToken.id).where(ApiToken.user_id == user.id))
    return {**headers, "Idempotency-Key": KEY, "Content-Type": "application/json"}, (
        f"token:{token_id}"
    )


def _fingerprint(body: bytes) -> str:
    return hashlib.sha256(b"\n".join([CUSTOMERS.encode(), b"", body])).hexdigest()


def _first_request_row(principal_key: str, body: bytes, **response: object) -> dict[str, object]:
    """The record a first request under KEY writes: its claim, or its claim and answer."""
    now = utcnow()
    return {
        "principal_key": principal_key,
        "key": KEY,
        "method": "POST",
        "path": CUSTOMERS,
        "request_hash": _fingerprint(body),
        "response_headers": {},
        "created_at": now,
        "updated_at": now,
        "expires_at": now.replace(year=now.year + 1),
        **response,
    }


async def _customers(proxied: ProxiedApp) -> int:
    async with proxied.direct.connect() as connection:
        return int(await connection.scalar(select(func.count()).select_from(Customer)) or 0)


async def test_a_repeat_waits_for_the_first_to_commit_and_replays_its_answer(
    proxied: ProxiedApp, proxied_client: httpx.AsyncClient
) -> None:
    headers, principal_key = await _caller(proxied)
    body = json.dumps({"name": "Twice", "email": "twice@example.com"}).encode()
    first_answer = b'{"id": 4242, "from": "the first request"}'
    async with proxied.direct.connect() as first:
        # The first request: it has claimed the key and is about to commit its answer.
        await first.execute(
            insert(IdempotencyRecord).values(
                _first_request_row(
                    principal_key,
                    body,
                    response_status=201,
                    response_body=first_answer,
                    response_headers={"content-type": "application/json"},
                )
            )
        )
        repeat = asyncio.create_task(proxied_client.post(CUSTOMERS, content=body, headers=headers))
        await asyncio.sleep(0.5)
        assert not repeat.done()  # waiting on the first's uncommitted claim
        await first.commit()
        answer = await repeat

    assert answer.status_code == 201, answer.text
    assert answer.headers["idempotent-replayed"] == "true"
    assert answer.content == first_answer
    assert await _customers(proxied) == 0  # the repeat did not act


async def test_a_repeat_that_waits_too_long_is_told_in_progress_and_acts_not(
    proxied: ProxiedApp, proxied_client: httpx.AsyncClient
) -> None:
    headers, principal_key = await _caller(proxied)
    body = json.dumps({"name": "Slow", "email": "slow@example.com"}).encode()
    async with proxied.direct.connect() as first:
        await first.execute(
            insert(IdempotencyRecord).values(_first_request_row(principal_key, body))
        )
        started = time.monotonic()
        answer = await proxied_client.post(CUSTOMERS, content=body, headers=headers)
        waited = time.monotonic() - started
        await first.rollback()  # the first request failed without effect

    problem = assert_problem(answer, 409)
    assert problem["type"] == "/problems/idempotency-in-progress"
    assert answer.headers["retry-after"] == str(RETRY_AFTER_SECONDS)
    assert waited >= LOCK_TIMEOUT_MS / 1000 * 0.9
    assert await _customers(proxied) == 0
    # The first left nothing behind: the retry the answer asked for runs the request.
    retried = await proxied_client.post(CUSTOMERS, content=body, headers=headers)
    assert retried.status_code == 201, retried.text
    assert "idempotent-replayed" not in retried.headers
    assert await _customers(proxied) == 1
