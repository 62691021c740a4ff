"""A webhook signing secret at every door (issue 18, SPEC §14): shown in the one-time reveal
and nowhere else: not in a problem response, not on an admin page, not in a log record,
with the product's logging at DEBUG."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import WebhookEndpoint
from tests.admin import conftest as admin_fixtures
from tests.admin.conftest import OpenBrowser
from tests.api.domain_helpers import assert_problem, token_caller
from tests.auth_helpers import admin_csrf, csrf_from
from tests.log_capture import product_logging_at

open_browser = admin_fixtures.open_browser

WEBHOOKS = "/api/v1/webhooks"
BODY = {"url": "https://hooks.example.com/in", "events": ["customer.created"]}


@pytest.fixture
def product_logging_at_debug(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """LOG_LEVEL=DEBUG through the product's own set-up (undone afterwards); the
    application's loggers at DEBUG whatever the set-up says."""
    with product_logging_at(caplog, ("app", "backoffice", "httpx")):
        yield


def _logged(records: list[logging.LogRecord]) -> str:
    return "\n".join(f"{r.getMessage()} {r.__dict__!r} {r.exc_text or ''}" for r in records)


async def test_no_problem_response_or_log_record_carries_the_secret(
    client: httpx.AsyncClient,
    session: AsyncSession,
    caplog: pytest.LogCaptureFixture,
    product_logging_at_debug: None,
) -> None:
    _, headers = await token_caller(session, "admin")
    created = await client.post(WEBHOOKS, json=BODY, headers=headers)
    assert created.status_code == 201, created.text
    endpoint_id = created.json()["id"]
    rotated = await client.post(f"{WEBHOOKS}/{endpoint_id}/rotate-secret", headers=headers)
    assert rotated.status_code == 200, rotated.text
    secrets = [created.json()["secret"], rotated.json()["secret"]]
    one = f"{WEBHOOKS}/{endpoint_id}"
    stale = {**headers, "If-Match": '"999"'}

    problems = [
        assert_problem(await client.patch(one, json={"url": "ftp://x"}, headers=headers), 422),
        assert_problem(await client.patch(one, json={"events": ["nope"]}, headers=headers), 422),
        assert_problem(await client.patch(one, json={"is_active": "maybe"}, headers=headers), 422),
        assert_problem(await client.patch(one, json={"description": "x"}, headers=stale), 412),
        assert_problem(await client.post(f"{one}/rotate-secret", headers=stale), 412),
        assert_problem(await client.delete(one, headers=stale), 412),
        assert_problem(await client.get(f"{WEBHOOKS}/999999", headers=headers), 404),
        assert_problem(await client.get(f"{WEBHOOKS}?sort=secret", headers=headers), 422),
    ]

    assert len(problems) == 8
    shown = repr(problems)
    logged = _logged(caplog.records)
    assert caplog.records, "nothing was logged, so the check below proves nothing"
    for secret in secrets:
        assert secret not in logged
        assert secret.removeprefix("whsec_") not in shown  # not even its key part
    assert "whsec_" not in shown


async def test_admin_pages_show_the_secret_only_in_the_one_time_reveal(
    open_browser: OpenBrowser,
    session: AsyncSession,
    caplog: pytest.LogCaptureFixture,
    product_logging_at_debug: None,
) -> None:
    _, browser = await open_browser("admin")
    new = "/admin/webhook-endpoint/create"
    token = csrf_from((await browser.get(new)).text)
    created = await browser.post(
        new,
        data={"csrf_token": token, "url": BODY["url"], "events": BODY["events"], "is_active": "y"},
    )
    assert created.status_code == 200, created.text[:300]  # re-rendered with the modal
    revealed = created.text.split('value="whsec_', 1)[1].split('"', 1)[0]
    secret = "whsec_" + revealed
    listed = await browser.get("/admin/webhook-endpoint/list")
    assert listed.status_code == 200 and BODY["url"] in listed.text
    endpoint_id = listed.text.split("/admin/webhook-endpoint/details/", 1)[1].split('"', 1)[0]
    token = await admin_csrf(browser, "/admin/webhook-endpoint/list")

    pages = [
        listed,
        await browser.get(f"/admin/webhook-endpoint/details/{endpoint_id}"),
        await browser.get(f"/admin/webhook-endpoint/edit/{endpoint_id}"),
        await browser.get("/admin/webhook-delivery/list"),
        await browser.get("/admin/audit-event/list"),
        await browser.get(new),
        await browser.post(
            f"/admin/webhook-endpoint/edit/{endpoint_id}",
            data={"csrf_token": token, "url": "ftp://refused", "events": BODY["events"]},
        ),
    ]

    for page in pages:
        assert page.status_code in (200, 400, 422), (page.url, page.status_code)
        assert secret not in page.text and revealed not in page.text, page.url
    assert secret not in _logged(caplog.records)


@pytest.mark.parametrize(
    ("secret", "shown"),
    [
        ("whsec_" + "QUJD" * 11, "Standard Webhooks and Backoffice-Signature"),  # 33 bytes
        (
            "whsec_MSNlkYSW6nlq7pPSmuZDTpMLGbCF2SV_t0pv2SZzhiQ",  # the old form, readable
            "Standard Webhooks for libraries that read this older secret",
        ),
        (
            "whsec_enWFQJPlHQWWiAj96ycyshwe2SjVGh_ZypLch3_ZMMk",  # the old form, unreadable
            "Backoffice-Signature only: rotate the secret for Standard Webhooks",
        ),
    ],
    ids=["standard", "old-readable", "old-unreadable"],
)
async def test_the_endpoint_page_tells_staff_what_the_secret_signs_without_showing_it(
    open_browser: OpenBrowser, session: AsyncSession, secret: str, shown: str
) -> None:
    endpoint = WebhookEndpoint(url=BODY["url"], events=BODY["events"], secret=secret)
    session.add(endpoint)
    await session.flush()
    _, browser = await open_browser("admin")

    page = await browser.get(f"/admin/webhook-endpoint/details/{endpoint.id}")

    assert page.status_code == 200, page.text[:300]
    assert shown in page.text and ">Signing<" in page.text
    assert secret not in page.text and secret.removeprefix("whsec_") not in page.text
