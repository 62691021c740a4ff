"""API requests wait their turn for a pooled connection, in arrival order (PostgreSQL pool)."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from app.infra import db
from app.infra.db import Database
from app.main import create_app
from tests.conftest import test_settings as settings_for
from tests.conftest import url_of

UNKNOWN_TOKEN = {"Authorization": "Bearer bo_" + "x" * 43}


async def test_the_gate_has_one_place_per_pooled_connection(
    postgresql_engine: AsyncEngine,
) -> None:
    database = Database.from_engine(postgresql_engine)

    assert database.gate is not None
    assert database.gate._value == postgresql_engine.sync_engine.pool.size()  # type: ignore[attr-defined]


async def test_requests_wait_for_a_place_and_are_served_in_arrival_order(
    postgresql_engine: AsyncEngine,
) -> None:
    database = Database.from_engine(postgresql_engine)
    assert database.gate is not None
    database.gate = asyncio.Semaphore(1)
    app = create_app(settings_for(url_of(postgresql_engine)), database)
    transport = httpx.ASGITransport(app=app)
    finished: list[int] = []

    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:

        async def call(n: int) -> None:
            response = await client.get("/api/v1/products", headers=UNKNOWN_TOKEN)
            assert response.status_code == 401  # the token lookup ran: it had its place
            finished.append(n)

        await database.gate.acquire()  # every place taken
        first = asyncio.create_task(call(1))
        await asyncio.sleep(0.05)
        second = asyncio.create_task(call(2))
        await asyncio.sleep(0.2)
        assert finished == []  # both are waiting, not failing
        database.gate.release()
        await asyncio.wait_for(asyncio.gather(first, second), timeout=10)

    assert finished == [1, 2]


async def test_a_request_that_finds_no_free_place_in_time_is_answered_503(
    postgresql_engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every connection stuck (a hung database): waiting at the gate is bounded like the
    # pool's own wait, not forever.
    monkeypatch.setattr(db, "CONNECT_TIMEOUT_SECONDS", 0.3)
    database = Database.from_engine(postgresql_engine)
    database.gate = asyncio.Semaphore(1)
    await database.gate.acquire()
    app = create_app(settings_for(url_of(postgresql_engine)), database)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)

    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        started = time.monotonic()
        # Bounded here too, so a wait that never ends fails the test instead of hanging it.
        response = await asyncio.wait_for(
            client.get("/api/v1/products", headers=UNKNOWN_TOKEN), timeout=10
        )

    assert response.status_code == 503, response.text
    assert 0.3 <= time.monotonic() - started < 3
    assert database.gate.locked()  # the timed-out waiter took no place with it
    database.gate.release()


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_sqlite_has_no_gate(engine: AsyncEngine, backend: str) -> None:
    assert Database.from_engine(engine).gate is None
