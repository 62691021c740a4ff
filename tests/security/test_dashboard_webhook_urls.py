"""Failing webhook URLs on the dashboard (SPEC §14): URLs often carry a credential in their
path or query, so only webhooks:manage holders see them; other staff see at most a count."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import WebhookEndpoint
from app.models.base import utcnow
from tests.admin import conftest as admin_fixtures
from tests.admin.conftest import OpenBrowser

open_browser = admin_fixtures.open_browser  # staff logged in through the admin form

SECRET_URL = "https://hooks.example.com/in/T0KEN-in-the-path?api_key=k3y-in-the-query"
DISABLED_URL = "https://erp.example.com/hook?signature=0ther-secret"


@pytest.fixture
async def failing(session: AsyncSession) -> list[WebhookEndpoint]:
    """One endpoint failing now and one disabled after a day of failures."""
    rows = [
        WebhookEndpoint(
            url=SECRET_URL, events=["order.placed"], secret="whsec_a", failing_since=utcnow()
        ),
        WebhookEndpoint(
            url=DISABLED_URL,
            events=["order.placed"],
            secret="whsec_b",
            failing_since=utcnow(),
            disabled_at=utcnow(),
            disabled_reason="failing for 24 hours",
        ),
    ]
    session.add_all(rows)
    await session.flush()
    return rows


@pytest.mark.parametrize("role", ["manager", "clerk", "viewer"])
async def test_staff_without_webhooks_manage_see_no_failing_url_on_the_dashboard(
    open_browser: OpenBrowser, failing: list[WebhookEndpoint], role: str
) -> None:
    _, browser = await open_browser(role)

    page = await browser.get("/admin/")

    assert page.status_code == 200
    for secret_part in ("hooks.example.com", "T0KEN", "k3y", "erp.example.com", "0ther-secret"):
        assert secret_part not in page.text
    assert "/admin/webhook-endpoint/details/" not in page.text
    assert 'id="failing-webhooks-count">2 failing' in page.text


async def test_a_webhook_manager_sees_which_endpoints_fail(
    open_browser: OpenBrowser, failing: list[WebhookEndpoint]
) -> None:
    _, browser = await open_browser("admin")

    page = await browser.get("/admin/")

    assert page.status_code == 200
    for endpoint in failing:
        assert f"/admin/webhook-endpoint/details/{endpoint.id}" in page.text
    assert "T0KEN-in-the-path" in page.text and "failing for 24 hours" in page.text
    assert "failing-webhooks-count" not in page.text
