"""No secret at rest, no replay without a live credential (SPEC §14), as the attacker tries it.

Attacks: read a database copy for tokens kept by the idempotency layer; replay a stored
token response with a revoked parent token; fill the table anonymously.
"""

from __future__ import annotations

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import ApiToken, IdempotencyRecord
from tests.api.domain_helpers import assert_problem, token_caller
from tests.auth_helpers import access_token, bearer
from tests.factories import DEFAULT_PASSWORD, make_user

TOKENS = "/api/v1/me/tokens"


async def records(session: AsyncSession) -> list[IdempotencyRecord]:
    statement = select(IdempotencyRecord).execution_options(populate_existing=True)
    return list((await session.execute(statement)).scalars())


async def token_count(session: AsyncSession, user_id: int) -> int:
    statement = select(func.count()).select_from(ApiToken).where(ApiToken.user_id == user_id)
    return int((await session.execute(statement)).scalar_one())


def stored_text(record: IdempotencyRecord) -> str:
    return repr(record.response_body) + repr(record.response_headers)


async def test_a_new_token_is_never_stored_and_a_repeat_cannot_fetch_it(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user, headers = await token_caller(session)
    keyed = {**headers, "Idempotency-Key": "mint-1"}

    first = await client.post(TOKENS, json={"name": "child"}, headers=keyed)
    repeat = await client.post(TOKENS, json={"name": "child"}, headers=keyed)

    assert first.status_code == 201, first.text
    plaintext = first.json()["token"]
    body = assert_problem(repeat, 409)
    assert body["type"] == "/problems/idempotency-not-replayable"
    assert plaintext not in repeat.text
    [record] = await records(session)
    assert record.response_body is None and plaintext not in stored_text(record)
    assert await token_count(session, user.id) == 2  # the caller's own, and one child


async def test_a_revoked_parent_token_cannot_replay_what_it_was_given(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user, parent = await token_caller(session)
    created = await client.post(
        "/api/v1/customers",
        json={"name": "Kept", "email": "kept@example.com"},
        headers={**parent, "Idempotency-Key": "c-1"},
    )
    assert created.status_code == 201, created.text
    [parent_row] = (
        await session.execute(select(ApiToken).where(ApiToken.user_id == user.id))
    ).scalars()
    admin_headers = bearer(await access_token(client, user.email))
    revoked = await client.delete(f"{TOKENS}/{parent_row.id}", headers=admin_headers)
    assert revoked.status_code == 204, revoked.text

    replay = await client.post(
        "/api/v1/customers",
        json={"name": "Kept", "email": "kept@example.com"},
        headers={**parent, "Idempotency-Key": "c-1"},
    )

    assert_problem(replay, 401)
    assert "kept@example.com" not in replay.text


async def test_oauth_token_responses_are_never_stored(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session)
    form = {"username": user.email, "password": DEFAULT_PASSWORD}

    issued = await client.post(
        "/api/v1/auth/token", data=form, headers={"Idempotency-Key": "login-1"}
    )
    refreshed = await client.post(
        "/api/v1/auth/refresh",
        json={"refresh_token": issued.json()["refresh_token"]},
        headers={"Idempotency-Key": "refresh-1"},
    )

    assert issued.status_code == 200 and refreshed.status_code == 200
    for record in await records(session):
        for secret in (issued.json()["refresh_token"], refreshed.json()["access_token"]):
            assert secret not in stored_text(record)
    assert await records(session) == []


async def test_anonymous_and_forged_callers_write_no_idempotency_rows(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    forged = "bo_" + "A" * 43
    for n, headers in enumerate(
        [{}, {"Authorization": f"Bearer {forged}"}, {"Authorization": "Bearer not.a.jwt"}]
    ):
        response = await client.post(
            "/api/v1/customers",
            json={"name": "X", "email": f"x{n}@example.com"},
            headers={**headers, "Idempotency-Key": f"anon-{n}"},
        )
        assert_problem(response, 401)

    assert await records(session) == []
