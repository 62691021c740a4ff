"""Liveness and readiness probes."""

from __future__ import annotations

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection


async def test_healthz_answers_ok(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_is_ready_on_a_migrated_database(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200, response.text
    assert response.json()["migrations"] == "head"


async def test_readyz_is_unavailable_when_migrations_are_behind(
    client: httpx.AsyncClient, connection: AsyncConnection
) -> None:
    current = (await connection.execute(text("SELECT version_num FROM alembic_version"))).scalar()
    await connection.execute(text("UPDATE alembic_version SET version_num = 'old'"))
    await connection.commit()
    try:
        response = await client.get("/readyz")
        assert response.status_code == 503
        assert "old" in response.json()["migrations"]
    finally:
        # Back to what it was (head): later tests on this database check readiness too.
        await connection.execute(
            text("UPDATE alembic_version SET version_num = :current"), {"current": current}
        )
        await connection.commit()
