"""The retry policy outside HTTP (the CLI): re-run after a clash, never after a doubtful commit."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.infra.db_errors import FailureKind, failure_kind
from app.infra.retry_policy import MAX_ATTEMPTS, note_commit_started, run_with_retry
from tests.faults.conftest import ProxiedApp

pytestmark = pytest.mark.postgres


async def _table(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.execute(text("CREATE TABLE IF NOT EXISTS retry_probe (id int)"))
        await connection.execute(text("INSERT INTO retry_probe VALUES (1)"))


async def _update_waiting_at_most(engine: AsyncEngine, lock_timeout: str) -> None:
    """One unit of work that needs the probe row's lock, waiting at most `lock_timeout`."""
    async with engine.begin() as connection:
        await connection.execute(text(f"SET LOCAL lock_timeout = '{lock_timeout}'"))
        await connection.execute(text("UPDATE retry_probe SET id = id + 1"))


async def test_a_unit_of_work_that_clashed_runs_again(proxied: ProxiedApp) -> None:
    engine = proxied.direct
    await _table(engine)
    attempts = 0
    async with engine.connect() as holder:
        await holder.execute(text("SELECT id FROM retry_probe FOR UPDATE"))

        async def work() -> str:
            nonlocal attempts
            attempts += 1
            if attempts == 2:
                await holder.rollback()  # the other transaction finishes meanwhile
            await _update_waiting_at_most(engine, "50ms")
            return "done"

        assert await run_with_retry(work) == "done"
    assert attempts == 2


async def test_a_clash_that_persists_is_raised_after_the_last_attempt(proxied: ProxiedApp) -> None:
    engine = proxied.direct
    await _table(engine)
    attempts = 0
    async with engine.connect() as holder:
        await holder.execute(text("SELECT id FROM retry_probe FOR UPDATE"))

        async def work() -> None:
            nonlocal attempts
            attempts += 1
            await _update_waiting_at_most(engine, "20ms")

        with pytest.raises(Exception) as raised:
            await run_with_retry(work)
        await holder.rollback()
    assert failure_kind(raised.value) is FailureKind.CONFLICT
    assert attempts == MAX_ATTEMPTS


async def test_a_failure_after_the_commit_began_is_not_run_again() -> None:
    attempts = 0

    async def work() -> None:
        nonlocal attempts
        attempts += 1
        note_commit_started()
        raise ConnectionResetError("connection lost during COMMIT")

    with pytest.raises(ConnectionResetError):
        await run_with_retry(work)
    assert attempts == 1
