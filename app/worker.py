"""`backoffice worker`: delivers webhooks from the outbox and runs the daily housekeeping."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from datetime import datetime, timedelta

import httpx

from app.db import Database
from app.housekeeping import purge
from app.models.base import utcnow
from app.settings import Settings
from app.webhooks.delivery import claim_due, record, send

logger = logging.getLogger(__name__)
POLL_SECONDS = 1.0
BATCH = 10
HOUSEKEEPING_EVERY = timedelta(days=1)


class Worker:
    """One delivery loop; several may run at once (claims are leased and SKIP LOCKED)."""

    def __init__(self, database: Database, settings: Settings) -> None:
        self.database = database
        self.settings = settings
        self.stopping = asyncio.Event()
        self.last_housekeeping: datetime | None = None

    def stop(self) -> None:
        self.stopping.set()

    async def run_once(self, client: httpx.AsyncClient) -> int:
        """Claim, send and record one batch; returns how many were attempted."""
        jobs = await claim_due(self.database, limit=BATCH)
        if not jobs:
            return 0

        async def one(job_index: int) -> None:
            job = jobs[job_index]
            attempt = await send(client, job, self.settings)
            try:
                status = await record(self.database, job, attempt, self.settings)
            except Exception:
                # This job's problem only: the rest of the batch is still recorded, and
                # this delivery stays leased, so it is sent again once the lease ends.
                logger.exception("recording delivery %s failed", job.delivery_id)
                return
            logger.info(
                "webhook %s to endpoint %s: %s (%s)",
                job.event_type,
                job.endpoint_id,
                attempt.status_code or attempt.error,
                status,
            )

        await asyncio.gather(*(one(i) for i in range(len(jobs))))
        return len(jobs)

    async def housekeeping_if_due(self) -> None:
        now = utcnow()
        if self.last_housekeeping is None or now - self.last_housekeeping >= HOUSEKEEPING_EVERY:
            self.last_housekeeping = now
            try:
                report = await purge(self.database)
                logger.info("housekeeping: %s", report)
            except Exception:
                logger.exception("housekeeping failed; will retry tomorrow")

    async def run(self) -> None:
        """Loop until stopped: a stop lets the current batch finish, then returns."""
        limits = httpx.Limits(max_connections=20, max_keepalive_connections=10)
        async with httpx.AsyncClient(limits=limits, follow_redirects=False) as client:
            while not self.stopping.is_set():
                await self.housekeeping_if_due()
                try:
                    attempted = await self.run_once(client)
                except Exception:
                    # The database may be down: log, back off, keep going.
                    logger.exception("delivery loop error")
                    attempted = 0
                if attempted == 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self.stopping.wait(), timeout=POLL_SECONDS)


async def run_worker(settings: Settings) -> None:
    """Run until SIGTERM/SIGINT; finishes the batch in hand, then exits."""
    database = Database.from_settings(settings)
    worker = Worker(database, settings)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, worker.stop)
    logger.info("worker started")
    try:
        await worker.run()
    finally:
        await database.dispose()
        logger.info("worker stopped")
