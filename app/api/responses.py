"""OpenAPI documentation of the problem+json error responses an operation can give."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

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
            "model": Problem,
            "content": {"application/problem+json": {}},
        }
    return documented
