"""`backoffice worker`: delivers webhooks from the outbox and runs the daily housekeeping."""

from __future__ import annotations

import asyncio
import logging
import signal
from datetime import datetime, timedelta

import httpx

from app.infra.db import Database
from app.infra.settings import Settings
from app.models.base import utcnow
from app.ops.housekeeping import purge
from app.ops.outage_log import OutageLog
from app.webhooks.delivery import Job, claim_due, record, send

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
        self.failures = OutageLog(logger, "webhook deliveries")

    def stop(self) -> None:
        self.stopping.set()

    async def run_once(self, client: httpx.AsyncClient) -> int:
        """Claim one batch, deliver it side by side; returns how many were attempted.

        Each delivery is recorded the moment it ends; the batch takes at most the send
        deadline (plus recording), whatever its slowest receiver does.
        """
        jobs = await claim_due(self.database, limit=BATCH)
        await asyncio.gather(*(self.deliver(client, job) for job in jobs))
        return len(jobs)

    async def deliver(self, client: httpx.AsyncClient, job: Job) -> None:
        """Send one delivery and record the attempt; never raises (the loop goes on)."""
        try:
            attempt = await send(client, job, self.settings)
            status = await record(self.database, job, attempt, self.settings)
        except Exception as exc:
            # This job's problem only: the rest of the batch is still recorded, and
            # this delivery stays leased, so it is sent again once the lease ends.
            self.failures.failed(exc, f"recording delivery {job.delivery_id}")
            return
        logger.info(
            "webhook %s to endpoint %s: %s (%s)",
            job.event_type,
            job.endpoint_id,
            attempt.status_code or attempt.error,
            status,
        )

    async def housekeeping_if_due(self) -> None:
        now = utcnow()
        if self.last_housekeeping is None or now - self.last_housekeeping >= HOUSEKEEPING_EVERY:
            self.last_housekeeping = now
            try:
                report = await purge(self.database)
                logger.info("housekeeping: %s", report)
            except Exception as exc:
                self.failures.failed(exc, "housekeeping (next run tomorrow)")

    async def run(self) -> None:
        """Loop until stopped: up to BATCH deliveries in flight, a freed slot refilled at
        once (a slow receiver holds its own slot only); a stop lets those in flight finish."""
        limits = httpx.Limits(max_connections=20, max_keepalive_connections=10)
        in_flight: set[asyncio.Task[None]] = set()
        async with httpx.AsyncClient(limits=limits, follow_redirects=False) as client:
            while not self.stopping.is_set():
                await self.housekeeping_if_due()
                wanted = BATCH - len(in_flight)
                claimed = await self._claim(wanted) if wanted else []
                for job in claimed:
                    task = asyncio.create_task(self.deliver(client, job))
                    in_flight.add(task)
                    task.add_done_callback(in_flight.discard)
                if wanted and len(claimed) == wanted:
                    continue  # more may be due: claim again while there is room
                # Wait for a freed slot, a stop, or the next poll.
                stopping = asyncio.create_task(self.stopping.wait())
                await asyncio.wait(
                    {*in_flight, stopping},
                    timeout=POLL_SECONDS,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                stopping.cancel()
            if in_flight:
                await asyncio.gather(*in_flight)

    async def _claim(self, limit: int) -> list[Job]:
        try:
            jobs = await claim_due(self.database, limit=limit)
        except Exception as exc:
            # The database may be down: log once, back off (the caller waits a poll), go on.
            self.failures.failed(exc, "claiming deliveries")
            return []
        self.failures.succeeded()
        return jobs


async def run_worker(settings: Settings) -> None:
    """Run until SIGTERM/SIGINT; finishes the batch in hand, then exits."""
    # httpx logs every request's whole URL at INFO: its path and query often hold the
    # receiver's credentials, and its host is the address the name resolved to. The worker
    # logs its own line per delivery (event, endpoint id, outcome) instead.
    logging.getLogger("httpx").setLevel(logging.WARNING)
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
