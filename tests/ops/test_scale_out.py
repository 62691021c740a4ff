"""Scale-out (SPEC §10): two app instances on one PostgreSQL behave as one.

Each instance has its own engine, pool and in-process state, like two dynos; only the
database (and Redis, tested in tests/api/test_lockout_ratelimit.py) is shared.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.auth.principal import Principal
from app.infra.db import Database
from app.main import create_app
from app.models import AuditEvent, Customer, User
from app.users.commands import CreateUser
from app.users.service import create_user
from tests.auth_helpers import admin_login, api_login
from tests.conftest import test_settings as settings_for
from tests.conftest import url_of

PASSWORD = "a long passphrase 42"


@pytest.fixture
async def two_instances(
    postgresql_engine: AsyncEngine,
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient, str, Database]]:
    url = url_of(postgresql_engine)
    databases = [Database.from_settings(settings_for(url)) for _ in range(2)]
    apps = [create_app(settings_for(url), database) for database in databases]
    email = f"scale-{uuid.uuid4().hex[:8]}@example.com"
    async with databases[0].sessionmaker() as session:
        command = CreateUser(email=email, password=PASSWORD, roles=["admin"])
        await create_user(session, Principal.system(), command)
        await session.commit()
    clients = [
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
            base_url="http://testserver",
        )
        for app in apps
    ]
    try:
        yield clients[0], clients[1], email, databases[0]
    finally:
        for client in clients:
            await client.aclose()
        async with databases[0].sessionmaker() as session:
            user_id = (await session.execute(select(User.id).where(User.email == email))).scalar()
            await session.execute(delete(Customer).where(Customer.email.like("scale-%")))
            await session.execute(delete(AuditEvent).where(AuditEvent.actor_user_id == user_id))
            await session.execute(delete(User).where(User.id == user_id))
            await session.commit()
        for database in databases:
            await database.dispose()


async def test_a_token_from_one_instance_works_on_the_other(
    two_instances: tuple[httpx.AsyncClient, httpx.AsyncClient, str, Database],
) -> None:
    first, second, email, _ = two_instances
    token = (await api_login(first, email, PASSWORD)).json()["access_token"]
    me = await second.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200
    assert me.json()["email"] == email


async def test_an_admin_session_from_one_instance_works_on_the_other(
    two_instances: tuple[httpx.AsyncClient, httpx.AsyncClient, str, Database],
) -> None:
    first, second, email, _ = two_instances
    assert (await admin_login(first, email, PASSWORD)).status_code == 302
    second.cookies = first.cookies
    dashboard = await second.get("/admin/")
    assert dashboard.status_code == 200
    assert "Dashboard" in dashboard.text


async def test_an_idempotent_retry_on_the_other_instance_replays_without_acting(
    two_instances: tuple[httpx.AsyncClient, httpx.AsyncClient, str, Database],
) -> None:
    first, second, email, database = two_instances
    token = (await api_login(first, email, PASSWORD)).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": uuid.uuid4().hex}
    body = {"name": "Scale", "email": f"scale-{uuid.uuid4().hex[:8]}@example.com"}
    created = await first.post("/api/v1/customers", json=body, headers=headers)
    replayed = await second.post("/api/v1/customers", json=body, headers=headers)
    assert created.status_code == replayed.status_code == 201
    assert replayed.json() == created.json()
    async with database.sessionmaker() as session:
        count = (
            await session.execute(
                select(func.count()).select_from(Customer).where(Customer.email == body["email"])
            )
        ).scalar_one()
    assert count == 1


async def test_lockout_counts_failures_made_on_either_instance(
    two_instances: tuple[httpx.AsyncClient, httpx.AsyncClient, str, Database],
) -> None:
    first, second, email, _ = two_instances
    for attempt in range(5):
        client = first if attempt % 2 else second
        assert (await api_login(client, email, "wrong password!!")).status_code == 401
    locked = await first.post("/api/v1/auth/token", data={"username": email, "password": PASSWORD})
    assert locked.status_code == 401  # the right password is refused while locked
