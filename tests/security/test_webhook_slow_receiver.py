"""A hostile webhook receiver trickles its answer a byte a second (SPEC §14): it is cut off at
the 10 s deadline and recorded as a failed attempt, the other receivers' deliveries are
recorded meanwhile, and no second worker sends it again while its lease holds. Loopback only."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import httpx
import pytest

import app.webhooks.delivery as delivery
from app.ops.worker import Worker
from app.webhooks.delivery import DEADLINE_SECONDS, LEASE
from tests.webhooks import conftest as webhook_fixtures
from tests.webhooks.conftest import CommittedDatabase
from tests.webhooks.helpers import add_endpoint, deliveries, emit_committed, worker_settings
from tests.webhooks.receivers import Behaviour, RunningReceiver, running_receiver

# The webhook tests' fixtures: committed databases, and a resolver that never asks real DNS.
committed = webhook_fixtures.committed
template = webhook_fixtures.template
sqlite_template = webhook_fixtures.sqlite_template
postgresql_template = webhook_fixtures.postgresql_template
dns = webhook_fixtures.dns

# Without a deadline the trickle below holds a delivery for ~45 s (unbounded in principle).
GIVE_UP_SECONDS = DEADLINE_SECONDS + 8


async def until(check: Callable[[], Awaitable[bool]], seconds: float, what: str) -> float:
    """Poll `check` until it holds; the seconds it took. Fails after `seconds`."""
    started = time.monotonic()
    while not await check():
        if time.monotonic() - started > seconds:
            pytest.fail(f"{what}: not within {seconds} s")
        await asyncio.sleep(0.05)
    return time.monotonic() - started


async def statuses(committed: CommittedDatabase) -> dict[int, str]:
    """Each delivery's status, by endpoint."""
    return {d.endpoint_id: d.status for d in await deliveries(committed.database)}


async def _endpoints(
    committed: CommittedDatabase, slow: RunningReceiver, fast: RunningReceiver
) -> tuple[int, int]:
    settings = worker_settings(committed.url)
    slow_id, _ = await add_endpoint(committed.database, settings, slow.url, ["customer.created"])
    fast_id, secret = await add_endpoint(committed.database, settings, fast.url)
    fast.set_secret(secret)
    return slow_id, fast_id


def test_the_lease_outlives_the_deadline() -> None:
    # Recording after the deadline must still happen inside the lease, with room to spare.
    assert LEASE.total_seconds() >= 3 * DEADLINE_SECONDS


async def test_a_trickling_receiver_is_cut_off_and_holds_up_no_one(
    committed: CommittedDatabase,
) -> None:
    settings = worker_settings(committed.url)
    with (
        running_receiver(Behaviour(trickle=True)) as slow,
        running_receiver() as fast,
    ):
        slow_id, fast_id = await _endpoints(committed, slow, fast)
        await emit_committed(committed.database, "customer.created", {"customer": {"id": 1}})

        async with httpx.AsyncClient() as first, httpx.AsyncClient() as second:
            started = time.monotonic()
            batch = asyncio.create_task(Worker(committed.database, settings).run_once(first))

            async def fast_recorded() -> bool:
                return (await statuses(committed)).get(fast_id) == "succeeded"

            # The fast receiver's delivery is recorded at once, while the slow one trickles.
            await until(fast_recorded, 5.0, "the fast delivery recorded")
            assert not batch.done() and slow.behaviour.arrived.is_set()
            # A second worker finds nothing to take: the slow delivery is leased.
            assert await Worker(committed.database, settings).run_once(second) == 0

            attempted = await asyncio.wait_for(batch, timeout=GIVE_UP_SECONDS)
            took = time.monotonic() - started
    assert attempted == 2
    assert DEADLINE_SECONDS - 0.5 <= took <= DEADLINE_SECONDS + 3, took
    rows = {d.endpoint_id: d for d in await deliveries(committed.database)}
    cut = rows[slow_id]
    assert (cut.status, cut.attempt_count, cut.last_status_code) == ("pending", 1, None)
    assert cut.last_error == "no answer within 10 s"
    assert cut.locked_until is None and cut.attempts[0]["duration_ms"] < 12_000
    assert rows[fast_id].status == "succeeded"
    assert len(slow.behaviour.requests) == 1, "the slow delivery was sent twice"


async def test_a_running_worker_keeps_delivering_while_one_receiver_trickles(
    committed: CommittedDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A shorter deadline keeps the test short; the slot logic is what is under test.
    monkeypatch.setattr(delivery, "DEADLINE_SECONDS", 6.0)
    settings = worker_settings(committed.url)
    with (
        running_receiver(Behaviour(trickle=True)) as slow,
        running_receiver() as fast,
    ):
        slow_id, _ = await _endpoints(committed, slow, fast)
        worker = Worker(committed.database, settings)
        running = asyncio.create_task(worker.run())
        try:
            await emit_committed(committed.database, "customer.created", {"customer": {"id": 1}})

            async def first_delivered() -> bool:
                return len(fast.events) == 1

            await until(first_delivered, 5.0, "the first fast delivery")
            # An event after the batch was claimed: the slow receiver still holds its slot,
            # not the worker's loop.
            await emit_committed(committed.database, "order.placed", {"order": {"id": 1}})

            async def second_delivered() -> bool:
                return len(fast.events) == 2

            waited = await until(second_delivered, 3.0, "the later fast delivery")
            assert (await statuses(committed))[slow_id] == "pending"
            assert len(slow.behaviour.requests) == 1
            assert waited < 3.0
        finally:
            worker.stop()
            await asyncio.wait_for(running, timeout=GIVE_UP_SECONDS)
    rows = [d for d in await deliveries(committed.database) if d.endpoint_id == slow_id]
    assert [(d.attempt_count, d.last_error) for d in rows] == [(1, "no answer within 6 s")]
