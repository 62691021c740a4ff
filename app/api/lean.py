"""Lean routes: the busiest reads, served without FastAPI's dependency solver.

A list page's own work (two statements, a few hundred bytes of JSON) is small next to
what resolving its dependencies, opening an ORM session and executing through it cost
per request. A `@lean` endpoint declares the usual dependencies — the request, a
`ReaderDep`, the principal of one `require(...)` check — so its documentation (security
included) is any route's. Its route handler (`lean_handler`, installed through FastAPI's
documented `APIRoute.get_route_handler` by ProblemRoute) resolves those three itself:
one `Database.reader()` for the request (the asyncpg connection on PostgreSQL), the same
`authenticate` and `ensure_permission` that `get_principal` and `require` call.

The plan is read once from the endpoint's own signature (`inspect`, `typing`), not from
FastAPI's internal dependency model; a lean route with `dependencies=` of its own is
refused at start-up (this handler would not run them). Tests take this same path.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar, get_origin, get_type_hints

from fastapi import Request, Response
from fastapi.params import Depends

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


def _dependency(annotation: Any) -> Callable[..., Any] | None:
    """The callable of `Annotated[T, Depends(callable)]`, None for anything else."""
    if get_origin(annotation) is None or not hasattr(annotation, "__metadata__"):
        return None
    marks = [m for m in annotation.__metadata__ if isinstance(m, Depends)]
    return marks[0].dependency if len(marks) == 1 else None


def _plan(endpoint: Callable[..., Any]) -> _Plan:
    """Read, at start-up, which parameter is the request, the reader and the principal from
    the endpoint's own signature; anything else there is refused (this handler would not
    resolve it)."""
    name = getattr(endpoint, "__name__", repr(endpoint))
    hints = get_type_hints(endpoint, include_extras=True)
    found: dict[str, str] = {}
    permission = ""
    for parameter in inspect.signature(endpoint).parameters:
        hint = hints.get(parameter)
        dependency = _dependency(hint)
        if hint is Request:
            role = "request"
        elif dependency is get_reader:
            role = "reader"
        elif dependency is not None and hasattr(dependency, "permission"):
            role, permission = "principal", dependency.permission
        else:
            role = "unknown"
        if role == "unknown" or role in found:
            raise TypeError(
                f"lean endpoint {name} must take exactly a Request, a ReaderDep and one"
                " require(...) principal, and no other parameter"
            )
        found[role] = parameter
    if len(found) != 3:
        raise TypeError(f"lean endpoint {name} lacks a Request, a ReaderDep or a require(...)")
    return _Plan(found["request"], found["reader"], found["principal"], permission)


def lean_handler(endpoint: Callable[..., Any]) -> Handler:
    """The route handler of a `@lean` endpoint: the same code in tests and production.

    The one dependency a test may override is `get_principal` (to measure a page without
    authentication's statement); it is honoured here as FastAPI would.
    """
    plan = _plan(endpoint)

    async def handle(request: Request) -> Response:
        override = request.app.dependency_overrides.get(get_principal)
        async with get_database(request).reader() as reader:
            caller = override() if override else await authenticate(request, reader)
            principal = ensure_permission(caller, plan.permission)
            response: Response = await endpoint(
                **{plan.request: request, plan.reader: reader, plan.principal: principal}
            )
        return response

    return handle
