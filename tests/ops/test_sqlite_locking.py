"""The embedded SQLite database under concurrent use: writers queue for the write lock at
BEGIN, read-only sessions take no lock and hold up no writer (WAL), and a lock still busy
when the busy timeout runs out is answered 503, never 500."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select, text, update

import app.infra.db
from app.infra.db import Database, create_engine, transaction
from app.infra.migrations import upgrade_engine
from app.main import create_app
from app.models import Customer, Product
from tests.api.domain_helpers import assert_problem, token_caller
from tests.conftest import test_settings as settings_for
from tests.factories import make_customer, make_product

# Short, so a test that waits it out stays quick; long enough for the queued writers.
BUSY_TIMEOUT_MS = 1500


@pytest.fixture
async def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Database]:
    monkeypatch.setattr(app.infra.db, "SQLITE_BUSY_TIMEOUT_MS", BUSY_TIMEOUT_MS)
    engine = create_engine(settings_for(f"sqlite+aiosqlite:///{tmp_path / 'locking.db'}"))
    try:
        await upgrade_engine(engine)
        yield Database.from_engine(engine)
    finally:
        await engine.dispose()


async def test_the_file_is_in_write_ahead_log_mode(database: Database) -> None:
    async with database.connect_read_only() as connection:
        assert (await connection.execute(text("PRAGMA journal_mode"))).scalar_one() == "wal"


async def test_writers_that_read_first_queue_and_lose_no_update(database: Database) -> None:
    async with transaction(database.sessionmaker) as session:
        product_id = (await make_product(session, stock=100)).id

    async def take_one() -> None:
        # Read, yield to the others, write what was read minus one: the classic lost update
        # if two of these ever overlap.
        async with transaction(database.sessionmaker) as session:
            stock = (
                await session.execute(select(Product.stock).where(Product.id == product_id))
            ).scalar_one()
            await asyncio.sleep(0.005)
            await session.execute(
                update(Product).where(Product.id == product_id).values(stock=stock - 1)
            )

    await asyncio.gather(*(take_one() for _ in range(10)))

    async with database.read_session() as session:
        stock = (
            await session.execute(select(Product.stock).where(Product.id == product_id))
        ).scalar_one()
    assert stock == 90


async def test_a_read_only_session_neither_waits_for_a_writer_nor_holds_it_up(
    database: Database,
) -> None:
    async with transaction(database.sessionmaker) as session:
        await make_customer(session)
    count = select(func.count()).select_from(Customer)
    async with asyncio.timeout(BUSY_TIMEOUT_MS / 2000):
        async with database.sessionmaker() as writer, database.read_session() as reader:
            await make_customer(writer)  # holds the write lock from here to its commit
            # Reads while the writer holds the lock, and sees what was committed before.
            assert (await reader.execute(count)).scalar_one() == 1
            # Commits while the reader's transaction is still open.
            await writer.commit()
            assert (await reader.execute(count)).scalar_one() == 1  # its snapshot
        async with database.read_session() as later:
            assert (await later.execute(count)).scalar_one() == 2


async def test_a_write_lock_busy_past_the_timeout_is_a_503_and_changes_nothing(
    database: Database,
) -> None:
    settings = settings_for(str(database.engine.url))
    async with transaction(database.sessionmaker) as session:
        _, headers = await token_caller(session)
    client_app = create_app(settings, database)
    transport = httpx.ASGITransport(app=client_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        assert (await client.get("/api/v1/me", headers=headers)).status_code == 200
        async with database.sessionmaker() as holder:
            await make_customer(holder)  # takes the write lock and keeps it
            response = await client.post(
                "/api/v1/customers",
                json={"name": "Queued", "email": "queued@example.com"},
                headers=headers,
            )
            await holder.rollback()
        assert_problem(response, 503)
        assert "try again" in response.json()["detail"]
        listed = await client.get("/api/v1/customers", params={"q": "Queued"}, headers=headers)
    assert listed.status_code == 200 and listed.json()["items"] == []
