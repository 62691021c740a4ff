"""One retry policy for transient database failures, at the unit-of-work boundary.

A deadlock, a serialization failure, a lock wait that timed out or a connection lost
before the commit leave nothing behind: the server rolled the transaction back. Every
effect of a request (its rows, the audit row, the outbox event, the idempotency record)
lives in that transaction, so the request is the unit of work, and running it again from
the start is safe. `TransientRetryMiddleware` does that for HTTP: it keeps the request
body, and when an attempt fails transiently before anything was sent it throws that
attempt's answer away and runs the request again, a bounded number of times with full
jitter. The one case it must not re-run is a commit whose outcome is unknown (the
connection died during COMMIT): the unit of work says so (`note_commit_started`), and
only a request under an `Idempotency-Key` (whose record tells whether the first attempt
committed) is re-run then. What cannot be retried is answered 503 with `Retry-After`.

`run_with_retry` is the same policy for code outside HTTP (the CLI).
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

from starlette.types import ASGIApp, Message, Receive, Scope, Send

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
# Keys of the ASGI scope's state.
TRANSIENT_STATE_KEY = "transient_failure"


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


def mark_transient(scope: Scope, kind: FailureKind) -> None:
    """Record, for the retry middleware, that this attempt's error answer is transient."""
    scope.setdefault("state", {})[TRANSIENT_STATE_KEY] = kind


def backoff(kind: FailureKind, retry_number: int) -> float:
    """Seconds to wait before retry `retry_number` (1, 2, …): full jitter under a cap."""
    cap = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS[kind] * 2 ** (retry_number - 1))
    return random.uniform(0, cap)


class _Deadline:
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
    deadline = _Deadline()
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
            _log_retry(attempt, kind, type(error).__name__)
        finally:
            current_attempt.reset(token)
        await asyncio.sleep(delay)
        attempt = Attempt(number=attempt.number + 1)


def _log_retry(attempt: Attempt, kind: FailureKind | None, what: str) -> None:
    logger.warning(
        "transient database failure (%s, %s); running the unit of work again (attempt %d)",
        kind.value if kind else "?",
        what,
        attempt.number + 1,
    )


class _RecordedBody:
    """The request's body messages, kept so that a re-run reads the same body."""

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self._messages: list[Message] = []
        self._complete = False

    def for_attempt(self) -> Receive:
        replay = list(self._messages)

        async def receive() -> Message:
            if replay:
                return replay.pop(0)
            if self._complete:
                # The body was read to its end by an earlier attempt; what follows it is
                # the client going away, which only the real channel can tell.
                return await self._receive()
            message = await self._receive()
            if message["type"] == "http.request":
                self._messages.append(message)
                self._complete = not message.get("more_body", False)
            return message

        return receive


# What a re-run keeps from the attempt before it: the caller, authenticated once (a re-run
# must not count against the rate limit or the login throttle again), with what that one
# authentication left for the outer layers (the RateLimit-* headers, the access log's user).
CARRIED_STATE_KEYS = ("principal", "ratelimit_headers", "user_id")


class _Run:
    """One attempt's own scope: a copy of the request's as it arrived, with its own state.

    Routing rewrites the scope (a mount's root path, the path parameters, the endpoint),
    and each layer leaves things in the state (messages, a remembered failure); a re-run on
    the same scope would route wrongly and see the first attempt's leftovers. The attempt
    whose answer is sent publishes its scope and state to the request's, where the layers
    outside this one (metrics labels, rate-limit headers, the access log) read them.
    """

    def __init__(self, scope: Scope, arrived: Scope, carried: dict[str, object]) -> None:
        self.request_scope = scope
        self.scope: Scope = {**arrived, "state": {**arrived["state"], **carried}}

    def publish(self) -> None:
        state = self.request_scope["state"]
        self.request_scope.update({k: v for k, v in self.scope.items() if k != "state"})
        state.update(self.scope["state"])
        state.pop(TRANSIENT_STATE_KEY, None)

    def carried(self) -> dict[str, object]:
        state = self.scope["state"]
        return {key: state[key] for key in CARRIED_STATE_KEYS if key in state}


class _HeldBack:
    """Passes the attempt's response through, unless it is a transient failure to re-run."""

    def __init__(self, send: Send, run: _Run, deadline: _Deadline, attempt: Attempt) -> None:
        self._send = send
        self._run = run
        self._deadline = deadline
        self._attempt = attempt
        self.started = False
        self.retry_after: float | None = None
        self.kind: FailureKind | None = None

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            kind = self._run.scope["state"].get(TRANSIENT_STATE_KEY)
            if isinstance(kind, FailureKind):
                self.retry_after = self._deadline.delay_for(self._attempt, kind)
                self.kind = kind
            if self.retry_after is None:
                self.started = True
                self._run.publish()  # before the outer layers see the response start
        if self.retry_after is not None:
            return  # this answer is replaced by the next attempt's
        await self._send(message)


class TransientRetryMiddleware:
    """Re-runs a request whose unit of work failed transiently, before anything was sent."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope.setdefault("state", {})
        arrived = {**scope, "state": dict(scope["state"])}
        body = _RecordedBody(receive)
        deadline = _Deadline()
        attempt = Attempt()
        carried: dict[str, object] = {}
        while True:
            run = _Run(scope, arrived, carried)
            held = _HeldBack(send, run, deadline, attempt)
            token = current_attempt.set(attempt)
            try:
                await self.app(run.scope, body.for_attempt(), held.send)
            except Exception as error:
                kind = failure_kind(error)
                delay = held.retry_after
                if delay is None and not held.started and kind is not None:
                    delay = deadline.delay_for(attempt, kind)
                if delay is None:
                    run.publish()
                    raise
                _log_retry(attempt, kind or held.kind, type(error).__name__)
            else:
                if held.retry_after is None:
                    run.publish()
                    return
                delay = held.retry_after
                _log_retry(attempt, held.kind, "an error answer")
            finally:
                current_attempt.reset(token)
            carried = run.carried()
            await asyncio.sleep(delay)
            attempt = Attempt(number=attempt.number + 1)
