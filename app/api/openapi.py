"""The OpenAPI document's bearer security, declared without per-request dependencies."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts

# Both schemes read the same `Authorization: Bearer …` header (the /docs Authorize
# button offers either); session cookies are never looked at on /api.
SECURITY_SCHEMES: dict[str, Any] = {
    "OAuth2PasswordBearer": {
        "type": "oauth2",
        "flows": {"password": {"scopes": {}, "tokenUrl": "/api/v1/auth/token"}},
    },
    "HTTPBearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "A personal API token (bo_…)",
    },
}
SECURITY_REQUIREMENT: list[dict[str, list[str]]] = [{name: []} for name in SECURITY_SCHEMES]


def install_bearer_security(app: FastAPI, authenticator: Callable[..., Any]) -> None:
    """Document every operation that depends on `authenticator` as bearer-secured.

    FastAPI would document them if the security schemes were dependencies, but a
    dependency runs on every request for what is only documentation.
    """

    generate = app.openapi  # FastAPI's own generator, with every setting of the app

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            schema.setdefault("components", {})["securitySchemes"] = SECURITY_SCHEMES
            # Routes of included routers come with their prefixes through their contexts.
            for context in iter_route_contexts(app.routes):
                route = context.original_route
                if isinstance(route, APIRoute) and _uses(route, authenticator):
                    path = schema["paths"][context.path_format]
                    for method in route.methods or ():
                        path[method.lower()]["security"] = SECURITY_REQUIREMENT
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _uses(route: APIRoute, dependency: Callable[..., Any]) -> bool:
    def walk(dependant: Dependant) -> bool:
        return dependant.call is dependency or any(walk(d) for d in dependant.dependencies)

    return walk(route.dependant)
