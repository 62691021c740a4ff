"""Two admins demoting each other at the same moment cannot leave nobody in charge (SPEC §14).

The lock-out guard reads the database after the change; without one lock order for such
changes, both transactions would see the other admin still in place and both commit.
"""

from __future__ import annotations

import asyncio

import httpx
from sqlalchemy import select, update

from app.auth.api_tokens import create_token
from app.auth.ceilings import STAFF_MANAGEMENT
from app.auth.principal import Principal
from app.auth.token_commands import CreateToken
from app.infra.db import transaction
from app.models import User
from app.permissions import permissions_of
from tests.api.live import LiveApp
from tests.factories import make_user

ROUNDS = 5


async def only_two_admins(live: LiveApp) -> tuple[dict[str, str], dict[str, str], int, int]:
    async with transaction(live.database.sessionmaker) as session:
        await session.execute(update(User).values(is_active=False))
        first = await make_user(session, role="admin")
        second = await make_user(session, role="admin")
        _, first_token = await create_token(
            session, Principal.system(), first, CreateToken(name="a")
        )
        _, second_token = await create_token(
            session, Principal.system(), second, CreateToken(name="b")
        )
    return (
        {"Authorization": f"Bearer {first_token}"},
        {"Authorization": f"Bearer {second_token}"},
        first.id,
        second.id,
    )


async def managers_left(live: LiveApp) -> int:
    async with live.database.read_session() as session:
        users = (await session.execute(select(User).where(User.is_active.is_(True)))).scalars()
        return sum(
            1
            for user in users
            if permissions_of(r.permissions for r in user.roles) >= STAFF_MANAGEMENT
        )


async def test_mutual_demotion_leaves_one_admin(
    live: LiveApp,
    live_client: httpx.AsyncClient,
) -> None:
    for _ in range(ROUNDS):
        first, second, first_id, second_id = await only_two_admins(live)

        answers = await asyncio.gather(
            live_client.patch(
                f"/api/v1/users/{second_id}", json={"roles": ["viewer"]}, headers=first
            ),
            live_client.patch(
                f"/api/v1/users/{first_id}", json={"roles": ["viewer"]}, headers=second
            ),
        )

        statuses = sorted(answer.status_code for answer in answers)
        assert statuses in ([200, 403], [200, 409]), [a.text for a in answers]
        assert await managers_left(live) == 1
