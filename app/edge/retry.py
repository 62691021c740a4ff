"""Transient database failures at the HTTP edge: the whole request runs again.

Every effect of a request (its rows, the audit row, the outbox event, the idempotency
record) lives in one transaction, so the request is the unit of work and running it again
from the start is safe. `TransientRetryMiddleware` keeps the request body, and when an
attempt fails transiently before anything was sent it throws that attempt's answer away
and runs the request again, within the policy of app/infra/retry_policy.py. What cannot be
retried is answered 503 with `Retry-After`.
"""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.infra.db_errors import FailureKind, failure_kind
from app.infra.retry_policy import Attempt, Deadline, current_attempt, log_retry

TRANSIENT_STATE_KEY = "transient_failure"


def mark_transient(scope: Scope, kind: FailureKind) -> None:
    """Record, for the retry middleware, that this attempt's error answer is transient."""
    scope.setdefault("state", {})[TRANSIENT_STATE_KEY] = kind


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

    def __init__(self, send: Send, run: _Run, deadline: Deadline, attempt: Attempt) -> None:
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
        deadline = Deadline()
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
                log_retry(attempt, kind or held.kind, type(error).__name__)
            else:
                if held.retry_after is None:
                    run.publish()
                    return
                delay = held.retry_after
                log_retry(attempt, held.kind, "an error answer")
            finally:
                current_attempt.reset(token)
            carried = run.carried()
            await asyncio.sleep(delay)
            attempt = Attempt(number=attempt.number + 1)
