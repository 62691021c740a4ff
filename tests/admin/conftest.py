"""Admin test fixtures: staff logged in through the admin form, each in their own browser."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import StaffSession, User
from tests.auth_helpers import admin_login, client_for
from tests.factories import make_user

Browser = tuple[User, httpx.AsyncClient]
OpenBrowser = Callable[..., Awaitable[Browser]]


@pytest.fixture
async def open_browser(app: FastAPI, session: AsyncSession) -> AsyncIterator[OpenBrowser]:
    """Log a new (or given) user in through the admin form, in a browser of their own."""
    async with AsyncExitStack() as stack:

        async def open_(role: str | None = "admin", user: User | None = None) -> Browser:
            user = user or await make_user(session, role=role)
            browser = await stack.enter_async_context(client_for(app))
            response = await admin_login(browser, user.email)
            assert response.status_code == 302, response.text
            return user, browser

        yield open_


async def latest_session(session: AsyncSession, user: User) -> StaffSession:
    """The user's newest staff session, as the database has it now."""
    statement = (
        select(StaffSession)
        .where(StaffSession.user_id == user.id)
        .order_by(StaffSession.id.desc())
        .limit(1)
        .execution_options(populate_existing=True)
    )
    return (await session.execute(statement)).scalar_one()
