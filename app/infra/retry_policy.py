"""The retry policy for transient database failures, at the unit-of-work boundary.

A deadlock, a serialization failure, a lock wait that timed out or a connection lost
before the commit leave nothing behind: the server rolled the transaction back, so the
unit of work can run again from the start. At most MAX_ATTEMPTS runs, with full jitter,
within RETRY_BUDGET_SECONDS. The one case never re-run is a commit whose outcome is
unknown (the connection died during COMMIT): the unit of work says so
(`note_commit_started`), unless the effect is guarded by a record that tells whether it
committed (`note_rerun_is_safe`, an Idempotency-Key).

`run_with_retry` applies it to a unit of work in code (the CLI); app/edge/retry.py
applies it to a whole HTTP request.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from app.infra.db_errors import FailureKind, failure_kind

logger = logging.getLogger(__name__)
T = TypeVar("T")

MAX_ATTEMPTS = 3
# Full jitter (AWS's "exponential backoff and jitter"): a random wait below a cap that
# doubles; clashing transactions re-run at different moments instead of clashing again.
BACKOFF_BASE_SECONDS = {FailureKind.CONFLICT: 0.02, FailureKind.UNAVAILABLE: 0.25}
BACKOFF_CAP_SECONDS = 1.0
# No attempt starts later than this after the first: SPEC §10 wants an outage answered
# (503) within 5 s, and the pool may wait up to 5 s of its own before that.
RETRY_BUDGET_SECONDS = 2.0
# What a caller is told to wait before trying again (503, 409 in progress).
RETRY_AFTER_SECONDS = 1


@dataclass
class Attempt:
    """One run of a request; the unit of work reports what it did on it."""

    number: int = 1
    # A COMMIT was sent (or about to be): a failure from here on leaves the outcome unknown.
    commit_started: bool = False
    # The effect's outcome can be found out on a re-run (an idempotency record is checked
    # first), so a re-run is safe even when the commit's outcome is unknown.
    rerun_is_safe: bool = False


current_attempt: contextvars.ContextVar[Attempt | None] = contextvars.ContextVar(
    "current_attempt", default=None
)


def note_commit_started() -> None:
    """Called by a unit of work just before it commits."""
    attempt = current_attempt.get()
    if attempt is not None:
        attempt.commit_started = True


def note_rerun_is_safe() -> None:
    """Called when this request's effect is guarded by an idempotency record."""
    attempt = current_attempt.get()
    if attempt is not None:
        attempt.rerun_is_safe = True


def backoff(kind: FailureKind, retry_number: int) -> float:
    """Seconds to wait before retry `retry_number` (1, 2, …): full jitter under a cap."""
    cap = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS[kind] * 2 ** (retry_number - 1))
    return random.uniform(0, cap)


class Deadline:
    """Whether another attempt may start: under MAX_ATTEMPTS and within the budget."""

    def __init__(self) -> None:
        self.started = time.monotonic()

    def delay_for(self, attempt: Attempt, kind: FailureKind) -> float | None:
        if attempt.number >= MAX_ATTEMPTS:
            return None
        if attempt.commit_started and not attempt.rerun_is_safe:
            return None
        delay = backoff(kind, attempt.number)
        if time.monotonic() + delay - self.started > RETRY_BUDGET_SECONDS:
            return None
        return delay


async def run_with_retry(work: Callable[[], Awaitable[T]]) -> T:
    """Run `work` (one whole unit of work) again after a transient failure, within the policy."""
    deadline = Deadline()
    attempt = Attempt()
    while True:
        token = current_attempt.set(attempt)
        try:
            return await work()
        except Exception as error:
            kind = failure_kind(error)
            delay = deadline.delay_for(attempt, kind) if kind is not None else None
            if delay is None:
                raise
            log_retry(attempt, kind, type(error).__name__)
        finally:
            current_attempt.reset(token)
        await asyncio.sleep(delay)
        attempt = Attempt(number=attempt.number + 1)


def log_retry(attempt: Attempt, kind: FailureKind | None, what: str) -> None:
    logger.warning(
        "transient database failure (%s, %s); running the unit of work again (attempt %d)",
        kind.value if kind else "?",
        what,
        attempt.number + 1,
    )
