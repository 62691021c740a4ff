"""Logging in through either door in tests: the token endpoint and the admin login form."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import StaffSession
from tests.factories import DEFAULT_PASSWORD

# The hidden form field of the login and logout pages, and the <meta> tag of every admin page.
_CSRF_PATTERNS = (
    re.compile(r'name="csrf_token" value="([^"]+)"'),
    re.compile(r'name="csrf-token" content="([^"]+)"'),
)
TOKEN_URL = "/api/v1/auth/token"
ADMIN_LOGIN_URL = "/admin/login"


@asynccontextmanager
async def client_for(
    app: FastAPI, base_url: str = "http://testserver", headers: dict[str, str] | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    """Another browser or script: a client with its own cookie jar, on the same app."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url=base_url, headers=headers) as client:
        yield client


def csrf_from(html: str) -> str:
    """The CSRF token a page hands to its forms."""
    for pattern in _CSRF_PATTERNS:
        found = pattern.search(html)
        if found:
            return found.group(1)
    raise AssertionError("no CSRF token on the page")


async def admin_csrf(client: httpx.AsyncClient, path: str = ADMIN_LOGIN_URL) -> str:
    """GET an admin page (the login page by default) and return its CSRF token."""
    response = await client.get(path)
    assert response.status_code == 200, response.text
    return csrf_from(response.text)


async def admin_login(
    client: httpx.AsyncClient,
    email: str,
    password: str = DEFAULT_PASSWORD,
    *,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """Fill in the admin login form as a browser would (login page first, for the token)."""
    token = await admin_csrf(client)
    return await client.post(
        ADMIN_LOGIN_URL,
        data={"username": email, "password": password, "csrf_token": token},
        headers=headers,
    )


async def api_login(
    client: httpx.AsyncClient,
    email: str,
    password: str = DEFAULT_PASSWORD,
    *,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """The OAuth2 password flow: form fields `username` and `password`."""
    return await client.post(
        TOKEN_URL, data={"username": email, "password": password}, headers=headers
    )


async def access_token(client: httpx.AsyncClient, email: str) -> str:
    """A JWT access token for `email` (factory password)."""
    response = await api_login(client, email)
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def is_login_redirect(response: httpx.Response) -> bool:
    return response.status_code == 302 and response.headers["location"].endswith(ADMIN_LOGIN_URL)


async def gets_in(browser: httpx.AsyncClient) -> bool:
    """Whether the admin lets this browser in, or sends it to the login page.

    Only authentication is asked here, not what the dashboard renders (other tests own it).
    """
    response = await browser.get("/admin/")
    assert response.status_code not in (401, 403), response.status_code
    return not is_login_redirect(response)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def count_staff_sessions(session: AsyncSession, user_id: int | None = None) -> int:
    statement = select(func.count()).select_from(StaffSession)
    if user_id is not None:
        statement = statement.where(StaffSession.user_id == user_id)
    return int((await session.execute(statement)).scalar_one())


async def create_personal_token(
    client: httpx.AsyncClient, headers: dict[str, str], **body: object
) -> dict[str, object]:
    """POST /api/v1/me/tokens; returns the created body (with the one-time `token`)."""
    response = await client.post(
        "/api/v1/me/tokens", json={"name": "script", **body}, headers=headers
    )
    assert response.status_code == 201, response.text
    created: dict[str, object] = response.json()
    return created
