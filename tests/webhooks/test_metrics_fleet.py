"""/metrics in one process (issue 18 part 3): every request labelled by its route template,
a bounded number of series whatever paths and methods clients send, per-worker process
metrics, the delivery worker's backlog, due, retrying and lag read from the outbox; the
multiprocess directory's preparation and dead-worker sweep (the 2-worker server itself is
tests/ops/test_fleet_metrics.py)."""

from __future__ import annotations

import os
import re
import secrets
import stat
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.edge.fleet_metrics import live_pids, register_this_process
from app.infra import metrics_dir
from app.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from app.models.base import utcnow
from tests.api.domain_helpers import token_caller
from tests.webhooks.conftest import METRICS_TOKEN

TOKEN = METRICS_TOKEN
SCRAPE = {"Authorization": f"Bearer {TOKEN}"}
REQUESTS = "backoffice_http_requests_total{"


async def scrape(client: httpx.AsyncClient) -> str:
    response = await client.get("/metrics", headers=SCRAPE)
    assert response.status_code == 200, response.text
    return response.text


def routes_of(text: str) -> set[str]:
    return set(re.findall(r'backoffice_http_requests_total\{[^}]*route="([^"]*)"', text))


def series_count(text: str) -> int:
    return sum(1 for line in text.splitlines() if line.startswith(REQUESTS))


async def test_every_kind_of_request_is_labelled_by_its_route_template(
    metrics_client: httpx.AsyncClient, session: AsyncSession
) -> None:
    _, admin = await token_caller(session)
    keyed = {**admin, "Idempotency-Key": "metrics-replay"}
    body = {"name": "Labelled", "email": "labelled@example.com"}
    created = await metrics_client.post("/api/v1/customers", json=body, headers=keyed)
    replayed = await metrics_client.post("/api/v1/customers", json=body, headers=keyed)
    assert (created.status_code, replayed.status_code) == (201, 201)
    assert "idempotent-replayed" in replayed.headers
    for path in (
        "/openapi.json",
        "/docs",
        "/static/css/backoffice.css",
        "/static/js/admin.js",
        "/admin/login",
        "/admin/product/list",
        "/admin/customer/edit/3",
        "/no/such/page",
    ):
        await metrics_client.get(path)

    text = await scrape(metrics_client)

    post = 'backoffice_http_requests_total{method="POST",route="/api/v1/customers",status="201"}'
    assert f"{post} 2.0" in text  # the replay counts as the route it replays
    assert {
        "/openapi.json",
        "/docs",
        "/static",
        "/admin/login",
        "/admin/{identity}/list",
        "/admin/{identity}/edit/{pk:path}",
        "unmatched",
    } <= routes_of(text)
    for raw in ("backoffice.css", "admin.js", "/admin/product", "/admin/customer", "/no/such"):
        assert raw not in text


async def test_random_paths_and_methods_do_not_grow_the_series(
    metrics_client: httpx.AsyncClient,
) -> None:
    for _ in range(3):
        await metrics_client.get(f"/{secrets.token_hex(8)}")
        await metrics_client.request(secrets.token_hex(4).upper(), "/healthz")
    before = series_count(await scrape(metrics_client))

    for _ in range(100):
        await metrics_client.get(f"/{secrets.token_hex(8)}/{secrets.token_hex(4)}")
        await metrics_client.get(f"/api/v1/{secrets.token_hex(8)}")
        await metrics_client.get(f"/static/{secrets.token_hex(8)}.js")
        await metrics_client.request(secrets.token_hex(4).upper(), "/healthz")

    text = await scrape(metrics_client)
    assert series_count(text) <= before + 2  # /metrics's own 200 line, once
    assert 'method="other",route="/healthz"' in text
    assert routes_of(text) <= {"unmatched", "/static", "/healthz", "/metrics"}


async def test_process_metrics_are_there_for_this_worker(
    metrics_client: httpx.AsyncClient,
) -> None:
    text = await scrape(metrics_client)
    pid = os.getpid()
    for name in ("process_resident_memory_bytes", "process_cpu_seconds_total"):
        match = re.search(rf'^{name}\{{pid="{pid}"\}} ([0-9.e+]+)$', text, re.MULTILINE)
        assert match is not None, name
        assert float(match.group(1)) > 0


async def test_the_delivery_workers_backlog_and_lag_come_from_the_outbox(
    metrics_client: httpx.AsyncClient, session: AsyncSession
) -> None:
    endpoint = WebhookEndpoint(url="https://hooks.example.com/", events=["ping"], secret="s")
    events = [WebhookEvent(type="ping", data={}) for _ in range(3)]
    session.add_all([endpoint, *events])
    await session.flush()
    now = utcnow()
    session.add_all(
        [
            # Due for two minutes, tried once already: the lag and a retry.
            WebhookDelivery(
                event_id=events[0].id,
                endpoint_id=endpoint.id,
                next_attempt_at=now - timedelta(minutes=2),
                attempt_count=1,
            ),
            # Due in an hour: backlog, not lag.
            WebhookDelivery(
                event_id=events[1].id,
                endpoint_id=endpoint.id,
                next_attempt_at=now + timedelta(hours=1),
            ),
            WebhookDelivery(
                event_id=events[2].id,
                endpoint_id=endpoint.id,
                next_attempt_at=now,
                status="succeeded",
            ),
        ]
    )
    await session.flush()

    text = await scrape(metrics_client)

    def value(name: str) -> float:
        match = re.search(rf"^{re.escape(name)} ([0-9.e+-]+)$", text, re.MULTILINE)
        assert match is not None, name
        return float(match.group(1))

    assert value("backoffice_webhook_backlog") == 2
    assert value("backoffice_webhook_due") == 1
    assert value("backoffice_webhook_retrying") == 1
    assert 120 <= value("backoffice_webhook_lag_seconds") < 180
    assert value('backoffice_webhook_deliveries{status="succeeded"}') == 1
    assert value('backoffice_webhook_deliveries{status="pending"}') == 2


def test_serve_makes_a_fresh_private_directory_and_removes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(metrics_dir.ENV, raising=False)
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    assert metrics_dir.prepare(1).path is None  # one worker: counters in memory

    prepared = metrics_dir.prepare(2)

    assert prepared.path is not None and prepared.path.parent == tmp_path
    assert stat.S_IMODE(prepared.path.stat().st_mode) == 0o700
    assert os.environ[metrics_dir.ENV] == str(prepared.path)
    prepared.cleanup()
    assert not prepared.path.exists() and metrics_dir.ENV not in os.environ


def test_an_operators_directory_is_emptied_of_a_previous_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    given = tmp_path / "metrics"
    given.mkdir()
    (given / "counter_123.db").write_bytes(b"stale counts")
    (given / metrics_dir.PIDS).mkdir()
    (given / metrics_dir.PIDS / "123").touch()
    (given / "notes.txt").write_text("the operator's")
    monkeypatch.setenv(metrics_dir.ENV, str(given))

    prepared = metrics_dir.prepare(1)  # set by the operator: used even for one worker

    assert prepared.path == given
    assert sorted(p.name for p in given.iterdir()) == ["notes.txt"]
    prepared.cleanup()
    assert given.is_dir()  # not ours to remove


def test_a_dead_workers_live_gauges_go_and_its_counters_stay(tmp_path: Path) -> None:
    finished = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    dead = int(finished.stdout)
    (tmp_path / metrics_dir.PIDS).mkdir()
    (tmp_path / metrics_dir.PIDS / str(dead)).touch()
    for name in (f"gauge_livesum_{dead}.db", f"counter_{dead}.db"):
        (tmp_path / name).write_bytes(b"")
    register_this_process(tmp_path)

    assert live_pids(tmp_path) == [os.getpid()]
    assert not (tmp_path / f"gauge_livesum_{dead}.db").exists()
    assert (tmp_path / f"counter_{dead}.db").exists()
    assert not (tmp_path / metrics_dir.PIDS / str(dead)).exists()
