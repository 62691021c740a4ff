"""One request, one principal: the idempotency record, the rate limiter and the audit row
of a request all name the caller its one authentication produced (issue 15), also when the
request is run again after a transient database failure."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.api_tokens import create_token
from app.auth.principal import Principal
from app.auth.token_commands import CreateToken
from app.auth.tokens import encode_access_token
from app.infra.ratelimit import API_BUCKET
from app.infra.settings import Settings
from app.models import AuditEvent, IdempotencyRecord, User
from tests.factories import make_user
from tests.faults.conftest import ProxiedApp, proxied, proxied_client  # noqa: F401 (fixtures)

# A write that every caller may make and that is audited: a new personal token.
MY_TOKENS = "/api/v1/me/tokens"


@dataclass(frozen=True)
class Seen:
    """What each layer recorded about the caller of one request."""

    idempotency_key: str | None  # the record's principal_key
    audit_key: str  # the credential, as the audit row names it
    audit_person: str  # the person, as the audit row names them
    hits_on_person: int  # how many times the rate limiter counted that person
    remaining_header: str | None


async def _credential(session: AsyncSession, settings: Settings, user: User, kind: str) -> str:
    if kind == "personal_token":
        _, plaintext = await create_token(
            session, Principal.system(), user, CreateToken(name="one")
        )
        return plaintext
    access, _ = encode_access_token(
        user_id=user.id,
        stamp=user.security_stamp,
        secret_key=settings.secret_key,
        lifetime=timedelta(minutes=5),
    )
    return access


async def _seen(
    app: FastAPI, session: AsyncSession, response: httpx.Response, key: str | None
) -> Seen:
    assert response.status_code == 201, response.text
    event = (
        await session.execute(
            select(AuditEvent)
            .where(AuditEvent.action == "token.created")
            .where(AuditEvent.resource_id == str(response.json()["id"]))
            .execution_options(populate_existing=True)
        )
    ).scalar_one()
    assert event.request_id == response.headers["x-request-id"]
    record = (
        await session.scalar(
            select(IdempotencyRecord.principal_key).where(IdempotencyRecord.key == key)
        )
        if key
        else None
    )
    settings: Settings = app.state.settings
    person = f"user:{event.actor_user_id}"
    remaining = await app.state.rate_limiter.remaining(settings.rate_limit_api, API_BUCKET, person)
    return Seen(
        idempotency_key=record,
        audit_key=f"token:{event.token_id}" if event.token_id is not None else person,
        audit_person=person,
        hits_on_person=_limit(settings) - remaining,
        remaining_header=response.headers.get("ratelimit-remaining"),
    )


def _assert_one_principal(seen: Seen, user: User, kind: str, *, keyed: bool, limit: int) -> None:
    assert seen.audit_person == f"user:{user.id}"
    if kind == "personal_token":
        assert seen.audit_key.startswith("token:")
    else:
        assert seen.audit_key == seen.audit_person
    # The record is keyed by the credential the audit row names; the limiter counted the
    # person it names, once, and told the caller so.
    assert seen.idempotency_key == (seen.audit_key if keyed else None)
    assert seen.hits_on_person == 1
    assert seen.remaining_header == str(limit - 1)


def _limit(settings: Settings) -> int:
    return int(settings.rate_limit_api.split("/")[0])


@pytest.mark.parametrize("kind", ["personal_token", "access_token"])
@pytest.mark.parametrize("keyed", [True, False], ids=["keyed", "unkeyed"])
async def test_idempotency_rate_limit_and_audit_see_the_same_caller(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    kind: str,
    keyed: bool,
) -> None:
    user = await make_user(session, role="clerk")
    headers = {"Authorization": f"Bearer {await _credential(session, settings, user, kind)}"}
    await session.flush()
    key = f"one-principal-{uuid.uuid4().hex}" if keyed else None
    if key:
        headers["Idempotency-Key"] = key

    response = await client.post(MY_TOKENS, json={"name": "one"}, headers=headers)

    seen = await _seen(app, session, response, key)
    _assert_one_principal(seen, user, kind, keyed=keyed, limit=_limit(settings))


@pytest.mark.postgres
@pytest.mark.parametrize("keyed", [True, False], ids=["keyed", "unkeyed"])
async def test_a_rerun_request_keeps_its_one_principal_and_its_rate_limit_headers(
    proxied: ProxiedApp,  # noqa: F811 (the imported fixture)
    proxied_client: httpx.AsyncClient,  # noqa: F811
    keyed: bool,
) -> None:
    async with proxied.database.sessionmaker() as session:
        user = await make_user(session, role="clerk")
        credential = await _credential(session, proxied.app.state.settings, user, "personal_token")
        await session.commit()
    headers = {"Authorization": f"Bearer {credential}"}
    key = f"rerun-{uuid.uuid4().hex}" if keyed else None
    if key:
        headers["Idempotency-Key"] = key
    # The first attempt loses its connection before the server has the INSERT: re-run.
    trigger = proxied.proxy.arm("to_server", lambda sql: "INSERT INTO api_tokens" in sql)

    response = await proxied_client.post(MY_TOKENS, json={"name": "again"}, headers=headers)

    assert trigger.fired == 1
    async with proxied.database.sessionmaker() as session:
        seen = await _seen(proxied.app, session, response, key)
    settings = proxied.app.state.settings
    _assert_one_principal(seen, user, "personal_token", keyed=keyed, limit=_limit(settings))
