"""GET /metrics: absent without METRICS_TOKEN, bearer-token protected, Prometheus text with the
request, pool and outbox metrics of SPEC §12."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from app.models.base import utcnow
from tests.webhooks.conftest import METRICS_TOKEN

TOKEN = METRICS_TOKEN


async def test_metrics_do_not_exist_without_a_token_configured(client: httpx.AsyncClient) -> None:
    response = await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 404


@pytest.mark.parametrize(
    "authorization", [None, "Bearer wrong-token", f"Basic {TOKEN}", f"Bearer {TOKEN}x"]
)
async def test_metrics_refuse_a_missing_or_wrong_token(
    metrics_client: httpx.AsyncClient, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = await metrics_client.get("/metrics", headers=headers)
    assert response.status_code == 401
    assert "backoffice_" not in response.text


async def test_metrics_expose_requests_latency_pool_and_outbox(
    metrics_client: httpx.AsyncClient, session: AsyncSession
) -> None:
    endpoint = WebhookEndpoint(url="https://hooks.example.com/", events=["ping"], secret="s")
    event = WebhookEvent(type="ping", data={})
    session.add_all([endpoint, event])
    await session.flush()
    session.add(
        WebhookDelivery(
            event_id=event.id, endpoint_id=endpoint.id, next_attempt_at=utcnow(), status="failed"
        )
    )
    await session.flush()
    assert (await metrics_client.get("/api/v1/products/12345")).status_code == 401

    response = await metrics_client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert (
        'backoffice_http_requests_total{method="GET",route="/api/v1/products/{product_id}",'
        'status="401"} 1.0'
    ) in text
    assert "backoffice_http_request_duration_seconds_bucket{" in text
    assert 'route="/api/v1/products/{product_id}"' in text
    assert "/products/12345" not in text  # routes, not raw paths: bounded label values
    assert "backoffice_db_pool_checked_out" in text
    assert "backoffice_db_pool_size" in text
    assert 'backoffice_webhook_deliveries{status="failed"} 1.0' in text
    assert 'backoffice_webhook_deliveries{status="pending"} 0.0' in text
    assert 'backoffice_webhook_deliveries{status="succeeded"} 0.0' in text
