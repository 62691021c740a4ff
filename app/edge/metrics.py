"""Prometheus metrics (SPEC §12): requests and latency by route, pool use, the outbox, the
web workers' processes; the whole server's figures whichever web worker answers.

Served at GET /metrics only when METRICS_TOKEN is set, to callers presenting it as a bearer
token; otherwise the path does not exist (404). With several web workers the counters live
in prometheus_client's multiprocess directory (app/infra/metrics_dir.py) and a scrape sums
every worker's; with one (and in tests) they stay in memory. The recording code is the same.
"""

from __future__ import annotations

import hmac
import os
import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.edge import fleet_metrics
from app.edge.route_labels import RouteLabels, method_label
from app.errors import NotAuthenticated, NotFound
from app.infra import metrics_dir
from app.webhooks.outbox_metrics import outbox_families, read_outbox

# How often a web worker refreshes its pool gauges while serving (and at every scrape it
# answers): reading the pool per request would put a lock and a file write on the hot path.
POOL_SAMPLE_SECONDS = 1.0
Children = tuple[Any, Any]


class Metrics:
    """One set of metrics per app instance (tests build many apps in one process)."""

    def __init__(self) -> None:
        self.directory = metrics_dir.directory()
        # In multiprocess mode the values are in the directory's files, read back by the
        # MultiProcessCollector; registering the metrics too would serve them twice.
        recording = None if self.directory else CollectorRegistry()
        self.requests = Counter(
            "backoffice_http_requests_total",
            "HTTP requests",
            ["method", "route", "status"],
            registry=recording,
        )
        self.latency = Histogram(
            "backoffice_http_request_duration_seconds",
            "HTTP request latency",
            ["method", "route"],
            registry=recording,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        # Summed over the live workers: a dead worker's connections are not in use.
        self.pool_checked_out = Gauge(
            "backoffice_db_pool_checked_out",
            "Database connections in use",
            registry=recording,
            multiprocess_mode="livesum",
        )
        self.pool_size = Gauge(
            "backoffice_db_pool_size",
            "Database pool size",
            registry=recording,
            multiprocess_mode="livesum",
        )
        if self.directory is None:
            self.registry = recording or CollectorRegistry()
        else:
            fleet_metrics.register_this_process(self.directory)
            self.registry = CollectorRegistry()
            MultiProcessCollector(self.registry, path=str(self.directory))
        self.scrape_time = fleet_metrics.ScrapeTimeFigures()
        self.registry.register(self.scrape_time)
        self.registry.register(fleet_metrics.ProcessMetrics(self.worker_pids))
        self.children: dict[tuple[str, str, int], Children] = {}

    def worker_pids(self) -> list[int]:
        return [os.getpid()] if self.directory is None else fleet_metrics.live_pids(self.directory)

    def children_for(self, method: str, route: str, status: int) -> Children:
        """The labelled counter and histogram of one (method, route, status), made once."""
        key = (method, route, status)
        children = self.children.get(key)
        if children is None:
            children = self.children[key] = (
                self.requests.labels(method, route, str(status)),
                self.latency.labels(method, route),
            )
        return children

    def sample_pool(self, app: Any) -> None:
        """This worker's pool use, from the app's database (state.database)."""
        pool = app.state.database.engine.pool
        if hasattr(pool, "checkedout"):
            self.pool_checked_out.set(pool.checkedout())
            self.pool_size.set(pool.size())


class MetricsMiddleware:
    """Counts and times every HTTP request (pure ASGI)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics
        self.labels = RouteLabels()
        self.next_pool_sample = 0.0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        # Taken before routing: a mounted app rewrites the scope's root_path and app.
        path = scope["path"]
        root_path = scope.get("root_path", "")
        app = scope["app"]
        status = 500

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            elapsed = time.perf_counter() - started
            method = method_label(scope["method"])
            route = scope.get("route")
            if route is not None and getattr(route, "path", None) is not None:
                label = self.labels.of_route(route, path, root_path)
            else:
                label = self.labels.of_unrouted(app, method, path, root_path)
            counter, histogram = self.metrics.children_for(method, label, status)
            counter.inc()
            histogram.observe(elapsed)
            if started >= self.next_pool_sample:
                self.next_pool_sample = started + POOL_SAMPLE_SECONDS
                self.metrics.sample_pool(app)


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
    metrics.sample_pool(request.app)
    async with request.app.state.database.read_session() as session:
        figures = await read_outbox(session)
    # No await between setting and serving: a concurrent scrape cannot interleave.
    metrics.scrape_time.families = outbox_families(figures)
    return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)
