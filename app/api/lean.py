"""Lean routes: the busiest reads, served without FastAPI's dependency solver.

A list page's own work (two statements, a few hundred bytes of JSON) is small next to
what resolving its dependencies, opening an ORM session and executing through it cost
per request. A `@lean` endpoint declares the usual dependencies — the request, a
`ReaderDep`, the principal of one `require(...)` check — so its documentation, its tests
with dependency overrides and FastAPI's own handler all work as for any route. Its route
handler (`lean_handler`, installed by ProblemRoute) resolves those three itself: one
`Database.reader()` for the request (the asyncpg connection on PostgreSQL), the same
`authenticate` and `ensure_permission` that `get_principal` and `require` call.

The plan is read from the route's own dependencies: a router that holds lean routes must
not add `dependencies=` of its own (this handler would not run them).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi import Request, Response
from fastapi.dependencies.models import Dependant

from app.api.deps import authenticate, ensure_permission, get_database, get_principal, get_reader

EndpointT = TypeVar("EndpointT", bound=Callable[..., Any])
Handler = Callable[[Request], Awaitable[Response]]


def lean(endpoint: EndpointT) -> EndpointT:
    """Mark an endpoint taking (request, ReaderDep, require(...)) and returning a Response."""
    endpoint.lean = True  # type: ignore[attr-defined]
    return endpoint


def is_lean(endpoint: Callable[..., Any]) -> bool:
    return getattr(endpoint, "lean", False) is True


@dataclass(frozen=True)
class _Plan:
    """Which parameter of the endpoint gets what, and the permission it requires."""

    request: str
    reader: str
    principal: str
    permission: str


def _plan(endpoint: Callable[..., Any], dependant: Dependant) -> _Plan:
    """Check at start-up that the endpoint has exactly the dependencies this handler knows."""
    name = getattr(endpoint, "__name__", repr(endpoint))
    parameters = [
        dependant.path_params,
        dependant.query_params,
        dependant.header_params,
        dependant.cookie_params,
        dependant.body_params,
    ]
    reader = [d.name for d in dependant.dependencies if d.call is get_reader]
    checks = [d for d in dependant.dependencies if hasattr(d.call, "permission")]
    principal_ok = bool(checks) and [d.call for d in checks[0].dependencies] == [get_principal]
    if (
        any(parameters)
        or dependant.request_param_name is None
        or len(dependant.dependencies) != 2
        or len(reader) != 1
        or len(checks) != 1
        or not principal_ok
    ):
        raise TypeError(
            f"lean endpoint {name} must take exactly a Request, a ReaderDep and one"
            " require(...) principal, and no other parameter"
        )
    return _Plan(
        request=dependant.request_param_name,
        reader=str(reader[0]),
        principal=str(checks[0].name),
        permission=checks[0].call.permission,  # type: ignore[union-attr]
    )


def lean_handler(endpoint: Callable[..., Any], dependant: Dependant, fallback: Handler) -> Handler:
    """The route handler of a `@lean` endpoint; `fallback` is FastAPI's own."""
    plan = _plan(endpoint, dependant)

    async def handle(request: Request) -> Response:
        if request.app.dependency_overrides:
            # Overrides (tests) are honoured by FastAPI's solver, not by this shortcut.
            return await fallback(request)
        async with get_database(request).reader() as reader:
            principal = ensure_permission(await authenticate(request, reader), plan.permission)
            response: Response = await endpoint(
                **{plan.request: request, plan.reader: reader, plan.principal: principal}
            )
        return response

    return handle
