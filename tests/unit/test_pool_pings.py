"""When the pool pings a connection before use: after it idled, or after a connection error."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import exc, text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.infra import db
from tests.conftest import test_settings as settings_for


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = db.create_engine(settings_for(f"sqlite+aiosqlite:///{tmp_path / 'pings.db'}"))
    yield engine
    await engine.dispose()


@pytest.fixture
def pings(engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every ping the pool sends, recorded (and still sent)."""
    dialect = engine.sync_engine.dialect
    sent: list[Any] = []
    real_ping = dialect.do_ping

    def do_ping(dbapi_connection: Any) -> bool:
        sent.append(dbapi_connection)
        return bool(real_ping(dbapi_connection))

    monkeypatch.setattr(dialect, "do_ping", do_ping)
    return sent


async def select_one(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        assert (await connection.execute(text("SELECT 1"))).scalar_one() == 1


async def test_a_connection_in_steady_use_is_not_pinged(
    engine: AsyncEngine, pings: list[Any]
) -> None:
    for _ in range(5):
        await select_one(engine)

    assert pings == []


async def test_a_connection_that_sat_idle_is_pinged_first(
    engine: AsyncEngine, pings: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    await select_one(engine)
    monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 0.0)

    await select_one(engine)

    assert len(pings) == 1


async def test_after_a_connection_error_every_checkout_is_pinged_for_a_while(
    engine: AsyncEngine, pings: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    async def fail() -> None:
        with pytest.raises(exc.OperationalError):  # SQLite's error class for a missing table
            async with engine.connect() as connection:
                await connection.execute(text("SELECT * FROM no_such_table"))

    await select_one(engine)
    await fail()
    await select_one(engine)
    await select_one(engine)
    pinged_after_trouble = len(pings)
    monkeypatch.setattr(db, "PING_AFTER_TROUBLE_SECONDS", 0.0)
    await fail()  # this error opens a window of no length
    pings.clear()
    await select_one(engine)

    assert pinged_after_trouble == 2
    assert pings == []


async def test_a_dead_connection_found_by_the_ping_is_replaced(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    await select_one(engine)
    dialect = engine.sync_engine.dialect

    pinged: list[Any] = []

    def dead(dbapi_connection: Any) -> bool:
        pinged.append(dbapi_connection)
        raise ConnectionResetError("the server closed the connection")

    monkeypatch.setattr(dialect, "do_ping", dead)
    monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 0.0)

    await select_one(engine)  # the pool discarded the pinged connection and opened another

    assert len(pinged) == 1  # the idle one was pinged; the fresh one was trusted
