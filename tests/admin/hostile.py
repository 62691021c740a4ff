"""What the admin attack tests share: every admin view, its routes, and a logged-in browser."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.routing import Mount, Route

from app.admin import MODEL_VIEWS
from tests.admin.admin_world import page_token
from tests.auth_helpers import admin_login, client_for
from tests.factories import make_user

# SPEC §8's identities, from the views themselves (a new view is attacked too).
IDENTITIES = [view.identity for view in MODEL_VIEWS]

# Ids no row has, nor could: past the column's range, signs, non-ASCII digits, spaces, NUL.
HOSTILE_IDS = [
    "2147483648",
    "99999999999999999999",
    "-1",
    "0",
    "²",
    "١٢",
    "1e3",
    " 1",
    "1\x00",
    "",
]


@asynccontextmanager
async def admin_browser(
    app: FastAPI, session: AsyncSession, role: str = "admin"
) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    """A browser logged in to the admin as a new user of `role`, and a page's CSRF token."""
    user = await make_user(session, role=role)
    async with client_for(app) as browser:
        response = await admin_login(browser, user.email)
        assert response.status_code == 302, response.text
        yield browser, await page_token(browser)


def admin_routes(app: FastAPI) -> list[Route]:
    """The routes of the mounted admin."""
    for route in app.routes:
        if isinstance(route, Mount) and route.path == "/admin":
            return [r for r in route.routes if isinstance(r, Route)]
    raise AssertionError("no admin mount")


def action_paths(app: FastAPI, identity: str) -> list[str]:
    """`/admin/<identity>/action/<name>` of every custom action of the view."""
    prefix = f"/{identity}/action/"
    return [f"/admin{r.path}" for r in admin_routes(app) if r.path.startswith(prefix)]
