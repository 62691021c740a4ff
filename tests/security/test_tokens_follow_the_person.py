"""Tokens are the person's (SPEC §14): one rate limit per user, 50 live tokens at most,
a scoped token cannot manage its siblings, and deactivation revokes for good.

Attacks: mint many tokens to multiply the rate limit; use a leaked scoped token to list
and revoke its owner's other tokens; wait for a deactivated user to be reactivated.
"""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.auth.api_tokens import MAX_ACTIVE_TOKENS, create_token
from app.auth.principal import Principal
from app.auth.token_commands import CreateToken
from app.infra.db import Database
from app.main import create_app
from app.models import ApiToken, RefreshToken
from tests.admin.conftest import OpenBrowser
from tests.api.domain_helpers import assert_problem, token_caller
from tests.auth_helpers import (
    access_token,
    api_login,
    bearer,
    client_for,
    create_personal_token,
    gets_in,
)
from tests.conftest import test_settings as settings_for
from tests.conftest import url_of
from tests.factories import make_user

TOKENS = "/api/v1/me/tokens"


@pytest.mark.usefixtures("steady_rate_window")
async def test_several_tokens_share_their_owners_rate_limit(
    engine: AsyncEngine, database: Database, session: AsyncSession
) -> None:
    app: FastAPI = create_app(settings_for(url_of(engine), rate_limit_api="3/hour"), database)
    user, first = await token_caller(session, role="viewer")
    _, plaintext = await create_token(session, Principal.system(), user, CreateToken(name="second"))
    second = bearer(plaintext)
    async with client_for(app) as client:
        answers = [
            await client.get("/api/v1/products", headers=headers)
            for headers in (first, second, first, second)
        ]

    assert [a.status_code for a in answers] == [200, 200, 200, 429]


async def test_at_most_fifty_live_tokens_per_user(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user, headers = await token_caller(session, role="viewer")  # token number 1
    for n in range(MAX_ACTIVE_TOKENS - 1):
        await create_token(session, Principal.system(), user, CreateToken(name=f"t{n}"))

    over = await client.post(TOKENS, json={"name": "one-too-many"}, headers=headers)

    assert_problem(over, 409)
    # Revoking one makes room again.
    spare = (
        await session.execute(
            select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.name == "t0")
        )
    ).scalar_one()
    full = bearer(await access_token(client, user.email))
    assert (await client.delete(f"{TOKENS}/{spare.id}", headers=full)).status_code == 204
    assert (await client.post(TOKENS, json={"name": "room"}, headers=headers)).status_code == 201


async def test_a_scoped_token_cannot_list_or_revoke_its_siblings(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user, headers = await token_caller(session, role="admin")
    scoped = bearer(
        str((await create_personal_token(client, headers, scopes=["orders:read"]))["token"])
    )
    sibling = (
        await session.execute(select(ApiToken).where(ApiToken.user_id == user.id).limit(1))
    ).scalar_one()

    listed = await client.get(TOKENS, headers=scoped)
    revoked = await client.delete(f"{TOKENS}/{sibling.id}", headers=scoped)

    assert_problem(listed, 403)
    assert_problem(revoked, 403)
    await session.refresh(sibling)
    assert sibling.revoked_at is None


async def test_reactivation_brings_no_token_or_session_back(
    client: httpx.AsyncClient,
    session: AsyncSession,
    open_browser: OpenBrowser,
) -> None:
    _, admin_headers = await token_caller(session, role="admin")
    user = await make_user(session, role="clerk")
    _, personal = await create_token(session, Principal.system(), user, CreateToken(name="script"))
    refresh = (await api_login(client, user.email)).json()["refresh_token"]
    _, browser = await open_browser(user=user)

    off = await client.post(f"/api/v1/users/{user.id}/deactivate", headers=admin_headers)
    on = await client.patch(
        f"/api/v1/users/{user.id}", json={"is_active": True}, headers=admin_headers
    )

    assert off.status_code == 200 and on.status_code == 200, (off.text, on.text)
    assert (await client.get("/api/v1/me", headers=bearer(personal))).status_code == 401
    refreshed = await client.post("/api/v1/auth/refresh", json={"refresh_token": refresh})
    assert refreshed.status_code == 401
    assert not await gets_in(browser)
    rows = await session.execute(select(ApiToken.revoked_at).where(ApiToken.user_id == user.id))
    assert all(revoked_at is not None for (revoked_at,) in rows)
    refresh_rows = await session.execute(
        select(RefreshToken.revoked_at).where(RefreshToken.user_id == user.id)
    )
    assert all(revoked_at is not None for (revoked_at,) in refresh_rows)
