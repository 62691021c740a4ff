"""/api/v1/webhooks: webhooks:manage only, the secret shown once, audited changes and re-sends,
and the secret never in an audit row or a log record."""

from __future__ import annotations

import json
import logging

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import AuditEvent, WebhookDelivery, WebhookEndpoint, WebhookEvent
from app.models.base import utcnow
from tests.api.domain_helpers import assert_problem, only_audit_event, token_caller

WEBHOOKS = "/api/v1/webhooks"
BODY = {"url": "https://hooks.example.com/in", "events": ["order.placed"], "description": "ERP"}


@pytest.mark.parametrize("role", ["manager", "clerk", "viewer", None])
async def test_only_admins_manage_webhooks(
    client: httpx.AsyncClient, session: AsyncSession, role: str | None
) -> None:
    _, headers = await token_caller(session, role)
    assert_problem(await client.get(WEBHOOKS, headers=headers), 403)
    assert_problem(await client.post(WEBHOOKS, json=BODY, headers=headers), 403)
    assert_problem(await client.post(f"{WEBHOOKS}/1/ping", headers=headers), 403)
    assert_problem(await client.post(f"{WEBHOOKS}/deliveries/1/resend", headers=headers), 403)
    assert (await session.execute(select(WebhookEndpoint))).first() is None


async def test_an_anonymous_caller_is_told_to_authenticate(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get(WEBHOOKS), 401)


async def test_the_secret_is_shown_only_in_the_create_response(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    _, headers = await token_caller(session, "admin")
    created = await client.post(WEBHOOKS, json=BODY, headers=headers)
    assert created.status_code == 201, created.text
    secret = created.json()["secret"]
    assert secret.startswith("whsec_") and len(secret) > 30
    assert created.headers["cache-control"] == "no-store"
    endpoint_id = created.json()["id"]
    assert created.headers["location"] == f"{WEBHOOKS}/{endpoint_id}"

    reads = [
        await client.get(WEBHOOKS, headers=headers),
        await client.get(f"{WEBHOOKS}/{endpoint_id}", headers=headers),
        await client.patch(
            f"{WEBHOOKS}/{endpoint_id}",
            json={"description": "ERP sync"},
            headers={**headers, "If-Match": created.headers["etag"]},
        ),
    ]
    for response in reads:
        assert response.status_code == 200, response.text
        assert secret not in response.text
        assert "secret" not in response.text
    assert [e["id"] for e in reads[0].json()["items"]] == [endpoint_id]


async def test_endpoint_changes_are_audited_with_the_secret_redacted(
    client: httpx.AsyncClient, session: AsyncSession, caplog: pytest.LogCaptureFixture
) -> None:
    # Everything the application logs; driver debug logs (SQL parameters) are out of scope.
    caplog.set_level(logging.INFO)
    for name in ("app", "backoffice"):
        caplog.set_level(logging.DEBUG, logger=name)
    admin, headers = await token_caller(session, "admin")
    created = await client.post(WEBHOOKS, json=BODY, headers=headers)
    assert created.status_code == 201, created.text
    endpoint_id, secret = created.json()["id"], created.json()["secret"]
    updated = await client.patch(
        f"{WEBHOOKS}/{endpoint_id}",
        json={"events": ["order.placed", "order.paid"], "is_active": False},
        headers={**headers, "If-Match": created.headers["etag"]},
    )
    assert updated.status_code == 200, updated.text
    deleted = await client.delete(
        f"{WEBHOOKS}/{endpoint_id}", headers={**headers, "If-Match": updated.headers["etag"]}
    )
    assert deleted.status_code == 204, deleted.text

    creation = await only_audit_event(session, "webhook_endpoint", endpoint_id, "webhook.created")
    assert creation.actor_user_id == admin.id
    assert creation.changes["secret"] == [None, "[redacted]"]
    assert creation.changes["url"] == [None, BODY["url"]]
    update = await only_audit_event(session, "webhook_endpoint", endpoint_id, "webhook.updated")
    assert update.changes["events"] == [["order.placed"], ["order.paid", "order.placed"]]
    assert update.changes["is_active"] == [True, False]
    deletion = await only_audit_event(session, "webhook_endpoint", endpoint_id, "webhook.deleted")
    assert deletion.changes["url"] == [BODY["url"], None]
    assert (await client.get(f"{WEBHOOKS}/{endpoint_id}", headers=headers)).status_code == 404

    every_row = (await session.execute(select(AuditEvent))).scalars().all()
    assert secret not in json.dumps([[row.action, row.changes] for row in every_row], default=str)
    assert caplog.records, "nothing was logged, so the next check proves nothing"
    for record in caplog.records:
        assert secret not in record.getMessage()
        assert secret not in json.dumps(record.__dict__, default=str)


async def test_resending_a_failed_delivery_is_audited_and_queues_it(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    _, headers = await token_caller(session, "admin")
    endpoint = WebhookEndpoint(url=BODY["url"], events=["order.placed"], secret="whsec_x")
    event = WebhookEvent(type="order.placed", data={"order": {"id": 1}})
    session.add_all([endpoint, event])
    await session.flush()
    delivery = WebhookDelivery(
        event_id=event.id,
        endpoint_id=endpoint.id,
        next_attempt_at=utcnow(),
        status="failed",
        attempt_count=12,
        attempts=[{"status_code": 500}],
    )
    session.add(delivery)
    await session.flush()

    response = await client.post(f"{WEBHOOKS}/deliveries/{delivery.id}/resend", headers=headers)

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["status"], body["attempt_count"], body["attempts"]) == (
        "pending",
        12,
        [{"status_code": 500}],
    )
    resent = await only_audit_event(
        session, "webhook_delivery", delivery.id, "webhook.delivery_resent"
    )
    assert resent.changes == {"status": ["failed", "pending"]}
    listed = await client.get(f"{WEBHOOKS}/{endpoint.id}/deliveries", headers=headers)
    assert listed.status_code == 200, listed.text
    assert [d["status"] for d in listed.json()["items"]] == ["pending"]
    assert_problem(
        await client.post(f"{WEBHOOKS}/deliveries/{delivery.id}/resend", headers=headers), 409
    )
    assert_problem(await client.post(f"{WEBHOOKS}/deliveries/999999/resend", headers=headers), 404)


async def test_unknown_events_are_refused(client: httpx.AsyncClient, session: AsyncSession) -> None:
    _, headers = await token_caller(session, "admin")
    for events in (["order.exploded"], ["ping"], []):
        response = await client.post(WEBHOOKS, json={**BODY, "events": events}, headers=headers)
        assert_problem(response, 422)
