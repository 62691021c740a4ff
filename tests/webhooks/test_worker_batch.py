"""One worker batch records its deliveries side by side: concurrent records to one endpoint
all land (the endpoint's failure streak is locked, not raced), and one record that fails
leaves the rest of the batch recorded."""

from __future__ import annotations

import logging
from typing import Any

import pytest

import app.ops.worker
from app.webhooks.delivery import Attempt, Job, record
from tests.webhooks.conftest import CommittedDatabase
from tests.webhooks.helpers import (
    add_endpoint,
    deliveries,
    emit_committed,
    endpoint,
    run_once,
    worker_settings,
)
from tests.webhooks.receivers import Behaviour, running_receiver

BATCH = app.ops.worker.BATCH


async def test_a_batch_failing_at_once_records_every_attempt_and_starts_one_streak(
    committed: CommittedDatabase,
) -> None:
    # Every answer is a 500 at once, so the batch's records all reach the endpoint's
    # failure streak together: each must wait for the other, none may lose its attempt.
    settings = worker_settings(committed.url, webhook_retry_base_seconds=60.0)
    with running_receiver(Behaviour(fail_times=100)) as receiver:
        endpoint_id, _ = await add_endpoint(committed.database, settings, receiver.url)
        for n in range(BATCH):
            await emit_committed(committed.database, "customer.created", {"customer": {"id": n}})
        before = (await endpoint(committed.database, endpoint_id)).version
        assert await run_once(committed.database, settings) == BATCH
    rows = await deliveries(committed.database)
    assert [(d.status, d.attempt_count, d.last_status_code) for d in rows] == [
        ("pending", 1, 500)
    ] * BATCH
    assert all(d.locked_until is None for d in rows), "an attempt was left unrecorded"
    assert len(receiver.behaviour.requests) == BATCH
    failing = await endpoint(committed.database, endpoint_id)
    assert failing.failing_since is not None
    # The streak began once: the first failure wrote it and the others found it set.
    assert failing.version == before + 1


async def test_a_record_that_fails_leaves_the_rest_of_the_batch_recorded(
    committed: CommittedDatabase,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = worker_settings(committed.url)
    broken: list[int] = []

    async def record_unless_first(database: Any, job: Job, attempt: Attempt, settings: Any) -> str:
        # The database refusing one record (a lost connection, say) is this job's problem.
        if not broken:
            broken.append(job.delivery_id)
            raise ConnectionResetError("connection lost while recording")
        return await record(database, job, attempt, settings)

    monkeypatch.setattr(app.ops.worker, "record", record_unless_first)
    with running_receiver() as receiver:
        _, secret = await add_endpoint(committed.database, settings, receiver.url)
        receiver.set_secret(secret)
        for n in range(3):
            await emit_committed(committed.database, "customer.created", {"customer": {"id": n}})
        with caplog.at_level(logging.ERROR, logger="app.ops.worker"):
            assert await run_once(committed.database, settings) == 3
    by_id = {d.id: d for d in await deliveries(committed.database)}
    [lost] = broken
    # Sent but unrecorded: still leased, so it is sent again once the lease ends.
    assert (by_id[lost].status, by_id[lost].locked_until is not None) == ("pending", True)
    assert sorted(d.status for i, d in by_id.items() if i != lost) == ["succeeded"] * 2
    assert f"delivery {lost}" in caplog.text and "connection lost" in caplog.text
