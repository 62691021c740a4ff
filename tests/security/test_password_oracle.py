"""The current password is not an oracle (SPEC §14), in both doors.

Attacks: guess the current password through the password-change form or endpoint, as
fast as possible, with any credential, even a token scoped to `orders:read`.
"""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.auth.login import LOCKOUT_THRESHOLD
from app.infra.db import Database
from app.main import create_app
from app.models import AuditEvent, User
from tests.admin.conftest import OpenBrowser
from tests.api.domain_helpers import assert_problem, token_caller
from tests.auth_helpers import api_login, bearer, client_for, create_personal_token, csrf_from
from tests.conftest import test_settings as settings_for
from tests.conftest import url_of
from tests.factories import DEFAULT_PASSWORD

PASSWORD = "/api/v1/me/password"
NEW = "lantern-quiver-meadow-58"


def guess(n: int) -> dict[str, str]:
    return {"current_password": f"wrong-guess-{n:04d}", "new_password": NEW}


async def audit_rows(session: AsyncSession, action: str, user: User) -> list[AuditEvent]:
    statement = (
        select(AuditEvent)
        .where(AuditEvent.action == action, AuditEvent.resource_id == str(user.id))
        .order_by(AuditEvent.id)
        .execution_options(populate_existing=True)
    )
    return list((await session.execute(statement)).scalars())


async def test_wrong_current_passwords_lock_the_account_in_the_api(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user, headers = await token_caller(session, role="viewer")

    answers = [
        await client.post(PASSWORD, json=guess(n), headers=headers)
        for n in range(LOCKOUT_THRESHOLD + 1)
    ]
    right_now = await client.post(
        PASSWORD, json={"current_password": DEFAULT_PASSWORD, "new_password": NEW}, headers=headers
    )

    assert [a.status_code for a in answers] == [422] * (LOCKOUT_THRESHOLD + 1)
    # Locked: even the right password is refused, with the same answer, and login too.
    assert_problem(right_now, 422)
    assert (await api_login(client, user.email)).status_code == 401
    failures = await audit_rows(session, "login.failed", user)
    # Five wrong guesses, then three refusals while locked: the sixth guess, the right
    # password, the login.
    assert len(failures) == LOCKOUT_THRESHOLD + 3
    assert {row.channel for row in failures} == {"api"}
    assert len(await audit_rows(session, "user.locked", user)) == 1


async def test_a_scoped_token_cannot_try_passwords(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user, headers = await token_caller(session, role="admin")
    scoped = await create_personal_token(client, headers, scopes=["orders:read"])

    response = await client.post(
        PASSWORD,
        json={"current_password": DEFAULT_PASSWORD, "new_password": NEW},
        headers=bearer(str(scoped["token"])),
    )

    assert_problem(response, 403)
    assert await audit_rows(session, "user.password_changed", user) == []


@pytest.mark.usefixtures("steady_rate_window")
async def test_password_checks_are_rate_limited_like_logins(
    engine: AsyncEngine, database: Database, session: AsyncSession
) -> None:
    app: FastAPI = create_app(settings_for(url_of(engine), rate_limit_login="3/hour"), database)
    _, headers = await token_caller(session, role="viewer")
    async with client_for(app) as client:
        answers = [await client.post(PASSWORD, json=guess(n), headers=headers) for n in range(4)]

    assert [a.status_code for a in answers] == [422, 422, 422, 429]
    assert "retry-after" in answers[-1].headers


async def test_wrong_current_passwords_lock_the_account_in_the_admin(
    open_browser: OpenBrowser, session: AsyncSession
) -> None:
    user, browser = await open_browser(role="viewer")

    for n in range(LOCKOUT_THRESHOLD):
        page = await browser.get("/admin/account")
        await browser.post(
            "/admin/account",
            data={
                "csrf_token": csrf_from(page.text),
                "op": "password",
                **guess(n),
                "confirm_password": NEW,
            },
        )

    failures = await audit_rows(session, "login.failed", user)
    assert len(failures) == LOCKOUT_THRESHOLD
    assert {row.channel for row in failures} == {"admin"}
    await session.refresh(user, ["locked_until"])
    assert user.locked_until is not None


async def test_a_control_character_in_the_username_is_the_generic_401(
    client: httpx.AsyncClient,
) -> None:
    for username in ("a\x00b@example.com", "\x00", "admin@example.com\n", "x\x1b[31m@example.com"):
        response = await client.post(
            "/api/v1/auth/token", data={"username": username, "password": "pass\x00word-long"}
        )
        assert_problem(response, 401)
