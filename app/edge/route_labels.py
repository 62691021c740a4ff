"""Bounded label values for /metrics: a request's route template and method, never its path.

The API's routes say which template they are as they run (`scope["route"]`), so the busy
path costs one dictionary look-up. What does not run a FastAPI route is matched here, with
Starlette's public `matches` on route templates only: the OpenAPI document, static files (one
label for the mount), the admin's pages (sqladmin's templates), idempotent replays (answered
before routing: the API route they replay) and 404s (one fixed label). A client's path or
method never becomes a label value, so random paths cannot grow the number of series.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from starlette.routing import BaseRoute, Match, Mount, Route
from starlette.types import Scope

logger = logging.getLogger(__name__)
API_PREFIX = "/api/v1"
NOT_FOUND = "unmatched"
# Anything else a client may send is counted as one value.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER_METHOD = "other"


def method_label(method: str) -> str:
    return method if method in METHODS else OTHER_METHOD


async def _never_called(_: Any) -> None:  # the API templates are matched, never served
    raise NotImplementedError


class RouteLabels:
    """The label of each request's route, for one application."""

    def __init__(self) -> None:
        self.by_route: dict[int, str] = {}
        self.api_routes: list[Route] | None = None

    def of_route(self, route: Any, path: str, root_path: str) -> str:
        """The template of the FastAPI route that ran for `path` (cached per route object)."""
        label = self.by_route.get(id(route))
        if label is None:
            template = route.path
            # Routes of an included router carry their path relative to its prefix.
            if path.startswith(API_PREFIX) and not template.startswith(API_PREFIX):
                template = API_PREFIX + template
            label = self.by_route[id(route)] = root_path + template
        return label

    def of_unrouted(self, app: Any, method: str, path: str, root_path: str) -> str:
        """The template matching a request no FastAPI route ran for, or NOT_FOUND."""
        scope: Scope = {
            "type": "http",
            "method": method,
            "path": path,
            "root_path": root_path,
            "headers": [],
            "path_params": {},
        }
        label = _match(app.router.routes, scope, root_path)
        if label is None:
            label = _match(self._api_routes(app), scope, root_path)
        return label or NOT_FOUND

    def _api_routes(self, app: Any) -> list[Route]:
        """The API's templates from its OpenAPI document (most specific first), built once."""
        if self.api_routes is None:
            try:
                paths = app.openapi().get("paths", {})
            except Exception:  # a broken document must not break counting requests
                logger.exception("metrics: cannot read the OpenAPI paths for route labels")
                paths = {}
            routes = [
                Route(template, _never_called, methods=[m.upper() for m in operations])
                for template, operations in paths.items()
            ]
            # "/products/export.csv" before "/products/{product_id}".
            self.api_routes = sorted(routes, key=lambda route: route.path.count("{"))
        return self.api_routes


def _match(routes: Sequence[BaseRoute], scope: Scope, prefix: str) -> str | None:
    """The first matching template (a wrong method still names the route: 405)."""
    partial = None
    for route in routes:
        if not isinstance(route, Route | Mount):
            continue  # FastAPI's included routers: their routes say so themselves
        match, child = route.matches(scope)
        if match is Match.NONE:
            continue
        if isinstance(route, Mount):
            inner = route.routes
            if not inner:
                return prefix + route.path  # static files: one label for the mount
            label = _match(inner, {**scope, **child}, prefix + route.path)
            if label is not None:
                return label
            continue
        if match is Match.FULL:
            return prefix + route.path
        partial = partial or prefix + route.path
    return partial
