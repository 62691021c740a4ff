"""The AppError family, rendered as RFC 9457 problem+json on the API and HTML in the admin."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm.exc import StaleDataError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from app.jsonutil import dumps

PROBLEM_CONTENT_TYPE = "application/problem+json"
logger = logging.getLogger(__name__)


class AppError(Exception):
    """A refusal the client can act on; subclasses fix the status and the problem type."""

    status: int = 500
    slug: str = "internal-error"
    title: str = "Internal Server Error"

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        self.detail = detail or self.title
        self.errors = errors
        self.headers = headers or {}
        self.extra = extra
        super().__init__(self.detail)


class BadRequest(AppError):
    status, slug, title = 400, "bad-request", "Bad Request"


class NotAuthenticated(AppError):
    status, slug, title = 401, "not-authenticated", "Not Authenticated"

    def __init__(self, detail: str | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"WWW-Authenticate": "Bearer"})
        super().__init__(detail or "Missing, invalid or expired credentials.", **kwargs)


class PermissionDenied(AppError):
    status, slug, title = 403, "forbidden", "Forbidden"


class NotFound(AppError):
    status, slug, title = 404, "not-found", "Not Found"


class Conflict(AppError):
    status, slug, title = 409, "conflict", "Conflict"


class PreconditionFailed(AppError):
    status, slug, title = 412, "precondition-failed", "Precondition Failed"


class PayloadTooLarge(AppError):
    status, slug, title = 413, "payload-too-large", "Payload Too Large"


class UnsupportedMediaType(AppError):
    status, slug, title = 415, "unsupported-media-type", "Unsupported Media Type"


class ValidationFailed(AppError):
    status, slug, title = 422, "validation-error", "Validation Error"


class RateLimited(AppError):
    status, slug, title = 429, "rate-limited", "Too Many Requests"


class ServiceUnavailable(AppError):
    status, slug, title = 503, "service-unavailable", "Service Unavailable"


def _phrase(status: int) -> str:
    """The standard reason phrase of `status`, or "Error" for a code HTTPStatus lacks."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def problem_body(
    status: int,
    *,
    title: str | None = None,
    detail: str | None = None,
    slug: str | None = None,
    instance: str | None = None,
    request_id: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The RFC 9457 document for one error."""
    phrase = _phrase(status)
    body: dict[str, Any] = {
        "type": f"/problems/{slug}" if slug else "about:blank",
        "title": title or phrase,
        "status": status,
        "detail": detail or title or phrase,
        "instance": instance,
        "request_id": request_id,
    }
    if errors is not None:
        body["errors"] = errors
    if extra:
        body.update({k: v for k, v in extra.items() if k not in body})
    return body


def problem_response(status: int, headers: dict[str, str] | None = None, **fields: Any) -> Response:
    """A problem+json response (never a traceback, never SQL)."""
    return Response(
        content=dumps(problem_body(status, **fields)),
        status_code=status,
        media_type=PROBLEM_CONTENT_TYPE,
        headers=headers,
    )


def request_id_of(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


def _render(request: Request, exc: AppError) -> Response:
    return problem_response(
        exc.status,
        headers=exc.headers,
        title=exc.title,
        detail=exc.detail,
        slug=exc.slug,
        instance=request.url.path,
        request_id=request_id_of(request),
        errors=exc.errors,
        extra=exc.extra,
    )


def validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    """FastAPI's validation errors as `[{loc, message, type}]` (no echo of the input)."""
    return [
        {"loc": list(err.get("loc", ())), "message": err.get("msg", ""), "type": err.get("type")}
        for err in exc.errors()
    ]


async def _on_app_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AppError)
    return _render(request, exc)


async def _on_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else None
    return problem_response(
        exc.status_code,
        headers=dict(exc.headers or {}),
        detail=detail,
        slug=HTTPStatus(exc.status_code).phrase.lower().replace(" ", "-"),
        instance=request.url.path,
        request_id=request_id_of(request),
    )


async def _on_validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = validation_errors(exc)
    # A body that is not JSON at all is malformed (400), not a field error (422).
    if any(err["type"] == "json_invalid" for err in errors):
        return _render(request, BadRequest("The request body is not valid JSON.", errors=errors))
    return _render(request, ValidationFailed("One or more fields are invalid.", errors=errors))


async def _on_integrity_error(request: Request, exc: Exception) -> Response:
    # Services translate the constraints they know; this is the safety net for a race
    # they did not foresee. The constraint name is safe to log, never to return.
    logger.warning("unhandled integrity error: %s", type(exc).__name__)
    return _render(request, Conflict("The change conflicts with existing data."))


async def _on_stale_data(request: Request, exc: Exception) -> Response:
    return _render(
        request, Conflict("The row was changed by someone else; reload it and try again.")
    )


def _is_unstorable_value(exc: Exception) -> bool:
    """Whether the database refused a value the client sent (SQLSTATE class 22).

    E.g. a number beyond the column's range, or a NUL character PostgreSQL text cannot hold.
    """
    if isinstance(exc, DataError):
        return True
    orig = getattr(exc, "orig", None)
    driver_error = getattr(orig, "__cause__", None) or orig
    sqlstate = getattr(driver_error, "sqlstate", None)
    if isinstance(sqlstate, str) and sqlstate.startswith("22"):
        return True
    # asyncpg refuses e.g. an int beyond int4 before sending (a ValueError subclass).
    return isinstance(driver_error, ValueError | OverflowError)


async def _on_database_unavailable(request: Request, exc: Exception) -> Response:
    if isinstance(exc, DBAPIError) and _is_unstorable_value(exc):
        return _render(
            request,
            ValidationFailed(
                "A value is out of range or contains characters that cannot be stored."
            ),
        )
    if isinstance(exc, DBAPIError) and not exc.connection_invalidated and not _is_unavailable(exc):
        logger.exception("database error", exc_info=exc)
        return _render(request, AppError("An unexpected error occurred."))
    logger.error("database unavailable: %s", type(exc.__cause__ or exc).__name__)
    return _render(
        request,
        ServiceUnavailable("The database is unavailable; try again shortly."),
    )


# Driver errors naming these are the database's state, not the request's fault: 503.
# "database is locked" is SQLite's write lock still taken when the busy timeout ran out.
UNAVAILABLE_MARKERS = (
    "connect",
    "connection",
    "timeout",
    "closed",
    "terminat",
    "refused",
    "shutdown",
    "database is locked",
)


def _is_unavailable(exc: DBAPIError) -> bool:
    """The database could not be reached, or (SQLite) its write lock stayed busy too long."""
    text = f"{type(exc.orig).__name__} {exc.orig}".lower()
    return any(marker in text for marker in UNAVAILABLE_MARKERS)


def install_error_handlers(app: FastAPI) -> None:
    """Route every error type to its problem response."""
    app.add_exception_handler(AppError, _on_app_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_exception)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(IntegrityError, _on_integrity_error)
    app.add_exception_handler(StaleDataError, _on_stale_data)
    app.add_exception_handler(PoolTimeoutError, _on_database_unavailable)
    app.add_exception_handler(DBAPIError, _on_database_unavailable)
    # Network-level failures reaching the database (refused, reset, timed out).
    app.add_exception_handler(ConnectionError, _on_database_unavailable)
    app.add_exception_handler(TimeoutError, _on_database_unavailable)
