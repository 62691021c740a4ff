"""Prometheus metrics (SPEC §12): request counts and latency by route, pool use, the outbox.

Served at GET /metrics only when METRICS_TOKEN is set, to callers presenting it as a bearer
token; otherwise the path does not exist (404).
"""

from __future__ import annotations

import hmac
import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from sqlalchemy import func, select
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import NotAuthenticated, NotFound
from app.models import WebhookDelivery

API_PREFIX = "/api/v1"


class Metrics:
    """One registry per app instance (tests build many apps in one process)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "backoffice_http_requests_total",
            "HTTP requests",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "backoffice_http_request_duration_seconds",
            "HTTP request latency",
            ["method", "route"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.pool_checked_out = Gauge(
            "backoffice_db_pool_checked_out", "Database connections in use", registry=self.registry
        )
        self.pool_size = Gauge(
            "backoffice_db_pool_size", "Database pool size", registry=self.registry
        )
        self.outbox = Gauge(
            "backoffice_webhook_deliveries",
            "Webhook deliveries by status",
            ["status"],
            registry=self.registry,
        )


def route_template(scope: Scope) -> str:
    """The matched route's path template (bounded label values), or 'unmatched'."""
    route: Any = scope.get("route")
    path = getattr(route, "path", None)
    if path is None:
        return "/admin/*" if scope.get("path", "").startswith("/admin") else "unmatched"
    # Routes of an included router carry their path relative to its prefix.
    if scope.get("path", "").startswith(API_PREFIX) and not path.startswith(API_PREFIX):
        path = API_PREFIX + path
    return f"{scope.get('root_path', '')}{path}"


class MetricsMiddleware:
    """Counts and times every HTTP request (pure ASGI)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            route = route_template(scope)
            method = scope.get("method", "GET")
            self.metrics.requests.labels(method, route, str(status)).inc()
            self.metrics.latency.labels(method, route).observe(time.perf_counter() - started)


router = APIRouter(include_in_schema=False)


@router.get("/metrics")
async def metrics_endpoint(request: Request) -> Response:
    settings = request.app.state.settings
    if not settings.metrics_token:
        raise NotFound()
    scheme, _, presented = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        presented.strip().encode(), settings.metrics_token.encode()
    ):
        raise NotAuthenticated("A valid metrics token is required.")
    metrics: Metrics = request.app.state.metrics
    database = request.app.state.database
    pool: Any = database.engine.pool
    if hasattr(pool, "checkedout"):
        metrics.pool_checked_out.set(pool.checkedout())
        metrics.pool_size.set(pool.size())
    async with database.read_session() as session:
        counts = dict(
            (
                await session.execute(
                    select(WebhookDelivery.status, func.count()).group_by(WebhookDelivery.status)
                )
            ).all()
        )
    for status in ("pending", "succeeded", "failed"):
        metrics.outbox.labels(status).set(counts.get(status, 0))
    return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)
