"""OpenAPI documentation of the problem+json error responses an operation can give."""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterable
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field

from app.api.lean import is_lean, lean_handler

Responses = dict[int | str, dict[str, Any]]

_DESCRIPTIONS = {
    304: "Not modified (If-None-Match matched the current ETag)",
    400: "Malformed request (e.g. invalid JSON, bad cursor)",
    401: "Missing, invalid or expired credentials",
    403: "Authenticated, but missing the permission",
    404: "No such resource (or not visible to the caller)",
    409: "Conflict: a unique field is taken, an invalid state transition, insufficient stock",
    412: "If-Match names a stale version",
    413: "Body too large",
    415: "Unsupported content type",
    422: "Invalid fields (see `errors`)",
    429: "Rate limited (see Retry-After)",
    503: "Database unavailable",
}


class ValidationIssue(BaseModel):
    loc: list[str | int]
    message: str
    type: str | None = None


class Problem(BaseModel):
    """An RFC 9457 problem document."""

    type: str = Field(examples=["/problems/not-found"])
    title: str = Field(examples=["Not Found"])
    status: int = Field(examples=[404])
    detail: str = Field(examples=["No such customer."])
    instance: str | None = Field(default=None, examples=["/api/v1/customers/42"])
    request_id: str | None = Field(default=None, examples=["5f0c6f1e9d2b4c0e8a7d3b2a1c0f9e8d"])
    errors: list[ValidationIssue] | None = None


PROBLEM_SCHEMA_REF = {"$ref": "#/components/schemas/Problem"}
# Answered by middleware or request validation before a handler runs (app.edge.body_guard,
# app.api.idempotency, FastAPI's parsing), so every route of the kind can give them.
BODY_METHOD_PROBLEMS = (400, 413, 415, 422)  # malformed JSON, too large, wrong type, fields
POST_PROBLEMS = (400, 409, 422)  # Idempotency-Key: malformed, still in progress, other body
PATH_PARAMETER_PROBLEMS = (422,)  # e.g. a row id that is not a whole number


def problems(*statuses: int, **descriptions: str) -> Responses:
    """`responses=` for a route: each status documented as a problem+json body.

    Authenticated routes always add 401, 429 and 503; pass only the route's own.
    """
    documented: Responses = {}
    for status in sorted({*statuses, 401, 429, 503}):
        if status == 304:
            documented[status] = {"description": _DESCRIPTIONS[304]}
            continue
        documented[status] = {
            "description": descriptions.get(f"s{status}", _DESCRIPTIONS.get(status, "Error")),
            # `model` registers the Problem schema (FastAPI also lists it under the route's
            # own media type); the body really is problem+json, so that entry names it too.
            "model": Problem,
            "content": {"application/problem+json": {"schema": PROBLEM_SCHEMA_REF}},
        }
    return documented


def implied_statuses(path: str, methods: Iterable[str]) -> set[int]:
    """The problem statuses a route answers whatever its handler does (see the constants)."""
    statuses: set[int] = set()
    upper = {method.upper() for method in methods}
    if upper & {"POST", "PUT", "PATCH"}:
        statuses.update(BODY_METHOD_PROBLEMS)
    if "POST" in upper:
        statuses.update(POST_PROBLEMS)
    if "{" in path:
        statuses.update(PATH_PARAMETER_PROBLEMS)
    return statuses


class ProblemRoute(APIRoute):
    """An APIRoute whose OpenAPI also lists the problems of `implied_statuses`, and
    whose `@lean` endpoints get the lean handler.

    The route's own `responses=` win over the implied ones; the implied 422 also replaces
    FastAPI's default one, which would name a body the API never sends. Routers opt in
    with `APIRouter(route_class=ProblemRoute)`.
    """

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        implied = implied_statuses(path, kwargs.get("methods") or ["GET"])
        if implied:
            kwargs["responses"] = {**problems(*implied), **(kwargs.get("responses") or {})}
        super().__init__(path, endpoint, **kwargs)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """FastAPI's handler, or for a `@lean` endpoint the lean one (app/api/lean.py)."""
        handler = super().get_route_handler()
        if not is_lean(self.endpoint):
            return handler
        if self.dependencies:
            # A router's or route's own `dependencies=`: the lean handler would not run them.
            raise TypeError(f"lean route {self.path} cannot have dependencies= of its own")
        return lean_handler(self.endpoint)  # type: ignore[return-value]
