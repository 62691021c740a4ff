"""API test fixtures: users of each role (OAuth2 password flow), and the order tests' callers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Customer, User
from tests.api.live import live, live_client  # noqa: F401 (fixtures for the concurrency tests)
from tests.api.order_helpers import Caller, caller
from tests.auth_helpers import access_token, bearer
from tests.factories import make_customer, make_user

LoginAs = Callable[..., Awaitable[tuple[User, dict[str, str]]]]


@pytest.fixture
def login_as(client: httpx.AsyncClient, session: AsyncSession) -> LoginAs:
    """Make a user with `role` and return them with Authorization headers for an access token."""

    async def login(role: str | None = "admin") -> tuple[User, dict[str, str]]:
        user = await make_user(session, role=role)
        return user, bearer(await access_token(client, user.email))

    return login


@pytest.fixture
async def admin(login_as: LoginAs) -> tuple[User, dict[str, str]]:
    """An admin and their bearer headers."""
    return await login_as("admin")


# Order tests (test_orders_api.py, test_order_lifecycle.py).
@pytest.fixture
async def admin_caller(session: AsyncSession) -> Caller:
    return await caller(session, "admin")


@pytest.fixture
async def customer(session: AsyncSession) -> Customer:
    return await make_customer(session, name="Ada Shop", company="Ada Ltd")
