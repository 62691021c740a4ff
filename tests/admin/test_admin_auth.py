"""Admin authentication over HTTP (SPEC §5): the session cookie, CSRF in the manner of Django's
own tests, session fixation, logout, idle and absolute expiry, and revocation."""

from __future__ import annotations

import hashlib
import json
from base64 import b64decode
from datetime import timedelta
from http.cookies import SimpleCookie

import httpx
import pytest
from fastapi import FastAPI
from itsdangerous import TimestampSigner
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.auth.principal import Principal
from app.auth.sessions import revoke_session
from app.edge.callers import identity_of, principal_for
from app.errors import NotFound
from app.infra.db import Database
from app.main import create_app
from app.models import AuditEvent, User
from app.models.base import utcnow
from app.users.commands import ChangePassword
from app.users.service import change_password, deactivate_user
from tests.admin.conftest import OpenBrowser, latest_session
from tests.auth_helpers import (
    ADMIN_LOGIN_URL,
    admin_csrf,
    admin_login,
    client_for,
    count_staff_sessions,
    gets_in,
    is_login_redirect,
)
from tests.conftest import TEST_SECRET_KEY, url_of
from tests.conftest import test_settings as settings_for
from tests.factories import DEFAULT_PASSWORD, make_user

ACTION_URL = "/admin/order/action/place?pks=1"
NEW_PASSWORD = "a brand new passphrase 42"


def staff_principal(user: User) -> Principal:
    """The Principal an admin session of `user` gets."""
    return principal_for(identity_of(user), channel="admin", auth_method="session")


def set_cookies(response: httpx.Response) -> SimpleCookie:
    cookies: SimpleCookie = SimpleCookie()
    for header in response.headers.get_list("set-cookie"):
        cookies.load(header)
    return cookies


def cookie_payload(value: str) -> dict[str, object]:
    """What the signed session cookie carries (its holder can read it just as well)."""
    signed = TimestampSigner(TEST_SECRET_KEY).unsign(value.encode())
    payload: dict[str, object] = json.loads(b64decode(signed))
    return payload


async def is_logged_in(app: FastAPI, cookie: str) -> bool:
    """Whether a browser holding only this `bo_session` value gets into the admin."""
    async with client_for(app, headers={"Cookie": f"bo_session={cookie}"}) as browser:
        return await gets_in(browser)


async def page_csrf(browser: httpx.AsyncClient) -> str:
    """A CSRF token for a logged-in browser (from the logout confirmation page)."""
    return await admin_csrf(browser, "/admin/logout")


def login_form(email: str, token: str | None) -> dict[str, str]:
    form = {"username": email, "password": DEFAULT_PASSWORD}
    if token is not None:
        form["csrf_token"] = token
    return form


# --- the cookie ----------------------------------------------------------------------------


async def test_the_login_page_sets_only_a_bo_session_cookie(client: httpx.AsyncClient) -> None:
    response = await client.get(ADMIN_LOGIN_URL)

    assert response.status_code == 200
    cookies = set_cookies(response)
    assert list(cookies) == ["bo_session"]
    morsel = cookies["bo_session"]
    assert morsel["httponly"] is True
    assert morsel["samesite"].lower() == "lax"
    assert morsel["path"] == "/"
    assert not morsel["secure"]
    assert not morsel["domain"]


async def test_no_admin_response_ever_sets_sqladmins_session_cookie(
    app: FastAPI, session: AsyncSession
) -> None:
    user = await make_user(session)
    async with client_for(app) as browser:
        responses = [await browser.get(ADMIN_LOGIN_URL)]
        responses.append(await admin_login(browser, user.email))
        responses.append(await browser.get("/admin/"))
        responses.append(await browser.post("/admin/logout", data={"csrf_token": "x"}))

    for response in responses:
        assert "session" not in set_cookies(response)
    assert set(browser.cookies.keys()) == {"bo_session"}


async def test_the_cookie_carries_only_the_session_token_and_csrf_secret(
    app: FastAPI, session: AsyncSession
) -> None:
    user = await make_user(session)
    async with client_for(app) as browser:
        await browser.get(ADMIN_LOGIN_URL)
        before = cookie_payload(browser.cookies["bo_session"])
        await admin_login(browser, user.email)
        after = cookie_payload(browser.cookies["bo_session"])

    assert set(before) == {"csrf"}
    assert set(after) == {"sid", "csrf"}
    assert user.email not in json.dumps(after)
    row = await latest_session(session, user)
    # The cookie's token is stored only as its digest.
    assert row.token_hash != after["sid"] and str(after["sid"]) not in row.token_hash


async def test_production_uses_a_host_prefixed_secure_cookie(
    engine: AsyncEngine, database: Database
) -> None:
    settings = settings_for(url_of(engine), environment="production", log_format="console")
    app = create_app(settings, database)
    async with client_for(app, base_url="https://testserver") as browser:
        response = await browser.get(ADMIN_LOGIN_URL)

    cookies = set_cookies(response)
    assert list(cookies) == ["__Host-bo_session"]
    morsel = cookies["__Host-bo_session"]
    assert morsel["secure"] is True
    assert morsel["httponly"] is True
    assert morsel["samesite"].lower() == "lax"
    # __Host- cookies must have Path=/ and no Domain, or browsers drop them.
    assert morsel["path"] == "/"
    assert not morsel["domain"]


# --- CSRF on the login form ----------------------------------------------------------------


async def test_a_valid_login_redirects_to_the_admin_and_opens_a_session(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session)

    response = await admin_login(client, user.email, headers={"User-Agent": "pytest-browser"})

    assert response.status_code == 302, response.text
    assert response.headers["location"].endswith("/admin/")
    assert await count_staff_sessions(session, user.id) == 1
    row = await latest_session(session, user)
    assert row.ip == "127.0.0.1"
    assert row.user_agent == "pytest-browser"
    assert row.revoked_at is None
    assert await gets_in(client)


async def test_a_login_without_a_csrf_token_is_refused(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session)
    await admin_csrf(client)

    response = await client.post(ADMIN_LOGIN_URL, data=login_form(user.email, None))

    assert response.status_code == 403
    assert await count_staff_sessions(session) == 0
    assert not await gets_in(client)


@pytest.mark.parametrize(
    "token", ["", "wrong", "abc.def", "x" * 300, "nonce." + "0" * 64], ids=repr
)
async def test_a_login_with_a_wrong_csrf_token_is_refused(
    client: httpx.AsyncClient, session: AsyncSession, token: str
) -> None:
    user = await make_user(session)
    await admin_csrf(client)

    response = await client.post(ADMIN_LOGIN_URL, data=login_form(user.email, token))

    assert response.status_code == 403
    assert await count_staff_sessions(session) == 0


async def test_a_login_with_another_sessions_csrf_token_is_refused(
    app: FastAPI, session: AsyncSession
) -> None:
    user = await make_user(session)
    async with client_for(app) as attacker, client_for(app) as victim:
        attackers_token = await admin_csrf(attacker)
        await admin_csrf(victim)

        response = await victim.post(ADMIN_LOGIN_URL, data=login_form(user.email, attackers_token))

    assert response.status_code == 403
    assert await count_staff_sessions(session) == 0


async def test_a_login_with_a_token_but_no_session_cookie_is_refused(
    app: FastAPI, session: AsyncSession
) -> None:
    user = await make_user(session)
    async with client_for(app) as browser:
        token = await admin_csrf(browser)
    async with client_for(app) as cookieless:
        response = await cookieless.post(ADMIN_LOGIN_URL, data=login_form(user.email, token))

    assert response.status_code == 403
    assert await count_staff_sessions(session) == 0


@pytest.mark.parametrize(
    "origin",
    ["https://evil.example", "http://testserver.evil.example", "null", "https://testserver"],
)
async def test_a_login_from_a_foreign_origin_is_refused(
    client: httpx.AsyncClient, session: AsyncSession, origin: str
) -> None:
    user = await make_user(session)
    token = await admin_csrf(client)

    response = await client.post(
        ADMIN_LOGIN_URL, data=login_form(user.email, token), headers={"Origin": origin}
    )

    assert response.status_code == 403
    assert await count_staff_sessions(session) == 0


async def test_a_login_from_this_origin_is_accepted(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session)
    token = await admin_csrf(client)

    response = await client.post(
        ADMIN_LOGIN_URL, data=login_form(user.email, token), headers={"Origin": "http://testserver"}
    )

    assert response.status_code == 302, response.text
    assert await count_staff_sessions(session) == 1


async def test_the_csrf_token_may_come_in_a_header(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session)
    token = await admin_csrf(client)

    response = await client.post(
        ADMIN_LOGIN_URL, data=login_form(user.email, None), headers={"X-CSRF-Token": token}
    )

    assert response.status_code == 302, response.text


async def test_a_wrong_password_opens_no_session_and_shows_the_generic_error(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session)

    wrong = await admin_login(client, user.email, "not-the-password-1")
    unknown = await admin_login(client, "nobody@example.com", "not-the-password-1")

    assert wrong.status_code == unknown.status_code == 400
    assert (
        "Invalid email or password." in wrong.text and "Invalid email or password." in unknown.text
    )
    assert await count_staff_sessions(session) == 0


# --- session fixation ----------------------------------------------------------------------


async def test_the_pre_login_cookie_is_worthless_after_login(
    app: FastAPI, session: AsyncSession
) -> None:
    user = await make_user(session)
    async with client_for(app) as browser:
        await browser.get(ADMIN_LOGIN_URL)
        planted = browser.cookies["bo_session"]
        await admin_login(browser, user.email)
        issued = browser.cookies["bo_session"]

    assert issued != planted
    assert "sid" not in cookie_payload(planted)
    assert cookie_payload(issued)["csrf"] != cookie_payload(planted)["csrf"]
    assert not await is_logged_in(app, planted)
    assert await is_logged_in(app, issued)


async def test_every_login_issues_a_new_session(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session)
    await admin_login(client, user.email)
    first = cookie_payload(client.cookies["bo_session"])["sid"]

    await admin_login(client, user.email)
    second = cookie_payload(client.cookies["bo_session"])["sid"]

    assert first != second
    assert await count_staff_sessions(session, user.id) == 2


async def test_a_logged_in_cookie_planted_before_login_stays_its_owners(
    app: FastAPI, session: AsyncSession
) -> None:
    attacker = await make_user(session, role="viewer")
    victim = await make_user(session, role="admin")
    async with client_for(app) as browser:
        await admin_login(browser, attacker.email)
        planted = browser.cookies["bo_session"]
        await admin_login(browser, victim.email)
        victims = browser.cookies["bo_session"]

    assert cookie_payload(planted)["sid"] != cookie_payload(victims)["sid"]
    attackers_row = await latest_session(session, attacker)
    victims_row = await latest_session(session, victim)
    assert attackers_row.id != victims_row.id
    assert attackers_row.user_id == attacker.id


# --- CSRF on GET-triggered actions ---------------------------------------------------------


async def test_an_action_link_without_a_token_is_refused(open_browser: OpenBrowser) -> None:
    _, browser = await open_browser("admin")

    response = await browser.get(ACTION_URL)

    assert response.status_code == 403


@pytest.mark.parametrize(
    "path",
    [
        "/admin/order/action/place?pks=1",
        "/admin/order/action/ship/?pks=1,2",
        "/admin/product/action/delete-all",
    ],
)
async def test_an_action_link_with_a_wrong_token_is_refused(
    open_browser: OpenBrowser, path: str
) -> None:
    _, browser = await open_browser("admin")

    response = await browser.get(path, headers={"X-CSRF-Token": "nonce.deadbeef"})

    assert response.status_code == 403


async def test_an_action_link_with_a_valid_token_gets_through_csrf(
    open_browser: OpenBrowser,
) -> None:
    _, browser = await open_browser("admin")
    token = await page_csrf(browser)

    response = await browser.get(ACTION_URL, headers={"X-CSRF-Token": token})

    # There is no order view yet: anything but the CSRF refusal shows the token was accepted.
    assert response.status_code != 403, response.text


async def test_an_action_link_from_a_foreign_origin_is_refused_even_with_a_token(
    open_browser: OpenBrowser,
) -> None:
    _, browser = await open_browser("admin")
    token = await page_csrf(browser)

    response = await browser.get(
        ACTION_URL, headers={"X-CSRF-Token": token, "Origin": "https://evil.example"}
    )

    assert response.status_code == 403


async def test_an_action_link_with_another_sessions_token_is_refused(
    open_browser: OpenBrowser,
) -> None:
    _, browser = await open_browser("admin")
    _, other = await open_browser("admin")
    others_token = await page_csrf(other)

    response = await browser.get(ACTION_URL, headers={"X-CSRF-Token": others_token})

    assert response.status_code == 403


async def test_a_plain_admin_page_needs_no_token(open_browser: OpenBrowser) -> None:
    _, browser = await open_browser("admin")

    assert await gets_in(browser)


# --- logout --------------------------------------------------------------------------------


async def test_logout_without_a_token_is_refused_and_keeps_the_session(
    open_browser: OpenBrowser, session: AsyncSession
) -> None:
    user, browser = await open_browser("clerk")

    response = await browser.post("/admin/logout")

    assert response.status_code == 403
    assert (await latest_session(session, user)).revoked_at is None
    assert await gets_in(browser)


async def test_logout_from_a_foreign_origin_is_refused(
    open_browser: OpenBrowser, session: AsyncSession
) -> None:
    user, browser = await open_browser("clerk")
    token = await page_csrf(browser)

    response = await browser.post(
        "/admin/logout", data={"csrf_token": token}, headers={"Origin": "https://evil.example"}
    )

    assert response.status_code == 403
    assert (await latest_session(session, user)).revoked_at is None


async def test_logout_page_is_a_confirmation_that_changes_nothing(
    open_browser: OpenBrowser, session: AsyncSession
) -> None:
    user, browser = await open_browser("clerk")

    response = await browser.get("/admin/logout")

    assert response.status_code == 200
    assert 'method="POST"' in response.text
    assert (await latest_session(session, user)).revoked_at is None


async def test_logout_with_a_token_revokes_the_session(
    app: FastAPI, open_browser: OpenBrowser, session: AsyncSession
) -> None:
    user, browser = await open_browser("clerk")
    cookie = browser.cookies["bo_session"]
    token = await page_csrf(browser)

    response = await browser.post("/admin/logout", data={"csrf_token": token})

    assert is_login_redirect(response)
    row = await latest_session(session, user)
    assert row.revoked_at is not None
    # The browser's cookie is cleared (or at least no longer names a session).
    left = browser.cookies.get("bo_session")
    assert left is None or "sid" not in cookie_payload(left)
    assert not await gets_in(browser)
    # A copy of the cookie taken before logout is dead too: the session is gone server-side.
    assert not await is_logged_in(app, cookie)
    ended = await session.execute(select(AuditEvent).where(AuditEvent.action == "session.ended"))
    (event,) = ended.scalars()
    assert (event.actor_user_id, event.channel, event.resource_id) == (
        user.id,
        "admin",
        str(row.id),
    )


# --- expiry --------------------------------------------------------------------------------


async def test_an_idle_session_expires(
    app: FastAPI, open_browser: OpenBrowser, session: AsyncSession
) -> None:
    user, browser = await open_browser("clerk")
    row = await latest_session(session, user)
    row.last_seen_at = utcnow() - timedelta(minutes=120, seconds=1)
    await session.flush()

    assert not await gets_in(browser)


async def test_a_session_used_within_the_idle_window_stays(
    open_browser: OpenBrowser, session: AsyncSession
) -> None:
    user, browser = await open_browser("clerk")
    row = await latest_session(session, user)
    row.last_seen_at = utcnow() - timedelta(minutes=119)
    await session.flush()

    assert await gets_in(browser)
    assert utcnow() - (await latest_session(session, user)).last_seen_at < timedelta(minutes=1)


async def test_a_session_past_its_absolute_lifetime_expires(
    open_browser: OpenBrowser, session: AsyncSession
) -> None:
    user, browser = await open_browser("clerk")
    row = await latest_session(session, user)
    assert timedelta(hours=11, minutes=59) < row.expires_at - utcnow() <= timedelta(hours=12)
    row.expires_at = utcnow() - timedelta(seconds=1)
    await session.flush()

    assert not await gets_in(browser)


async def test_the_idle_timeout_follows_the_setting(
    engine: AsyncEngine, database: Database, session: AsyncSession
) -> None:
    app = create_app(settings_for(url_of(engine), session_idle_minutes=5), database)
    user = await make_user(session)
    async with client_for(app) as browser:
        await admin_login(browser, user.email)
        row = await latest_session(session, user)
        row.last_seen_at = utcnow() - timedelta(minutes=5, seconds=1)
        await session.flush()

        assert not await gets_in(browser)


async def test_last_seen_at_is_written_at_most_once_a_minute(
    open_browser: OpenBrowser, session: AsyncSession
) -> None:
    user, browser = await open_browser("clerk")
    first_seen = (await latest_session(session, user)).last_seen_at

    await browser.get("/admin/")
    await browser.get("/admin/")

    row = await latest_session(session, user)
    assert row.last_seen_at == first_seen
    row.last_seen_at = first_seen - timedelta(minutes=2)
    await session.flush()
    await browser.get("/admin/")
    assert (await latest_session(session, user)).last_seen_at > first_seen


# --- revocation ----------------------------------------------------------------------------


async def test_a_password_change_ends_the_users_other_sessions(
    open_browser: OpenBrowser, session: AsyncSession
) -> None:
    user, here = await open_browser("clerk")
    kept = await latest_session(session, user)
    _, elsewhere = await open_browser(user=user)
    await session.refresh(user)
    principal = staff_principal(user)

    await change_password(
        session,
        principal,
        user,
        ChangePassword(current_password=DEFAULT_PASSWORD, new_password=NEW_PASSWORD),
        keep_session_id=kept.id,
    )
    await session.flush()

    assert await gets_in(here)
    assert not await gets_in(elsewhere)


async def test_a_password_change_without_a_kept_session_ends_them_all(
    open_browser: OpenBrowser, session: AsyncSession
) -> None:
    user, browser = await open_browser("clerk")
    await session.refresh(user)
    principal = staff_principal(user)

    await change_password(
        session,
        principal,
        user,
        ChangePassword(current_password=DEFAULT_PASSWORD, new_password=NEW_PASSWORD),
    )
    await session.flush()

    assert not await gets_in(browser)


async def test_an_admin_revokes_another_users_session(
    open_browser: OpenBrowser, session: AsyncSession
) -> None:
    clerk, clerks_browser = await open_browser("clerk")
    admin = await make_user(session, role="admin")
    target = await latest_session(session, clerk)

    await revoke_session(session, staff_principal(admin), target.id)
    await session.flush()

    assert (await latest_session(session, clerk)).revoked_at is not None
    assert not await gets_in(clerks_browser)


async def test_a_clerk_cannot_revoke_someone_elses_session(
    open_browser: OpenBrowser, session: AsyncSession
) -> None:
    admin, admins_browser = await open_browser("admin")
    clerk = await make_user(session, role="clerk")
    target = await latest_session(session, admin)

    with pytest.raises(NotFound):
        await revoke_session(session, staff_principal(clerk), target.id)

    assert await gets_in(admins_browser)


async def test_anyone_may_end_their_own_session(
    open_browser: OpenBrowser, session: AsyncSession
) -> None:
    viewer, browser = await open_browser("viewer")
    await session.refresh(viewer)
    target = await latest_session(session, viewer)

    await revoke_session(session, staff_principal(viewer), target.id)
    await session.flush()

    assert not await gets_in(browser)


async def test_deactivation_ends_the_admin_session_at_once(
    open_browser: OpenBrowser, session: AsyncSession
) -> None:
    user, browser = await open_browser("manager")
    assert await gets_in(browser)
    await session.refresh(user)
    admin = await make_user(session, role="admin")

    await deactivate_user(session, staff_principal(admin), user)
    await session.flush()

    assert not await gets_in(browser)
    assert (await latest_session(session, user)).revoked_at is not None


async def test_an_inactive_user_cannot_log_in_to_the_admin(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session, is_active=False)

    response = await admin_login(client, user.email)

    assert response.status_code == 400
    assert await count_staff_sessions(session, user.id) == 0


async def test_a_missing_session_id_is_not_found(session: AsyncSession) -> None:
    admin = await make_user(session, role="admin")

    with pytest.raises(NotFound):
        await revoke_session(session, staff_principal(admin), 999999)


async def test_staff_sessions_store_only_token_digests(
    open_browser: OpenBrowser, session: AsyncSession
) -> None:
    user, browser = await open_browser("clerk")
    sid = str(cookie_payload(browser.cookies["bo_session"])["sid"])

    row = await latest_session(session, user)

    assert row.token_hash == hashlib.sha256(sid.encode()).hexdigest()
