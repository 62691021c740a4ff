"""Errors as RFC 9457 problem+json: the AppError family, HTTP and validation errors, the
database's failures (503 with Retry-After for an outage), installed on the application."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm.exc import StaleDataError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.routing import Match, Mount
from starlette.staticfiles import StaticFiles

from app.edge.retry import mark_transient
from app.errors import (
    AppError,
    BadRequest,
    Conflict,
    ServiceUnavailable,
    ValidationFailed,
)
from app.infra.db_errors import FailureKind, failure_kind, is_value_refused
from app.infra.jsonutil import dumps
from app.infra.retry_policy import RETRY_AFTER_SECONDS

PROBLEM_CONTENT_TYPE = "application/problem+json"
logger = logging.getLogger(__name__)


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


# The methods a 405's `Allow` may name (TRACE and CONNECT are answered by nothing here).
HTTP_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


def allowed_methods(request: Request) -> str | None:
    """Every method the request's path answers to, for a 405's `Allow` (RFC 9110 §15.5.6).

    Starlette's 405 names the methods of the first route whose path matched, but a
    resource's methods are spread over several routes (GET and POST on `/products`). So
    each method is tried against the app's routes with the public `BaseRoute.matches`,
    which also looks inside included routers; a static-files mount answers GET and HEAD."""
    methods = set()
    for method in HTTP_METHODS:
        scope = {**request.scope, "method": method}
        for route in request.app.routes:
            match, _ = route.matches(scope)
            if match is Match.FULL and not isinstance(route, Mount):
                methods.add(method)
                break
            if match is not Match.NONE and isinstance(route, Mount):
                if isinstance(route.app, StaticFiles) and method in ("GET", "HEAD"):
                    methods.add(method)  # StaticFiles' own 405 names none
                break
    return ", ".join(sorted(methods)) if methods else None


async def _on_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else None
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        allow = allowed_methods(request)
        if allow:
            headers["Allow"] = allow
    return problem_response(
        exc.status_code,
        headers=headers,
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


def unavailable_error(kind: FailureKind | None = None) -> ServiceUnavailable:
    """The 503 refusal for a database that cannot serve now (an outage, or clashes that
    outlasted the retries), with the Retry-After every client is told to honour."""
    detail = (
        "The request clashed with concurrent changes more often than it is retried; "
        "try again shortly."
        if kind is FailureKind.CONFLICT
        else "The database is unavailable; try again shortly."
    )
    return ServiceUnavailable(detail, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


async def _on_database_error(request: Request, exc: Exception) -> Response:
    if is_value_refused(exc):
        return _render(
            request,
            ValidationFailed(
                "A value is out of range or contains characters that cannot be stored."
            ),
        )
    kind = failure_kind(exc)
    if kind is None:
        logger.exception("database error", exc_info=exc)
        return _render(request, AppError("An unexpected error occurred."))
    # The retry middleware re-runs the request if the policy allows; this answer stands
    # only if it does not.
    mark_transient(request.scope, kind)
    logger.warning("database %s: %s", kind.value, type(exc.__cause__ or exc).__name__)
    return _render(request, unavailable_error(kind))


def install_error_handlers(app: FastAPI) -> None:
    """Route every error type to its problem response."""
    app.add_exception_handler(AppError, _on_app_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_exception)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(IntegrityError, _on_integrity_error)
    app.add_exception_handler(StaleDataError, _on_stale_data)
    app.add_exception_handler(PoolTimeoutError, _on_database_error)
    app.add_exception_handler(DBAPIError, _on_database_error)
    # Network-level failures reaching the database (refused, reset, timed out).
    app.add_exception_handler(ConnectionError, _on_database_error)
    app.add_exception_handler(TimeoutError, _on_database_error)
