"""`Idempotency-Key` on every API POST (SPEC §6, §14), as pure ASGI middleware.

The caller is authenticated first, now, with the same function as every route (the
route then reuses that Principal); anonymous or invalid callers pass straight through
and leave no record, so a revoked credential gets the route's 401, never a stored
response. The first request under a key is recorded as in flight, runs, and its response
(status, body, a few headers) is stored for 24 h. A repeat with the same key, caller and
body gets that response again without acting; a different body under the key is a 422; a
repeat while the first still runs is a 409. Server errors (5xx) are not stored, so a retry
runs again. A response that carries a secret (a new token, a webhook secret: the route
marks it, see `mark_secret`) is never stored: its record keeps only the fact that it ran,
and a repeat gets 409 `/problems/idempotency-not-replayable`.
"""

from __future__ import annotations

import hashlib
import logging
import re
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.auth.principal import Principal
from app.db import Database
from app.errors import AppError, problem_response
from app.models import IdempotencyRecord
from app.models.base import utcnow

logger = logging.getLogger(__name__)
KEY_PATTERN = re.compile(r"^[\x21-\x7e]{1,255}$")  # visible ASCII
RETENTION = timedelta(hours=24)
# An in-flight record older than this belongs to a request that died; a retry may proceed.
ABANDONED_AFTER = timedelta(minutes=5)
REPLAYED_HEADERS = ("content-type", "location", "etag")
MAX_STORED_BODY = 1024 * 1024
# Not stored: answers a retry should not repeat (auth fixed, conflict gone, limit reset).
NOT_STORED_STATUSES = frozenset({401, 403, 409, 429})
NOT_REPLAYABLE = (
    409,
    "The request under this Idempotency-Key ran; its response carried a secret, which is "
    "never stored, so it cannot be replayed. Use a new key to run it again.",
)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return None


SECRET_FLAG = "carries_secret"


def mark_secret(request: Request) -> None:
    """Say that this response carries a credential or secret: it is never stored or replayed."""
    request.state.carries_secret = True


async def _authenticated(scope: Scope, receive: Receive, database: Database) -> Principal | None:
    """The caller, authenticated now (and kept for the route), or None when they are not."""
    # Imported here: app.api.deps builds on the routers' modules, which import this one.
    from app.api.deps import authenticate

    request = Request(scope, receive)
    try:
        async with database.reader() as reader:
            principal = await authenticate(request, reader)
    except AppError:
        return None  # 401 or 429: the route answers it again, and nothing is recorded
    scope.setdefault("state", {})["principal"] = principal
    return principal


class IdempotencyMiddleware:
    """Replays stored responses for repeated POSTs with an Idempotency-Key."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        key = _header(scope, b"idempotency-key") if scope["type"] == "http" else None
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
        body = await _read_body(receive)
        fingerprint = hashlib.sha256(
            b"\n".join([scope["path"].encode(), scope.get("query_string", b""), body])
        ).hexdigest()
        principal_key = principal.key
        outcome = await _claim(database, principal_key, key, scope, fingerprint)
        if isinstance(outcome, IdempotencyRecord):
            await _replay(outcome, send)
            return
        if outcome is not None:
            status, detail = outcome
            await _problem(scope, receive, send, status, detail)
            return
        captured = _Capture(send)
        try:
            await self.app(scope, _replaying(body), captured.send)
        finally:
            secret = bool(scope.get("state", {}).get(SECRET_FLAG))
            await _finish(database, principal_key, key, captured, secret=secret)


class _Capture:
    """Passes the response through while keeping a copy to store."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self.status: int | None = None
        self.headers: dict[str, str] = {}
        self.body = bytearray()
        self.complete = False

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            self.headers = {
                k.decode("latin-1").lower(): v.decode("latin-1")
                for k, v in message.get("headers", [])
                if k.decode("latin-1").lower() in REPLAYED_HEADERS
            }
        elif message["type"] == "http.response.body":
            if len(self.body) <= MAX_STORED_BODY:
                self.body.extend(message.get("body", b""))
            if not message.get("more_body", False):
                self.complete = True
        await self._send(message)


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replaying(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive


async def _claim(
    database: Database, principal_key: str, key: str, scope: Scope, fingerprint: str
) -> IdempotencyRecord | tuple[int, str] | None:
    """A stored record to replay, a refusal (status, detail), or None: go ahead."""
    now = utcnow()
    async with database.sessionmaker() as session:
        record = (
            await session.execute(
                select(IdempotencyRecord).where(
                    IdempotencyRecord.principal_key == principal_key,
                    IdempotencyRecord.key == key,
                )
            )
        ).scalar_one_or_none()
        if record is not None:
            abandoned = record.response_status is None and now - record.created_at > ABANDONED_AFTER
            if record.expires_at <= now or abandoned:
                await session.delete(record)
                await session.flush()
            elif record.request_hash != fingerprint:
                return 422, "This Idempotency-Key was used with a different request."
            elif record.response_status is None:
                return 409, "A request with this Idempotency-Key is still in progress."
            elif record.response_body is None:
                return NOT_REPLAYABLE
            else:
                return record
        session.add(
            IdempotencyRecord(
                principal_key=principal_key,
                key=key,
                method="POST",
                path=scope["path"][:2048],
                request_hash=fingerprint,
                expires_at=now + RETENTION,
            )
        )
        try:
            await session.commit()
        except IntegrityError:
            # Another process claimed the key between our read and our insert.
            return 409, "A request with this Idempotency-Key is still in progress."
    return None


async def _finish(
    database: Database, principal_key: str, key: str, captured: _Capture, *, secret: bool
) -> None:
    async with database.sessionmaker() as session:
        statement = select(IdempotencyRecord).where(
            IdempotencyRecord.principal_key == principal_key, IdempotencyRecord.key == key
        )
        record = (await session.execute(statement)).scalar_one_or_none()
        if record is None:
            return
        storable = (
            captured.complete
            and captured.status is not None
            and captured.status < 500
            and captured.status not in NOT_STORED_STATUSES
            and len(captured.body) <= MAX_STORED_BODY
        )
        if storable and secret:
            # It ran and must not run again, but what it answered stays with the caller.
            record.response_status = captured.status
            record.response_headers = {}
            record.response_body = None
        elif storable:
            record.response_status = captured.status
            record.response_headers = captured.headers
            record.response_body = bytes(captured.body)
        else:
            await session.delete(record)
        await session.commit()


async def _replay(record: IdempotencyRecord, send: Send) -> None:
    headers = [(k.encode(), v.encode()) for k, v in record.response_headers.items()]
    headers.append((b"idempotent-replayed", b"true"))
    await send(
        {"type": "http.response.start", "status": record.response_status, "headers": headers}
    )
    await send({"type": "http.response.body", "body": record.response_body or b""})


async def _problem(scope: Scope, receive: Receive, send: Send, status: int, detail: str) -> None:
    response = problem_response(
        status,
        detail=detail,
        slug=_slug(status, detail),
        instance=scope.get("path"),
        request_id=scope.get("state", {}).get("request_id"),
    )
    await response(scope, receive, send)


def _slug(status: int, detail: str) -> str:
    if detail == NOT_REPLAYABLE[1]:
        return "idempotency-not-replayable"
    return {409: "idempotency-conflict", 400: "bad-request"}.get(status, "validation-error")


async def purge_expired(database: Database) -> int:
    """Delete records past their 24 h (used by `backoffice purge`)."""
    async with database.sessionmaker() as session:
        result = await session.execute(
            delete(IdempotencyRecord).where(IdempotencyRecord.expires_at <= utcnow())
        )
        await session.commit()
        return int(result.rowcount)  # type: ignore[attr-defined]
