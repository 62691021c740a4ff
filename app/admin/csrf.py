"""CSRF and body size for the admin: tokens bound to the session, and a pure ASGI
middleware enforcing them on every state-changing request.

A token is `nonce.HMAC(SECRET_KEY, csrf_secret + nonce)`: a fresh nonce per page keeps it
from being a constant (BREACH), the session's `csrf_secret` binds it to one session, and
SECRET_KEY means the secret alone (readable in the signed cookie) cannot mint tokens.

A form body is read here, before anything parses it, and at most MAX_FORM_BYTES of it
(SPEC §14: anyone, logged in or not, can send a body, so reading 21 MiB of it for each
anonymous POST let six requests take a worker from 182 to 312 MB). An upload page reads
nothing here: its body is read, checked and capped when its handler asks for it, which is
after the session was checked, so an anonymous upload is refused unread.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable, Mapping
from urllib.parse import parse_qs

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.edge.asgi_parts import header, read_body, replay_body
from app.edge.body_guard import CSV_LIMIT, BodyTooLarge

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
SESSION_KEY = "csrf"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# sqladmin triggers custom actions with a plain GET link; they change state all the same.
ACTION_PATH = re.compile(r"^/[^/]+/action/[^/]+/?$")
MAX_FORM_BYTES = 64 * 1024
# An upload page's form: the API's CSV limit, and room for the multipart envelope.
MAX_UPLOAD_BYTES = CSV_LIMIT + 64 * 1024
EXPIRED = "The form has expired or did not come from this site; reload the page."
TOO_LARGE = "Request too large."


def ensure_csrf_secret(session: dict[str, object]) -> str:
    """The session's CSRF secret, created on first use (e.g. the login page)."""
    secret = session.get(SESSION_KEY)
    if not isinstance(secret, str) or not secret:
        secret = secrets.token_urlsafe(32)
        session[SESSION_KEY] = secret
    return secret


def make_token(secret_key: str, csrf_secret: str) -> str:
    nonce = secrets.token_urlsafe(12)
    mac = hmac.new(secret_key.encode(), f"{csrf_secret}.{nonce}".encode(), hashlib.sha256)
    return f"{nonce}.{mac.hexdigest()}"


def token_is_valid(secret_key: str, csrf_secret: object, token: object) -> bool:
    if not isinstance(csrf_secret, str) or not csrf_secret or not isinstance(token, str):
        return False
    nonce, _, mac = token.partition(".")
    if not nonce or not mac or len(token) > 256:
        return False
    expected = hmac.new(secret_key.encode(), f"{csrf_secret}.{nonce}".encode(), hashlib.sha256)
    return hmac.compare_digest(expected.hexdigest(), mac)


def _own_origin(scope: Scope) -> str:
    scheme = scope.get("scheme", "http")
    host = header(scope, b"host") or ""
    return f"{scheme}://{host}".lower()


def _declared_length(scope: Scope) -> int | None:
    length = header(scope, b"content-length")
    return int(length) if length and length.isascii() and length.isdigit() else None


async def _form_token(scope: Scope, body: bytes) -> str | None:
    content_type = (header(scope, b"content-type") or "").lower()
    if content_type.startswith("application/x-www-form-urlencoded"):
        values = parse_qs(body.decode("latin-1"), keep_blank_values=True).get(CSRF_FIELD)
        return values[0] if values else None
    if content_type.startswith("multipart/form-data"):
        request = Request(scope, replay_body(body))
        try:
            form: FormData = await request.form()
        except Exception:  # a malformed multipart body simply has no token
            return None
        try:
            value = form.get(CSRF_FIELD)
            return value if isinstance(value, str) else None
        finally:
            await form.close()
    return None


class CSRFMiddleware:
    """Refuses (403) state-changing admin requests without a valid token or from another
    origin, and (413) form bodies over MAX_FORM_BYTES, before anything parses them.

    Runs inside the session middleware (it reads `scope["session"]`). Exempt and upload
    paths are matched relative to the admin mount; an upload path maps to its body limit.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        secret_key: str,
        exempt: Iterable[str] = (),
        uploads: Mapping[str, int] | None = None,
    ) -> None:
        self.app = app
        self.secret_key = secret_key
        self.exempt = frozenset(exempt)
        self.uploads = dict(uploads or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        relative = path[len(scope.get("root_path", "")) :] if path else path
        method = scope.get("method", "GET")
        changes_state = method not in SAFE_METHODS or bool(ACTION_PATH.match(relative))
        if not changes_state or relative in self.exempt:
            await self.app(scope, receive, send)
            return
        origin = header(scope, b"origin")
        if origin is not None and origin.lower() != _own_origin(scope):
            await _refuse(scope, receive, send, "Cross-site request refused.")
            return
        token = header(scope, CSRF_HEADER.encode())
        secret = scope.get("session", {}).get(SESSION_KEY)
        if method in SAFE_METHODS:
            if not token_is_valid(self.secret_key, secret, token):
                await _refuse(scope, receive, send, EXPIRED)
                return
            await self.app(scope, receive, send)
            return
        limit = self.uploads.get(relative, MAX_FORM_BYTES)
        declared = _declared_length(scope)
        if declared is not None and declared > limit:
            await _refuse(scope, receive, send, TOO_LARGE, status=413)
            return
        if relative in self.uploads:
            if not isinstance(secret, str) or not secret:
                await _refuse(scope, receive, send, EXPIRED)  # no session: nothing to read
                return
            await self.app(scope, self._checked_later(scope, receive, limit, token), send)
            return
        body, too_large = await read_body(receive, limit)
        if too_large:
            await _refuse(scope, receive, send, TOO_LARGE, status=413)
            return
        if token is None:
            token = await _form_token(scope, body)
        if not token_is_valid(self.secret_key, secret, token):
            await _refuse(scope, receive, send, EXPIRED)
            return
        await self.app(scope, replay_body(body), send)

    def _checked_later(
        self, scope: Scope, receive: Receive, limit: int, token: str | None
    ) -> Receive:
        """A `receive` that reads, caps and checks the body when the handler first asks.

        The handler sits behind the admin's login check, so an anonymous upload is never
        read. A refusal is raised from here: the admin's error page answers it.
        """
        body: bytes | None = None

        async def checked_receive() -> Message:
            nonlocal body
            if body is not None:
                return await receive()  # the body was handed over: what follows is a disconnect
            body, too_large = await read_body(receive, limit)
            if too_large:
                raise BodyTooLarge(limit)
            form_token = token if token is not None else await _form_token(scope, body)
            secret = scope.get("session", {}).get(SESSION_KEY)
            if not token_is_valid(self.secret_key, secret, form_token):
                raise HTTPException(status_code=403, detail=EXPIRED)
            return {"type": "http.request", "body": body, "more_body": False}

        return checked_receive


async def _refuse(
    scope: Scope, receive: Receive, send: Send, message: str, status: int = 403
) -> None:
    from app.admin.pages import render_error

    response = await render_error(scope, receive, status, message)
    await response(scope, receive, send)
