"""Webhook signing secrets can be rotated (SPEC §14): a leaked secret is retired by
`POST /api/v1/webhooks/{id}/rotate-secret` or the admin action, the new one is shown once,
only to webhooks:manage, audited without either secret, and never kept for a replay."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.types import Receive, Scope, Send

from app.infra.db import transaction
from app.main import create_app
from app.models import AuditEvent, WebhookEndpoint
from tests.admin import conftest as admin_fixtures
from tests.admin.conftest import OpenBrowser
from tests.api.domain_helpers import assert_problem, audit_events, only_audit_event, token_caller
from tests.auth_helpers import admin_csrf
from tests.webhooks import conftest as webhook_fixtures
from tests.webhooks.conftest import CommittedDatabase
from tests.webhooks.helpers import (
    emit_committed,
    make_due,
    only_delivery,
    run_once,
    worker_settings,
)
from tests.webhooks.receivers import running_receiver

# The webhook and admin tests' fixtures: committed databases, a resolver that never asks
# real DNS (autouse), and staff logged in through the admin form.
committed = webhook_fixtures.committed
template = webhook_fixtures.template
sqlite_template = webhook_fixtures.sqlite_template
postgresql_template = webhook_fixtures.postgresql_template
dns = webhook_fixtures.dns
open_browser = admin_fixtures.open_browser

WEBHOOKS = "/api/v1/webhooks"
BODY = {"url": "https://hooks.example.com/in", "events": ["customer.created"]}
ADMIN_ROTATE = "/admin/webhook-endpoint/action/rotate-secret?pks={pk}"


async def _created(client: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, Any]:
    response = await client.post(WEBHOOKS, json=BODY, headers=headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def _stored_secret(session: AsyncSession, endpoint_id: int) -> str:
    statement = (
        select(WebhookEndpoint.secret)
        .where(WebhookEndpoint.id == endpoint_id)
        .execution_options(populate_existing=True)
    )
    return str((await session.execute(statement)).scalar_one())


async def _rotations(session: AsyncSession, endpoint_id: int) -> list[AuditEvent]:
    return await audit_events(session, "webhook_endpoint", endpoint_id, "webhook.secret_rotated")


async def test_rotating_issues_a_new_secret_shown_only_in_that_response(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    _, headers = await token_caller(session, "admin")
    created = await _created(client, headers)
    endpoint_id, old = created["id"], created["secret"]

    rotated = await client.post(f"{WEBHOOKS}/{endpoint_id}/rotate-secret", headers=headers)

    assert rotated.status_code == 200, rotated.text
    new = rotated.json()["secret"]
    assert new.startswith("whsec_") and len(new) > 30 and new != old
    assert rotated.json()["id"] == endpoint_id
    assert rotated.headers["cache-control"] == "no-store"
    assert await _stored_secret(session, endpoint_id) == new
    for read in (
        await client.get(WEBHOOKS, headers=headers),
        await client.get(f"{WEBHOOKS}/{endpoint_id}", headers=headers),
    ):
        assert read.status_code == 200 and "secret" not in read.text


async def test_rotation_is_audited_with_both_secrets_redacted(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    admin, headers = await token_caller(session, "admin")
    created = await _created(client, headers)
    rotated = await client.post(f"{WEBHOOKS}/{created['id']}/rotate-secret", headers=headers)
    assert rotated.status_code == 200, rotated.text

    [event] = await _rotations(session, created["id"])
    assert event.actor_user_id == admin.id and event.channel == "api"
    assert event.changes == {"secret": ["[redacted]", "[redacted]"]}
    every_row = (await session.execute(select(AuditEvent))).scalars().all()
    written = json.dumps([row.changes for row in every_row], default=str)
    assert created["secret"] not in written and rotated.json()["secret"] not in written


@pytest.mark.parametrize("role", ["manager", "clerk", "viewer"])
async def test_staff_without_webhooks_manage_cannot_rotate(
    client: httpx.AsyncClient, session: AsyncSession, role: str
) -> None:
    _, admin_headers = await token_caller(session, "admin")
    created = await _created(client, admin_headers)
    _, headers = await token_caller(session, role)

    response = await client.post(f"{WEBHOOKS}/{created['id']}/rotate-secret", headers=headers)

    assert "whsec_" not in assert_problem(response, 403)["detail"]
    assert await _stored_secret(session, created["id"]) == created["secret"]
    assert (
        await audit_events(session, "webhook_endpoint", created["id"], "webhook.secret_rotated")
        == []
    )


async def test_rotating_an_unknown_or_changed_endpoint_is_refused(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    _, headers = await token_caller(session, "admin")
    created = await _created(client, headers)
    assert_problem(await client.post(f"{WEBHOOKS}/999999/rotate-secret", headers=headers), 404)
    stale = await client.post(
        f"{WEBHOOKS}/{created['id']}/rotate-secret", headers={**headers, "If-Match": '"999"'}
    )
    assert_problem(stale, 412)
    assert await _stored_secret(session, created["id"]) == created["secret"]


async def test_a_repeat_under_the_same_idempotency_key_never_hands_the_secret_out_again(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    _, headers = await token_caller(session, "admin")
    created = await _created(client, headers)
    url = f"{WEBHOOKS}/{created['id']}/rotate-secret"
    keyed = {**headers, "Idempotency-Key": "rotate-1"}
    first = await client.post(url, headers=keyed)
    assert first.status_code == 200, first.text

    repeat = await client.post(url, headers=keyed)

    assert first.json()["secret"] not in repeat.text


@pytest.fixture
def marks(app: FastAPI) -> tuple[httpx.AsyncClient, list[dict[str, Any]]]:
    """A client whose every request's ASGI state is kept for the test to read afterwards."""
    states: list[dict[str, Any]] = []

    async def keeping_state(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope["state"] = {}
            states.append(scope["state"])
        await app(scope, receive, send)

    transport = httpx.ASGITransport(app=keeping_state, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://testserver"), states


async def test_every_response_carrying_a_secret_is_marked_for_the_idempotency_layer(
    marks: tuple[httpx.AsyncClient, list[dict[str, Any]]], session: AsyncSession
) -> None:
    client, states = marks
    _, headers = await token_caller(session, "admin")
    async with client:
        created = await _created(client, headers)
        endpoint = f"{WEBHOOKS}/{created['id']}"
        rotated = await client.post(f"{endpoint}/rotate-secret", headers=headers)
        read = await client.get(endpoint, headers=headers)
        pinged = await client.post(f"{endpoint}/ping", headers=headers)
    assert [r.status_code for r in (rotated, read, pinged)] == [200, 200, 202]
    assert [bool(state.get("carries_secret")) for state in states] == [True, True, False, False]


async def test_after_rotation_deliveries_are_signed_with_the_new_secret_only(
    committed: CommittedDatabase,
) -> None:
    settings = worker_settings(committed.url)
    app = create_app(settings, committed.database)
    async with transaction(committed.database.sessionmaker) as session:
        _, headers = await token_caller(session, "admin")
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    with running_receiver() as receiver:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as api:
            created = await api.post(WEBHOOKS, json={**BODY, "url": receiver.url}, headers=headers)
            assert created.status_code == 201, created.text
            old = created.json()["secret"]
            rotated = await api.post(
                f"{WEBHOOKS}/{created.json()['id']}/rotate-secret", headers=headers
            )
            new = rotated.json()["secret"]
        # A receiver still verifying with the retired secret refuses the delivery...
        receiver.set_secret(old)
        await emit_committed(committed.database, "customer.created", {"customer": {"id": 1}})
        assert await run_once(committed.database, settings) == 1
        assert receiver.behaviour.statuses() == [400]
        # ...and accepts it once it has the new one.
        receiver.set_secret(new)
        await make_due(committed.database)
        assert await run_once(committed.database, settings) == 1
    assert receiver.behaviour.statuses() == [400, 200]
    assert (await only_delivery(committed.database)).status == "succeeded"


# --- the admin action ----------------------------------------------------------------------


@pytest.fixture
async def endpoint_id(session: AsyncSession) -> int:
    endpoint = WebhookEndpoint(url=BODY["url"], events=BODY["events"], secret="whsec_leaked")
    session.add(endpoint)
    await session.flush()
    return endpoint.id


async def test_the_admin_action_rotates_and_shows_the_new_secret_once(
    open_browser: OpenBrowser, session: AsyncSession, endpoint_id: int
) -> None:
    _, browser = await open_browser("admin")
    details = f"/admin/webhook-endpoint/details/{endpoint_id}"
    token = await admin_csrf(browser, details)

    response = await browser.post(ADMIN_ROTATE.format(pk=endpoint_id), data={"csrf_token": token})

    assert response.status_code == 200, response.text[:300]
    new = await _stored_secret(session, endpoint_id)
    assert new != "whsec_leaked" and new.startswith("whsec_")
    assert f'value="{new}"' in response.text  # the one-time modal
    assert "no-store" in response.headers["cache-control"]
    event = await only_audit_event(
        session, "webhook_endpoint", endpoint_id, "webhook.secret_rotated"
    )
    assert event.channel == "admin"
    later = await browser.get(details)
    assert later.status_code == 200 and new not in later.text


@pytest.mark.parametrize(
    ("role", "with_token", "method"),
    [
        ("manager", True, "POST"),
        ("viewer", True, "POST"),
        ("admin", False, "POST"),  # a cross-site form: no CSRF token
        ("admin", False, "GET"),  # a cross-site link
    ],
)
async def test_the_admin_action_is_refused_without_the_permission_or_the_csrf_token(
    open_browser: OpenBrowser,
    session: AsyncSession,
    endpoint_id: int,
    role: str,
    with_token: bool,
    method: str,
) -> None:
    _, browser = await open_browser(role)
    data = {"csrf_token": await admin_csrf(browser, "/admin/")} if with_token else {}

    response = await browser.request(method, ADMIN_ROTATE.format(pk=endpoint_id), data=data)

    assert response.status_code == 403, response.text[:300]
    assert "whsec_" not in response.text
    assert await _stored_secret(session, endpoint_id) == "whsec_leaked"
    assert (
        await audit_events(session, "webhook_endpoint", endpoint_id, "webhook.secret_rotated") == []
    )


async def test_the_admin_action_rotates_one_endpoint_at_a_time(
    open_browser: OpenBrowser, session: AsyncSession, endpoint_id: int
) -> None:
    _, browser = await open_browser("admin")
    token = await admin_csrf(browser, "/admin/")
    response = await browser.post(
        ADMIN_ROTATE.format(pk=f"{endpoint_id},{endpoint_id}"), data={"csrf_token": token}
    )
    assert "whsec_" not in response.text
    assert await _stored_secret(session, endpoint_id) == "whsec_leaked"
