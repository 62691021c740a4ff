"""`Idempotency-Key` on every API POST (SPEC §6, §14), as pure ASGI middleware.

The caller is authenticated first, now, with the same function as every route (the
route then reuses that Principal); anonymous or invalid callers pass straight through
and leave no record, so a revoked credential gets the route's 401, never a stored
response.

The key's record lives in the request's own transaction, so it commits with the effect
it records or not at all (docs/deploy.md):

1. The request's unit of work begins with the claim, an INSERT of the key that does
   nothing when the key is there. A concurrent repeat's INSERT waits on the first's
   uncommitted row (on SQLite, on its write lock) until the first commits, then replays
   what it stored; after the lock timeout it is answered 409
   `/problems/idempotency-in-progress` with `Retry-After`.
2. The route runs in that same transaction (`KeyedUnit`, taken by `get_session`); its
   response is held back, not sent.
3. The response is written into the record and everything commits together; only then
   is the response sent. A final answer (4xx included) is what a repeat gets; a refusal
   that rolled its work back is recorded after the rollback. A 5xx or 429 (the request
   may succeed later) rolls the claim back with the rest: the key is free at once.

If the commit's outcome is unknown (the connection died during COMMIT), the request is
run again (app/edge/retry.py) and its claim finds the record if the first attempt committed.
A response that carries a secret (a new token, a webhook secret: the route marks it,
see `mark_secret`) is never stored: its record keeps only the fact that it ran, and a
repeat gets 409 `/problems/idempotency-not-replayable`.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.idempotency_records import (
    DIFFERENT_REQUEST,
    IN_PROGRESS,
    NOT_REPLAYABLE,
    Claim,
    Identity,
    Stored,
    claim_key,
    insert_record,
    outcome_of_existing,
)
from app.auth.principal import Principal, principal_in
from app.edge.asgi_parts import header, read_body, replay_body
from app.edge.problems import problem_response
from app.errors import AppError
from app.infra.db import Database
from app.infra.retry_policy import RETRY_AFTER_SECONDS, note_rerun_is_safe
from app.models import IdempotencyRecord

logger = logging.getLogger(__name__)
KEY_PATTERN = re.compile(r"^[\x21-\x7e]{1,255}$")  # visible ASCII
REPLAYED_HEADERS = ("content-type", "location", "etag")
MAX_STORED_BODY = 1024 * 1024
# Not stored: answers that say "not now" rather than "this is the outcome"; the key is
# free for a retry at once.
NOT_STORED_STATUSES = frozenset({429})
KEYED_UNIT_STATE = "keyed_unit"
SECRET_FLAG = "carries_secret"


def mark_secret(request: Request) -> None:
    """Say that this response carries a credential or secret: it is never stored or replayed."""
    request.state.carries_secret = True


async def _authenticated(scope: Scope, receive: Receive, database: Database) -> Principal | None:
    """The caller, authenticated now by the API's one `authenticate` (which leaves it in the
    scope's state for the route), or None when they are not."""
    known = principal_in(scope)
    if known is not None:
        return known  # an earlier attempt of this request authenticated (app/edge/retry.py)
    # Imported here: app.api.deps builds on the routers' modules, which import this one.
    from app.api.deps import authenticate

    try:
        async with database.reader() as reader:
            return await authenticate(Request(scope, receive), reader)
    except AppError:
        return None  # 401 or 429: the route answers it again, and nothing is recorded


@dataclass
class KeyedUnit:
    """The request's transaction, begun by the claim; the route's session joins it."""

    session: AsyncSession
    # Whether the route's work stays (finished, or a refusal that keeps its changes); None:
    # the route never asked for a session.
    keeps_work: bool | None = None

    @asynccontextmanager
    async def enlist(self) -> AsyncIterator[AsyncSession]:
        """The session for the route: flushed when it returns; the middleware commits."""
        try:
            yield self.session
            await self.session.flush()
        except BaseException as error:
            if getattr(error, "keeps_changes", False):
                await self.session.flush()
                self.keeps_work = True
            else:
                # The claim goes too; the answer is recorded after (see _settle).
                await self.session.rollback()
                self.keeps_work = False
            raise
        else:
            self.keeps_work = True


@dataclass
class _Held:
    """The route's response, held back until the transaction has committed."""

    messages: list[Message] = field(default_factory=list)
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytearray = field(default_factory=bytearray)
    complete: bool = False

    async def send(self, message: Message) -> None:
        self.messages.append(message)
        if message["type"] == "http.response.start":
            self.status = message["status"]
            self.headers = {
                k.decode("latin-1").lower(): v.decode("latin-1")
                for k, v in message.get("headers", [])
                if k.decode("latin-1").lower() in REPLAYED_HEADERS
            }
        elif message["type"] == "http.response.body":
            self.body.extend(message.get("body", b""))
            if not message.get("more_body", False):
                self.complete = True

    async def release(self, send: Send) -> None:
        for message in self.messages:
            await send(message)


class IdempotencyMiddleware:
    """Runs a keyed POST once: its record commits with its effect; repeats are replayed."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        key = header(scope, b"idempotency-key") if scope["type"] == "http" else None
        if (
            key is None
            or scope.get("method") != "POST"
            or not scope.get("path", "").startswith("/api/")
        ):
            await self.app(scope, receive, send)
            return
        if not KEY_PATTERN.match(key):
            await _problem(
                scope,
                receive,
                send,
                400,
                "Idempotency-Key must be 1 to 255 visible ASCII characters.",
            )
            return
        database: Database = scope["app"].state.database
        principal = await _authenticated(scope, receive, database)
        if principal is None:
            await self.app(scope, receive, send)
            return
        body, _ = await read_body(receive)
        fingerprint = hashlib.sha256(
            b"\n".join([scope["path"].encode(), scope.get("query_string", b""), body])
        ).hexdigest()
        identity = Identity(principal.key, key, scope["path"][:2048], fingerprint)
        held = _Held()
        async with database.connection_slot(), database.sessionmaker() as session:
            claim = await claim_key(session, identity)
            if claim.replay is not None or claim.refusal is not None:
                await session.rollback()
            else:
                # From here a re-run is safe even if the commit's outcome is unknown: the
                # re-run's claim finds the record if this attempt committed.
                note_rerun_is_safe()
                unit = KeyedUnit(session)
                state = scope.setdefault("state", {})
                state[KEYED_UNIT_STATE] = unit
                try:
                    await self.app(scope, replay_body(body), held.send)
                finally:
                    state.pop(KEYED_UNIT_STATE, None)
                secret = bool(state.get(SECRET_FLAG))
                claim = await _settle(session, unit, identity, claim, held, secret=secret)
        if claim.replay is not None:
            await _replay(claim.replay, send)
        elif claim.refusal is not None:
            await _problem(scope, receive, send, *claim.refusal)
        else:
            await held.release(send)


def _response_fields(held: _Held, *, secret: bool) -> dict[str, Any]:
    """The record's response columns; a secret or oversized body is not kept."""
    if secret or len(held.body) > MAX_STORED_BODY:
        # It ran and must not run again, but what it answered stays with the caller.
        return {"response_status": held.status, "response_headers": {}, "response_body": None}
    return {
        "response_status": held.status,
        "response_headers": held.headers,
        "response_body": bytes(held.body),
    }


async def _settle(
    session: AsyncSession,
    unit: KeyedUnit,
    identity: Identity,
    claim: Claim,
    held: _Held,
    *,
    secret: bool,
) -> Claim:
    """Commit the record with the effect and say what to send: the held response, or
    (when a concurrent repeat took the key meanwhile) what that one recorded."""
    status = held.status
    if status is None or not held.complete or status >= 500 or status in NOT_STORED_STATUSES:
        await session.rollback()  # the key is free again, with nothing done under it
        return claim
    response = _response_fields(held, secret=secret)
    if unit.keeps_work is False:
        # The refusal rolled back its work and the claim with it: record the answer anew.
        inserted = await insert_record(session, identity, **response)
        if isinstance(inserted, tuple) or inserted is None:
            # A repeat claimed the key during the rollback and has answered by now:
            # both callers get one answer, the recorded one.
            await session.rollback()
            found = await outcome_of_existing(session, identity)
            await session.rollback()
            if found is None or found.refusal == DIFFERENT_REQUEST:
                return claim  # nothing recorded for this request: our own answer stands
            return found
    else:
        await session.execute(
            update(IdempotencyRecord)
            .where(IdempotencyRecord.id == claim.record_id)
            .values(**response)
            .execution_options(synchronize_session=False)
        )
    await session.commit()
    return claim


async def _replay(stored: Stored, send: Send) -> None:
    headers = [(k.encode(), v.encode()) for k, v in stored.headers.items()]
    headers.append((b"idempotent-replayed", b"true"))
    await send({"type": "http.response.start", "status": stored.status, "headers": headers})
    await send({"type": "http.response.body", "body": stored.body})


async def _problem(scope: Scope, receive: Receive, send: Send, status: int, detail: str) -> None:
    in_progress = detail == IN_PROGRESS[1]
    response = problem_response(
        status,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)} if in_progress else None,
        detail=detail,
        slug=_slug(status, detail),
        instance=scope.get("path"),
        request_id=scope.get("state", {}).get("request_id"),
    )
    await response(scope, receive, send)


def _slug(status: int, detail: str) -> str:
    if detail == NOT_REPLAYABLE[1]:
        return "idempotency-not-replayable"
    if detail == IN_PROGRESS[1]:
        return "idempotency-in-progress"
    return {409: "idempotency-conflict", 400: "bad-request"}.get(status, "validation-error")
