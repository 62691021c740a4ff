"""Password guesses sent in parallel count like guesses sent one by one (SPEC §5): each is
counted and audited, and the fifth locks the account — on SQLite and PostgreSQL, with
committed transactions that really overlap."""

from __future__ import annotations

import asyncio
import uuid

import httpx
from sqlalchemy import func, select

from app.auth.login import LOCKOUT_THRESHOLD
from app.models import AuditEvent, User
from tests.api.live import LiveApp
from tests.factories import DEFAULT_PASSWORD, make_user

TOKEN = "/api/v1/auth/token"


async def _audited(live: LiveApp, action: str, email: str) -> int:
    async with live.database.read_session() as session:
        statement = (
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == action, AuditEvent.actor_email == email)
        )
        return int((await session.execute(statement)).scalar_one())


async def test_parallel_wrong_passwords_are_all_counted_and_lock_the_account(
    live: LiveApp, live_client: httpx.AsyncClient
) -> None:
    email = f"guess-{uuid.uuid4().hex[:8]}@example.com"
    async with live.database.sessionmaker() as session:
        await make_user(session, role="admin", email=email)
        await session.commit()

    guesses = await asyncio.gather(
        *(
            live_client.post(TOKEN, data={"username": email, "password": f"guess number {n}"})
            for n in range(LOCKOUT_THRESHOLD)
        )
    )

    # Each one a plain refusal: none lost a race (that was a 409, uncounted and unaudited).
    assert [r.status_code for r in guesses] == [401] * LOCKOUT_THRESHOLD, [r.text for r in guesses]
    assert await _audited(live, "login.failed", email) == LOCKOUT_THRESHOLD
    assert await _audited(live, "user.locked", email) == 1
    async with live.database.read_session() as session:
        user = (await session.execute(select(User).where(User.email == email))).scalar_one()
    assert user.locked_until is not None
    right = await live_client.post(TOKEN, data={"username": email, "password": DEFAULT_PASSWORD})
    assert right.status_code == 401, "the right password got in after five guesses"
