"""`backoffice worker` as real processes (PostgreSQL): a worker killed between claiming and
recording a delivery leaves it to be sent again, and two workers never send one delivery at
the same time (FOR UPDATE SKIP LOCKED plus a lease)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from app.infra.db import transaction
from app.models import WebhookDelivery
from app.models.base import utcnow
from app.webhooks.outbox import emit
from tests.conftest import TEST_SECRET_KEY
from tests.webhooks.conftest import CommittedDatabase
from tests.webhooks.helpers import add_endpoint, deliveries, emit_committed, worker_settings
from tests.webhooks.receivers import Behaviour, running_receiver

BACKOFFICE = Path(sys.executable).parent / "backoffice"
STARTUP_SECONDS = 20.0
# SQLite has no FOR UPDATE SKIP LOCKED: these run on PostgreSQL only (TEST_DATABASE_URL).
pytestmark = pytest.mark.postgres


@contextmanager
def worker_process(url: str, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Run `backoffice worker` against `url`; killed at the end if still running."""
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "ENVIRONMENT": "test",
        "SECRET_KEY": TEST_SECRET_KEY,
        "WEBHOOKS_ALLOW_PRIVATE": "true",
        "WEBHOOK_RETRY_BASE_SECONDS": "0.2",
        "LOG_LEVEL": "INFO",
        "LOG_FORMAT": "console",
    }
    with log.open("wb") as output:
        process = subprocess.Popen(
            [str(BACKOFFICE), "worker"], env=env, stdout=output, stderr=subprocess.STDOUT
        )
        try:
            yield process
        finally:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=10)


async def eventually(
    check: Callable[[], Awaitable[bool]],
    what: str,
    explain: Callable[[], Awaitable[str]] | None = None,
) -> None:
    """Poll `check` every 50 ms until it holds; fail naming `what` after STARTUP_SECONDS.

    `explain` adds what the test knows of the state at the timeout to the failure.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STARTUP_SECONDS
    while not await check():
        if loop.time() > deadline:
            details = await explain() if explain else ""
            pytest.fail(f"timed out waiting for {what}\n{details}")
        await asyncio.sleep(0.05)


async def outbox_and_logs(db: CommittedDatabase, logs: list[Path]) -> str:
    """The deliveries not yet succeeded, with their errors, and each worker's log."""
    lines = [
        f"delivery {d.id} evt_{d.event_id}: {d.status}, {d.attempt_count} attempts, "
        f"locked until {d.locked_until}, last error {d.last_error!r}"
        for d in await deliveries(db.database)
        if d.status != "succeeded"
    ]
    lines += [f"--- {log.name}\n{log.read_text()}" for log in logs if log.exists()]
    return "\n".join(lines)


async def test_a_delivery_claimed_by_a_killed_worker_is_sent_after_its_lease_expires(
    postgres_committed: CommittedDatabase, tmp_path: Path
) -> None:
    db = postgres_committed
    settings = worker_settings(db.url)
    with running_receiver(Behaviour(hold_first=True)) as receiver:
        _, secret = await add_endpoint(db.database, settings, receiver.url)
        receiver.set_secret(secret)
        event_id = await emit_committed(db.database, "customer.created", {"customer": {"id": 9}})

        with worker_process(db.url, tmp_path / "first.log") as first:

            async def arrived() -> bool:
                return receiver.behaviour.arrived.is_set()

            await eventually(arrived, "the first worker's POST")
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=10)

        [claimed] = await deliveries(db.database)
        assert claimed.status == "pending" and claimed.attempt_count == 0
        assert claimed.locked_until is not None and claimed.locked_until > utcnow()
        receiver.behaviour.release.set()
        # The lease is 60 s; end it now instead of waiting.
        async with transaction(db.database.sessionmaker) as session:
            await session.execute(
                update(WebhookDelivery).values(locked_until=utcnow() - timedelta(seconds=1))
            )

        with worker_process(db.url, tmp_path / "second.log") as second:

            async def delivered() -> bool:
                return [d.status for d in await deliveries(db.database)] == ["succeeded"]

            await eventually(delivered, "the second worker's delivery")
            second.send_signal(signal.SIGTERM)
            assert second.wait(timeout=10) == 0

    assert [e["id"] for e in receiver.events] == [f"evt_{event_id}"]
    assert len(receiver.behaviour.requests) == 2
    assert "worker stopped" in (tmp_path / "second.log").read_text()


async def test_two_workers_never_send_the_same_delivery_at_the_same_time(
    postgres_committed: CommittedDatabase, tmp_path: Path
) -> None:
    db = postgres_committed
    settings = worker_settings(db.url)
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    # Each POST stays in flight long enough for both workers to be claiming at once.
    with running_receiver(Behaviour(hold_seconds=0.7)) as receiver:
        _, secret = await add_endpoint(db.database, settings, receiver.url)
        receiver.set_secret(secret)
        with worker_process(db.url, logs[0]) as a, worker_process(db.url, logs[1]) as b:

            async def both_started() -> bool:
                return all("worker started" in log.read_text() for log in logs)

            await eventually(both_started, "both workers to start")
            async with transaction(db.database.sessionmaker) as session:
                for n in range(30):
                    await emit(session, "customer.created", {"customer": {"id": n}})

            async def all_delivered() -> bool:
                rows = await deliveries(db.database)
                return len(rows) == 30 and all(d.status == "succeeded" for d in rows)

            await eventually(all_delivered, "30 deliveries", lambda: outbox_and_logs(db, logs))
            a.send_signal(signal.SIGTERM)
            b.send_signal(signal.SIGTERM)
            assert (a.wait(timeout=10), b.wait(timeout=10)) == (0, 0)

    assert receiver.behaviour.overlaps == []
    sent = [r.headers["Backoffice-Event-Id"] for r in receiver.behaviour.requests]
    assert len(set(sent)) == 30
    assert len(sent) == 30, "a delivery was sent twice although no worker died"
    # Both workers took part, so the absence of overlaps means something.
    for log in logs:
        assert "webhook customer.created" in log.read_text(), log.read_text()
        # Target URLs carry receivers' credentials in their path or query: never logged.
        assert "/hook" not in log.read_text(), log.read_text()
