"""The OpenAPI document as a client generator reads it: named operations and the headers.

FastAPI writes each operation from its route; what it cannot see is what middleware and
the conditional helpers read and write. So the document is finished here, in FastAPI's
documented way (`app.openapi` replaced by a function that builds once with `get_openapi`
and then edits the result), from the same facts the code acts on:

- an operation's id is its route's name (`list_products`, `place_order`);
- every authenticated API POST reads `Idempotency-Key` (app/api/idempotency.py: anonymous
  callers, such as the password grant, pass straight through);
- an operation that can answer 412 reads `If-Match`, one that can answer 304 reads
  `If-None-Match` (app/api/conditional.py), and their row answers carry `ETag`;
- a 201 carries `Location`; every answer carries `X-Request-ID`; an authenticated
  operation's answers carry `RateLimit-*`; 429 and 503 carry `Retry-After`.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from app.api.idempotency import KEY_PATTERN

API_PREFIX = "/api/"


def operation_id(route: APIRoute) -> str:
    """The route's name: every route is named as a person would name the call."""
    return route.name


def parameter(name: str, where: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    """An optional OpenAPI parameter `in` the query or a header."""
    return {
        "name": name,
        "in": where,
        "required": False,
        "description": description,
        "schema": schema,
    }


IDEMPOTENCY_KEY = parameter(
    "Idempotency-Key",
    "header",
    "Any unique string (1-255 visible ASCII characters): a retry with the same key and body"
    " gets the first answer again instead of acting twice (kept 24 hours).",
    {"type": "string", "minLength": 1, "maxLength": 255, "pattern": KEY_PATTERN.pattern},
)
IF_MATCH = parameter(
    "If-Match",
    "header",
    'The ETag you read (e.g. `"3"`): the change is made only if the row is still at that'
    " version, else 412. Leave it out to act on the row as it is.",
    {"type": "string"},
)
IF_NONE_MATCH = parameter(
    "If-None-Match",
    "header",
    "An ETag you hold: 304 with no body while the row is still at that version.",
    {"type": "string"},
)

RESPONSE_HEADERS: dict[str, dict[str, Any]] = {
    "X-Request-ID": {
        "description": "The request's id (yours when you sent a valid one): quote it when"
        " reporting a problem.",
        "schema": {"type": "string"},
    },
    "ETag": {
        "description": "The row's version as an entity tag: send it back as If-Match.",
        "schema": {"type": "string"},
    },
    "Location": {"description": "The new resource's path.", "schema": {"type": "string"}},
    "RateLimit-Limit": {
        "description": "Requests allowed in the current window.",
        "schema": {"type": "integer"},
    },
    "RateLimit-Remaining": {
        "description": "Requests left in the current window.",
        "schema": {"type": "integer"},
    },
    "RateLimit-Reset": {
        "description": "Seconds until the window resets.",
        "schema": {"type": "integer"},
    },
    "Retry-After": {
        "description": "Seconds to wait before trying again.",
        "schema": {"type": "integer"},
    },
}
RATE_LIMIT_HEADERS = ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset")


def _response_headers(status: str, authenticated: bool, versioned: bool) -> list[str]:
    names = ["X-Request-ID"]
    if authenticated:
        names += RATE_LIMIT_HEADERS
    if status in {"429", "503"}:
        names.append("Retry-After")
    if versioned and status in {"200", "201", "304"}:
        names.append("ETag")
    if status == "201":
        names.append("Location")
    return names


def finish_operation(path: str, method: str, operation: dict[str, Any]) -> None:
    """Add the headers this operation reads and each of its answers writes."""
    responses: dict[str, Any] = operation.get("responses", {})
    versioned = "412" in responses or "304" in responses
    parameters: list[dict[str, Any]] = operation.setdefault("parameters", [])
    present = {(p.get("in"), p.get("name")) for p in parameters}
    authenticated = bool(operation.get("security"))
    wanted = []
    if method == "post" and authenticated and path.startswith(API_PREFIX):
        wanted.append(IDEMPOTENCY_KEY)
    if "412" in responses:
        wanted.append(IF_MATCH)
    if "304" in responses:
        wanted.append(IF_NONE_MATCH)
    parameters += [p for p in wanted if ("header", p["name"]) not in present]
    if not parameters:
        del operation["parameters"]
    for status, response in responses.items():
        headers = response.setdefault("headers", {})
        for name in _response_headers(status, authenticated, versioned):
            headers.setdefault(name, RESPONSE_HEADERS[name])


def finish_document(document: dict[str, Any]) -> dict[str, Any]:
    """Every operation of `document` finished (see the module's docstring)."""
    for path, item in document.get("paths", {}).items():
        for method, operation in item.items():
            if isinstance(operation, dict) and "responses" in operation:
                finish_operation(path, method, operation)
    return document


def install_openapi(app: FastAPI) -> None:
    """Serve the finished document, built once (FastAPI's documented override)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = finish_document(
                get_openapi(
                    title=app.title,
                    version=app.version,
                    openapi_version=app.openapi_version,
                    summary=app.summary,
                    description=app.description,
                    routes=app.routes,
                    tags=app.openapi_tags,
                )
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
