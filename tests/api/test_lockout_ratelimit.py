"""Brute-force protection and rate limits (SPEC §5, §6, §10): lockout, login and API limits."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.auth.login import GENERIC_LOGIN_ERROR, LOCKOUT_THRESHOLD
from app.infra.db import Database
from app.main import create_app
from app.models import AuditEvent, User
from app.models.base import utcnow
from tests.auth_helpers import (
    ADMIN_LOGIN_URL,
    access_token,
    admin_csrf,
    admin_login,
    api_login,
    bearer,
    client_for,
    count_staff_sessions,
)
from tests.conftest import test_settings as settings_for
from tests.conftest import url_of
from tests.factories import DEFAULT_PASSWORD, make_user

WRONG = "not-the-password-1"
NO_REDIS_REASON = "TEST_REDIS_URL is not set: Redis rate-limit tests skipped"


async def audit_events(session: AsyncSession, action: str) -> list[AuditEvent]:
    statement = (
        select(AuditEvent)
        .where(AuditEvent.action == action)
        .order_by(AuditEvent.id)
        .execution_options(populate_existing=True)
    )
    return list((await session.execute(statement)).scalars())


async def reloaded(session: AsyncSession, user: User) -> User:
    await session.refresh(user)
    return user


def forwarded_for(chain: str) -> dict[str, str]:
    return {"X-Forwarded-For": chain}


# Every test here counts hits against a limit (tests/conftest.py says why).
pytestmark = pytest.mark.usefixtures("steady_rate_window")


def app_with(engine: AsyncEngine, database: Database, **overrides: object) -> FastAPI:
    return create_app(settings_for(url_of(engine), **overrides), database)


@pytest.fixture
async def strict_login_client(
    engine: AsyncEngine, database: Database
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app allowing 3 login attempts an hour per client IP and account."""
    async with client_for(app_with(engine, database, rate_limit_login="3/hour")) as client:
        yield client


@pytest.fixture
async def strict_api_app(engine: AsyncEngine, database: Database) -> FastAPI:
    """An app allowing 3 authenticated API requests an hour per principal."""
    return app_with(engine, database, rate_limit_api="3/hour")


# --- lockout -------------------------------------------------------------------------------


async def test_five_wrong_passwords_lock_the_account(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session)
    for _ in range(LOCKOUT_THRESHOLD):
        assert (await api_login(client, user.email, WRONG)).status_code == 401

    right = await api_login(client, user.email, DEFAULT_PASSWORD)

    assert right.status_code == 401
    assert right.json()["detail"] == GENERIC_LOGIN_ERROR
    assert right.headers["www-authenticate"] == "Bearer"
    locked = await reloaded(session, user)
    assert locked.locked_until is not None
    assert timedelta(minutes=14) < locked.locked_until - utcnow() <= timedelta(minutes=15)
    (event,) = await audit_events(session, "user.locked")
    assert event.resource_id == str(user.id)
    assert event.actor_user_id == user.id


async def test_a_locked_account_looks_like_a_wrong_password(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session)
    wrong = await api_login(client, user.email, WRONG)
    for _ in range(LOCKOUT_THRESHOLD - 1):
        await api_login(client, user.email, WRONG)

    locked = await api_login(client, user.email, DEFAULT_PASSWORD)

    assert locked.status_code == wrong.status_code == 401
    assert locked.json()["detail"] == wrong.json()["detail"] == GENERIC_LOGIN_ERROR


async def test_four_wrong_passwords_do_not_lock_and_a_success_resets_the_count(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session)
    for _ in range(LOCKOUT_THRESHOLD - 1):
        await api_login(client, user.email, WRONG)

    assert (await api_login(client, user.email)).status_code == 200
    assert (await reloaded(session, user)).failed_login_count == 0
    await app.state.rate_limiter.reset()  # only the lockout is under test, not the IP limit
    for _ in range(LOCKOUT_THRESHOLD - 1):
        await api_login(client, user.email, WRONG)
    assert (await api_login(client, user.email)).status_code == 200
    assert await audit_events(session, "user.locked") == []


async def test_failures_older_than_fifteen_minutes_do_not_count(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session)
    for _ in range(LOCKOUT_THRESHOLD - 1):
        await api_login(client, user.email, WRONG)
    stale = await reloaded(session, user)
    assert stale.last_failed_login_at is not None
    stale.last_failed_login_at = utcnow() - timedelta(minutes=16)
    await session.flush()

    await api_login(client, user.email, WRONG)

    assert (await api_login(client, user.email)).status_code == 200


async def test_the_lock_expires(client: httpx.AsyncClient, session: AsyncSession) -> None:
    user = await make_user(session)
    for _ in range(LOCKOUT_THRESHOLD):
        await api_login(client, user.email, WRONG)
    assert (await api_login(client, user.email)).status_code == 401
    locked = await reloaded(session, user)
    locked.locked_until = utcnow() - timedelta(seconds=1)
    await session.flush()

    response = await api_login(client, user.email)

    assert response.status_code == 200, response.text
    assert (await reloaded(session, user)).locked_until is None


async def test_the_admin_form_counts_towards_and_obeys_the_lock(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session)
    async with client_for(app) as browser:
        for _ in range(LOCKOUT_THRESHOLD):
            refused = await admin_login(browser, user.email, WRONG)
            assert refused.status_code == 400
            assert GENERIC_LOGIN_ERROR in refused.text

        right = await admin_login(browser, user.email, DEFAULT_PASSWORD)

    assert right.status_code == 400
    assert GENERIC_LOGIN_ERROR in right.text
    assert await count_staff_sessions(session, user.id) == 0
    assert (await api_login(client, user.email)).status_code == 401
    assert len(await audit_events(session, "user.locked")) == 1


# --- login rate limits per client IP and per account --------------------------------------


def assert_rate_limited(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text
    assert int(response.headers["retry-after"]) > 0


async def test_the_token_endpoint_limits_attempts_per_client_ip(
    strict_login_client: httpx.AsyncClient,
) -> None:
    for n in range(3):
        assert (await api_login(strict_login_client, f"u{n}@example.com", WRONG)).status_code == 401

    response = await api_login(strict_login_client, "u4@example.com", WRONG)

    assert_rate_limited(response)
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_a_rate_limited_login_is_refused_even_with_the_right_password(
    strict_login_client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session)
    for n in range(3):
        await api_login(strict_login_client, f"u{n}@example.com", WRONG)

    assert_rate_limited(await api_login(strict_login_client, user.email))


async def test_the_token_endpoint_limits_attempts_per_account_across_ips(
    strict_login_client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session)
    for n in range(3):
        await api_login(
            strict_login_client, user.email, WRONG, headers=forwarded_for(f"10.0.0.{n}")
        )

    response = await api_login(strict_login_client, user.email, headers=forwarded_for("10.0.0.99"))

    assert_rate_limited(response)


async def test_the_admin_form_limits_attempts_per_client_ip(
    engine: AsyncEngine, database: Database
) -> None:
    app = app_with(engine, database, rate_limit_login="3/hour")
    async with client_for(app) as browser:
        token = await admin_csrf(browser)

        async def attempt(email: str) -> httpx.Response:
            form = {"username": email, "password": WRONG, "csrf_token": token}
            return await browser.post(ADMIN_LOGIN_URL, data=form)

        for n in range(3):
            assert (await attempt(f"u{n}@example.com")).status_code == 400
        response = await attempt("u4@example.com")

    assert_rate_limited(response)
    assert "text/html" in response.headers["content-type"]


async def test_the_admin_form_and_the_token_endpoint_share_the_ip_limit(
    engine: AsyncEngine, database: Database
) -> None:
    app = app_with(engine, database, rate_limit_login="3/hour")
    async with client_for(app) as client:
        await api_login(client, "u1@example.com", WRONG)
        await api_login(client, "u2@example.com", WRONG)
        await admin_login(client, "u3@example.com", WRONG)

        assert_rate_limited(await admin_login(client, "u4@example.com", WRONG))
        assert_rate_limited(await api_login(client, "u5@example.com", WRONG))


async def test_a_spoofed_leftmost_forwarded_for_does_not_escape_the_limit(
    strict_login_client: httpx.AsyncClient,
) -> None:
    # The peer (127.0.0.1) is a trusted proxy: the client is the rightmost address it
    # added, whatever the caller wrote to its left.
    for n in range(3):
        spoofed = forwarded_for(f"{n + 1}.{n + 1}.{n + 1}.{n + 1}, 9.9.9.9")
        response = await api_login(strict_login_client, f"u{n}@example.com", WRONG, headers=spoofed)
        assert response.status_code == 401

    rotated = await api_login(
        strict_login_client, "u9@example.com", WRONG, headers=forwarded_for("7.7.7.7, 9.9.9.9")
    )
    other_client = await api_login(
        strict_login_client, "u10@example.com", WRONG, headers=forwarded_for("1.1.1.1, 8.8.8.8")
    )

    assert_rate_limited(rotated)
    assert other_client.status_code == 401


async def test_trusting_every_proxy_still_takes_the_rightmost_forwarded_address(
    engine: AsyncEngine, database: Database
) -> None:
    app = app_with(engine, database, forwarded_allow_ips="*", rate_limit_login="3/hour")
    async with client_for(app) as client:
        for n in range(3):
            spoofed = forwarded_for(f"{n + 1}.{n + 1}.{n + 1}.{n + 1}, 9.9.9.9")
            await api_login(client, f"u{n}@example.com", WRONG, headers=spoofed)

        rotated = await api_login(
            client, "u9@example.com", WRONG, headers=forwarded_for("7.7.7.7, 9.9.9.9")
        )

    assert_rate_limited(rotated)


async def test_the_audit_log_records_the_rightmost_forwarded_address(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session)

    await api_login(client, user.email, WRONG, headers=forwarded_for("6.6.6.6, 203.0.113.7"))

    (event,) = await audit_events(session, "login.failed")
    assert event.ip == "203.0.113.7"


async def test_forwarded_for_from_an_untrusted_peer_is_ignored(
    engine: AsyncEngine, database: Database, session: AsyncSession
) -> None:
    app = app_with(engine, database, forwarded_allow_ips="10.9.9.9")
    user = await make_user(session)
    async with client_for(app) as client:
        await api_login(client, user.email, WRONG, headers=forwarded_for("203.0.113.7"))

    (event,) = await audit_events(session, "login.failed")
    assert event.ip == "127.0.0.1"


# --- API rate limit per principal ----------------------------------------------------------


async def test_authenticated_responses_carry_ratelimit_headers(
    strict_api_app: FastAPI, session: AsyncSession
) -> None:
    user = await make_user(session)
    async with client_for(strict_api_app) as client:
        headers = bearer(await access_token(client, user.email))
        responses = [await client.get("/api/v1/me", headers=headers) for _ in range(3)]

    for remaining, response in zip((2, 1, 0), responses, strict=True):
        assert response.status_code == 200
        assert response.headers["ratelimit-limit"] == "3"
        assert response.headers["ratelimit-remaining"] == str(remaining)
        assert 0 < int(response.headers["ratelimit-reset"]) <= 3601


async def test_the_api_limit_refuses_with_429_and_retry_after(
    strict_api_app: FastAPI, session: AsyncSession
) -> None:
    user = await make_user(session)
    async with client_for(strict_api_app) as client:
        headers = bearer(await access_token(client, user.email))
        for _ in range(3):
            assert (await client.get("/api/v1/me", headers=headers)).status_code == 200

        response = await client.get("/api/v1/me", headers=headers)

    assert_rate_limited(response)
    assert response.headers["ratelimit-remaining"] == "0"
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_the_api_limit_is_per_principal(
    strict_api_app: FastAPI, session: AsyncSession
) -> None:
    busy = await make_user(session)
    calm = await make_user(session)
    async with client_for(strict_api_app) as client:
        busy_headers = bearer(await access_token(client, busy.email))
        calm_headers = bearer(await access_token(client, calm.email))
        for _ in range(4):
            await client.get("/api/v1/me", headers=busy_headers)

        response = await client.get("/api/v1/me", headers=calm_headers)

    assert response.status_code == 200
    assert response.headers["ratelimit-remaining"] == "2"


async def test_a_refused_credential_does_not_spend_the_owners_limit(
    strict_api_app: FastAPI, session: AsyncSession
) -> None:
    user = await make_user(session)
    async with client_for(strict_api_app) as client:
        headers = bearer(await access_token(client, user.email))
        for _ in range(5):
            await client.get("/api/v1/me", headers=bearer("bo_" + "A" * 43))

        response = await client.get("/api/v1/me", headers=headers)

    assert response.status_code == 200
    assert response.headers["ratelimit-remaining"] == "2"


# --- shared limits through Redis -----------------------------------------------------------


@pytest.fixture
def redis_url() -> str:
    url = os.environ.get("TEST_REDIS_URL")
    if not url:
        pytest.skip(NO_REDIS_REASON)
    return url


async def disconnect_redis(app: FastAPI) -> None:
    # The ASGI test client runs no lifespan, so close the limiter's Redis pool as the
    # app's shutdown would; unclosed sockets fail pytest's `filterwarnings = error`.
    await app.state.rate_limiter.close()


@pytest.fixture
async def redis_apps(
    engine: AsyncEngine, database: Database, redis_url: str
) -> AsyncIterator[tuple[FastAPI, FastAPI]]:
    """Two app instances (two workers, say) limiting 3 API requests and 3 logins an hour
    through the same Redis, with every counter cleared first."""
    limits = {"redis_url": redis_url, "rate_limit_api": "3/hour", "rate_limit_login": "3/hour"}
    first = app_with(engine, database, **limits)
    second = app_with(engine, database, **limits)
    await first.state.rate_limiter.reset()
    try:
        yield first, second
    finally:
        await first.state.rate_limiter.reset()
        await disconnect_redis(first)
        await disconnect_redis(second)


@pytest.mark.redis
async def test_two_app_instances_share_the_api_limit_through_redis(
    redis_apps: tuple[FastAPI, FastAPI], session: AsyncSession
) -> None:
    user = await make_user(session)
    async with client_for(redis_apps[0]) as one, client_for(redis_apps[1]) as two:
        headers = bearer(await access_token(one, user.email))
        assert (await one.get("/api/v1/me", headers=headers)).status_code == 200
        assert (await two.get("/api/v1/me", headers=headers)).status_code == 200
        third = await one.get("/api/v1/me", headers=headers)

        fourth = await two.get("/api/v1/me", headers=headers)

    assert third.headers["ratelimit-remaining"] == "0"
    assert_rate_limited(fourth)


@pytest.mark.redis
async def test_two_app_instances_share_the_login_limit_through_redis(
    redis_apps: tuple[FastAPI, FastAPI],
) -> None:
    async with client_for(redis_apps[0]) as one, client_for(redis_apps[1]) as two:
        await api_login(one, "u1@example.com", WRONG)
        await api_login(two, "u2@example.com", WRONG)
        await api_login(one, "u3@example.com", WRONG)

        response = await api_login(two, "u4@example.com", WRONG)

    assert_rate_limited(response)


async def test_without_redis_each_app_instance_counts_alone(
    engine: AsyncEngine, database: Database, session: AsyncSession
) -> None:
    first = app_with(engine, database, rate_limit_api="3/hour")
    second = app_with(engine, database, rate_limit_api="3/hour")
    user = await make_user(session)
    async with client_for(first) as one, client_for(second) as two:
        headers = bearer(await access_token(one, user.email))
        for _ in range(3):
            await one.get("/api/v1/me", headers=headers)

        response = await two.get("/api/v1/me", headers=headers)

    assert response.status_code == 200
