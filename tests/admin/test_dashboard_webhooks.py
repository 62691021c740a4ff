"""The dashboard flags webhook endpoints that are failing or were disabled."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import WebhookEndpoint
from app.models.base import utcnow
from tests.auth_helpers import admin_login
from tests.factories import make_user


async def test_a_failing_endpoint_is_flagged_on_the_dashboard(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session, role="admin")
    session.add_all(
        [
            WebhookEndpoint(
                url="https://ok.example.com/hook", events=["order.placed"], secret="s1"
            ),
            WebhookEndpoint(
                url="https://down.example.com/hook",
                events=["order.placed"],
                secret="s2",
                failing_since=utcnow(),
            ),
        ]
    )
    await session.flush()
    assert (await admin_login(client, user.email)).status_code == 302

    page = await client.get("/admin/")

    assert page.status_code == 200
    assert 'id="failing-webhooks"' in page.text
    assert "https://down.example.com/hook" in page.text
    assert "https://ok.example.com/hook" not in page.text


async def test_no_warning_when_every_endpoint_is_healthy(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session, role="admin")
    assert (await admin_login(client, user.email)).status_code == 302
    assert 'id="failing-webhooks"' not in (await client.get("/admin/")).text
