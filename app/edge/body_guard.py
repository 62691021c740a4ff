"""Pure ASGI guard for API request bodies: 415 for the wrong content type, 413 when too big.

Runs before routing so an oversized upload is refused without being read into memory.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.edge.asgi_parts import header
from app.edge.problems import problem_response

JSON_LIMIT = 1024 * 1024  # 1 MiB
CSV_LIMIT = 20 * 1024 * 1024  # 20 MiB
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
# Paths (under /api/v1) that take something other than JSON, and what they take.
FORM_PATHS = {"/api/v1/auth/token": ("application/x-www-form-urlencoded", "multipart/form-data")}
CSV_PATHS = {"/api/v1/products/import": ("text/csv", "multipart/form-data", "application/csv")}


class BodyTooLarge(HTTPException):
    """Raised inside `receive` when the streamed body passes the limit.

    An HTTPException, so FastAPI's body parsing lets it through (it turns other errors
    into a 400) and the app's handler renders it as a 413 problem.
    """

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"The body is over {limit} bytes.")


def _rules(path: str) -> tuple[tuple[str, ...], int]:
    if path in CSV_PATHS:
        return CSV_PATHS[path], CSV_LIMIT
    if path in FORM_PATHS:
        return FORM_PATHS[path], JSON_LIMIT
    return ("application/json",), JSON_LIMIT


class BodyGuardMiddleware:
    """415 / 413 problem responses for API requests with bodies."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if (
            scope["type"] != "http"
            or scope.get("method") not in BODY_METHODS
            or not path.startswith("/api/")
        ):
            await self.app(scope, receive, send)
            return
        allowed, limit = _rules(path)
        length_header = header(scope, b"content-length")
        declared = int(length_header) if length_header and length_header.isdigit() else None
        if declared is not None and declared > limit:
            await self._refuse(scope, receive, send, 413, f"The body is over {limit} bytes.")
            return
        content_type = (header(scope, b"content-type") or "").split(";")[0].strip().lower()
        has_body = declared != 0 if declared is not None else bool(content_type)
        json_like = content_type.endswith("+json") and "application/json" in allowed
        if has_body and content_type not in allowed and not json_like:
            await self._refuse(
                scope,
                receive,
                send,
                415,
                f"Send the body as {' or '.join(allowed)} (got {content_type or 'none'}).",
            )
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        response_started = False

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if response_started:
                raise
            await self._refuse(scope, receive, send, 413, f"The body is over {limit} bytes.")

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, status: int, detail: str) -> None:
        response = problem_response(
            status,
            detail=detail,
            slug="payload-too-large" if status == 413 else "unsupported-media-type",
            instance=scope.get("path"),
            request_id=scope.get("state", {}).get("request_id"),
        )
        await response(scope, receive, send)
