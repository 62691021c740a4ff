"""Pure ASGI middleware: request id, access log and last-resort errors, hosts, headers."""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.edge.asgi_parts import header
from app.edge.problems import problem_response, unavailable_error
from app.infra.db_errors import failure_kind
from app.infra.logging_setup import request_id_var

access_logger = logging.getLogger("backoffice.access")
error_logger = logging.getLogger("backoffice.error")

_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:@/+=-]{1,128}$")

# `'unsafe-inline'` styles only: sqladmin's templates use style attributes; no inline script.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self'; font-src 'self' data:; connect-src 'self'; object-src 'none'; "
    "base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)


def accept_request_id(candidate: str | None) -> str:
    """The caller's X-Request-ID when it is 1–128 safe characters, else a fresh one."""
    # fullmatch: with match(), `$` would also accept a trailing newline.
    if candidate and _SAFE_REQUEST_ID.fullmatch(candidate):
        return candidate
    return uuid.uuid4().hex


class RequestContextMiddleware:
    """Request id in, echoed out and logged; one access-log line; a 500 problem as last resort."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = accept_request_id(header(scope, b"x-request-id"))
        scope.setdefault("state", {})["request_id"] = request_id
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as error:
            if response_started:
                error_logger.exception("error after the response started")
                raise
            response = last_resort_response(scope, error, request_id)
            await response(scope, receive, send_with_id)
        finally:
            duration_ms = round((time.perf_counter() - started) * 1000, 2)
            state: dict[str, Any] = scope.get("state", {})
            access_logger.info(
                "%s %s %s",
                scope.get("method"),
                scope.get("path"),
                status,
                extra={
                    "method": scope.get("method"),
                    "path": scope.get("path"),
                    "status": status,
                    "duration_ms": duration_ms,
                    "user_id": state.get("user_id"),
                    "client_ip": (scope.get("client") or (None,))[0],
                },
            )
            request_id_var.reset(token)


def last_resort_response(scope: Scope, error: Exception, request_id: str) -> Response:
    """The answer to an error nothing else handled: 503 for a database that cannot serve
    now (with Retry-After), else a 500 that says only to quote the request id."""
    # This answer bypasses the inner middleware, so it takes the security headers
    # SecurityHeadersMiddleware left in the scope for it.
    security = scope.get("state", {}).get("security_headers", [])
    headers = {key.decode(): value.decode() for key, value in security}
    kind = failure_kind(error)
    if kind is not None:
        error_logger.warning("database %s: %s", kind.value, type(error).__name__)
        refusal = unavailable_error(kind)
        return problem_response(
            refusal.status,
            headers=headers | refusal.headers,
            detail=refusal.detail,
            slug=refusal.slug,
            instance=scope.get("path"),
            request_id=request_id,
        )
    error_logger.exception("unhandled error", exc_info=error)
    return problem_response(
        500,
        headers=headers,
        detail="An unexpected error occurred; quote the request id when reporting it.",
        slug="internal-error",
        instance=scope.get("path"),
        request_id=request_id,
    )


def host_is_allowed(host: str, patterns: list[str]) -> bool:
    """`host` (a Host header, port and all) against ALLOWED_HOSTS' patterns.

    A pattern is `*` (anything), an exact name, or `*.example.com` (its subdomains).
    """
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    name = name.strip().lower().rstrip(".")
    for pattern in patterns:
        if pattern == "*" or name == pattern:
            return True
        if pattern.startswith("*.") and name.endswith(pattern[1:]) and name != pattern[2:]:
            return True
    return False


class AllowedHostsMiddleware:
    """400 for a Host outside ALLOWED_HOSTS (SPEC §14), before anything else reads it."""

    def __init__(self, app: ASGIApp, *, patterns: list[str]) -> None:
        self.app = app
        self.patterns = patterns
        self.any_host = "*" in patterns

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.any_host:
            await self.app(scope, receive, send)
            return
        if not host_is_allowed(header(scope, b"host") or "", self.patterns):
            response = problem_response(
                400,
                detail="This host name is not served here.",
                slug="bad-host",
                instance=scope.get("path"),
                request_id=scope.get("state", {}).get("request_id"),
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


# Token responses carry credentials: no cache anywhere may keep them (SPEC §14).
NO_STORE_PREFIXES = ("/api/v1/auth/",)


class SecurityHeadersMiddleware:
    """The headers of SPEC §10 on every response; no-store on authenticated ones."""

    def __init__(self, app: ASGIApp, *, hsts: bool, session_cookie: str) -> None:
        self.app = app
        self.hsts = hsts
        self.session_cookie = session_cookie.encode()

    def _authenticated(self, scope: Scope) -> bool:
        if header(scope, b"authorization"):
            return True
        cookie = header(scope, b"cookie") or ""
        return self.session_cookie.decode() + "=" in cookie

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = [
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"same-origin"),
            (b"x-frame-options", b"DENY"),
            (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
        ]
        if self.hsts:
            extra.append((b"strict-transport-security", b"max-age=63072000; includeSubDomains"))
        if self._authenticated(scope) or scope.get("path", "").startswith(NO_STORE_PREFIXES):
            extra.append((b"cache-control", b"no-store"))
        # For RequestContextMiddleware's last-resort 500, which is sent outside this one.
        scope.setdefault("state", {})["security_headers"] = extra

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {key.lower() for key, _ in headers}
                headers.extend((k, v) for k, v in extra if k not in present)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class RateLimitHeadersMiddleware:
    """Stamps RateLimit-* headers computed during authentication onto the response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_limits(message: Message) -> None:
            if message["type"] == "http.response.start":
                limits = scope.get("state", {}).get("ratelimit_headers")
                if limits:
                    headers = list(message.get("headers", []))
                    present = {key.lower() for key, _ in headers}
                    for name, value in limits.items():
                        key = name.lower().encode()
                        if key not in present:
                            headers.append((key, value.encode()))
                    message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_limits)
