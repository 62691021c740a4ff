"""Lean routes: the busiest reads, served without FastAPI's dependency solver.

A list page's own work (one statement, a few hundred bytes of JSON) is small next to
what resolving its dependencies, opening an ORM session and executing through it cost
per request. A `@lean` endpoint declares the usual dependencies — the request, a
`ReaderDep`, the principal of one `require(...)` check (named `_`: the endpoint never
sees its caller), and at most one integer path parameter (a `RowId`) — so its
documentation (security and path included) is any route's. Its route handler
(`lean_handler`, installed through FastAPI's documented `APIRoute.get_route_handler` by
ProblemRoute) resolves them itself: one `Database.reader()` for the request (the asyncpg
connection on PostgreSQL); the same credential lookup, `admit` (rate limit) and
`ensure_permission` that `get_principal` and `require` use, the lookup sent with the
endpoint's first read (app/infra/riding.py); the path parameter validated by pydantic
against its own annotation (a `TypeAdapter`), its errors raised as FastAPI's
`RequestValidationError` at `("path", name)`: the same 422, after the same 401 and 403,
as FastAPI's solver gives (it runs dependencies first too).

The plan is read once from the endpoint's own signature (`inspect`, `typing`), not from
FastAPI's internal dependency model; a lean route with `dependencies=` of its own is
refused at start-up (this handler would not run them). Tests take this same path.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, get_origin, get_type_hints

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.params import Depends, Path
from pydantic import TypeAdapter, ValidationError

from app.api.deps import (
    admit,
    bearer_lookup,
    ensure_permission,
    get_database,
    get_principal,
    get_reader,
)
from app.auth.principal import Principal, principal_in
from app.errors import RateLimited
from app.infra.db_reads import Reader, Row
from app.infra.riding import Rider, RidingReader

EndpointT = TypeVar("EndpointT", bound=Callable[..., Any])
Handler = Callable[[Request], Awaitable[Response]]


def lean(endpoint: EndpointT) -> EndpointT:
    """Mark an endpoint taking (request, ReaderDep, require(...)[, one RowId]) and returning
    a Response."""
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
    path: str | None = None  # the path parameter's name, validated by `path_adapter`
    path_adapter: TypeAdapter[Any] | None = None


def _dependency(annotation: Any) -> Callable[..., Any] | None:
    """The callable of `Annotated[T, Depends(callable)]`, None for anything else."""
    if get_origin(annotation) is None or not hasattr(annotation, "__metadata__"):
        return None
    marks = [m for m in annotation.__metadata__ if isinstance(m, Depends)]
    return marks[0].dependency if len(marks) == 1 else None


def _is_int_path(annotation: Any) -> bool:
    """Whether `annotation` is `Annotated[int, Path(...)]`, as `RowId`."""
    metadata = getattr(annotation, "__metadata__", ())
    return (
        get_origin(annotation) is not None
        and getattr(annotation, "__origin__", None) is int
        and sum(isinstance(m, Path) for m in metadata) == 1
    )


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
        elif dependency is not None and hasattr(dependency, "permission") and parameter == "_":
            role, permission = "principal", dependency.permission
        elif dependency is None and _is_int_path(hint):
            role = "path"
        else:
            role = "unknown"
        if role == "unknown" or role in found:
            raise TypeError(
                f"lean endpoint {name} must take exactly a Request, a ReaderDep, one"
                " require(...) principal named `_` (it never sees its caller) and at most"
                " one integer path parameter"
            )
        found[role] = parameter
    if {"request", "reader", "principal"} - found.keys():
        raise TypeError(f"lean endpoint {name} lacks a Request, a ReaderDep or a require(...)")
    path = found.get("path")
    # Built once: the annotation's own constraints (RowId's 1..2^31-1), as FastAPI reads them.
    adapter = TypeAdapter(hints[path]) if path else None
    return _Plan(found["request"], found["reader"], found["principal"], permission, path, adapter)


def _path_value(request: Request, plan: _Plan) -> dict[str, Any]:
    """The endpoint's path parameter, validated; none when it takes none."""
    if plan.path is None or plan.path_adapter is None:
        return {}
    raw = request.path_params[plan.path]
    try:
        return {plan.path: plan.path_adapter.validate_python(raw)}
    except ValidationError as invalid:
        raise RequestValidationError(
            [
                {**error, "loc": ("path", plan.path, *error["loc"])}
                for error in invalid.errors(include_url=False)
            ]
        ) from None


def lean_handler(endpoint: Callable[..., Any]) -> Handler:
    """The route handler of a `@lean` endpoint: the same code in tests and production.

    The caller's credential lookup rides on the endpoint's first read (app/infra/riding.py):
    one statement for caller and page. Its checks (401, then 429, then 403) run as soon as
    its rows arrive, before the endpoint sees the page; and should the endpoint fail or
    answer before reading (a 400 cursor, a 422 path id), they run first and their refusal
    is the answer, so the order of refusals is FastAPI's. The one dependency a test may
    override is `get_principal` (to measure a page without authentication's statement);
    it is honoured here as FastAPI would.
    """
    plan = _plan(endpoint)

    async def handle(request: Request) -> Response:
        override = request.app.dependency_overrides.get(get_principal)
        async with get_database(request).reader() as reader:
            known = override() if override else principal_in(request.scope)
            if known is not None:
                ensure_permission(known, plan.permission)
                return await _answer(endpoint, plan, request, reader)
            lookup = bearer_lookup(request)
            credential = repr(sorted(lookup.query.params.items()))
            if _THROTTLED.holds(credential):
                # Throttled a moment ago: the lookup alone, so a caller hammering past
                # the rate limit costs the database no page either.
                caller = await _admitted(request, credential, await lookup.resolve(reader))
                ensure_permission(caller, plan.permission)
                return await _answer(endpoint, plan, request, reader)

            async def check(rows: Sequence[Row]) -> None:
                caller = await _admitted(request, credential, await lookup.caller(reader, rows))
                ensure_permission(caller, plan.permission)

            riding = RidingReader(reader, Rider(lookup.query.statement, lookup.query.params, check))
            try:
                response = await _answer(endpoint, plan, request, riding)
            except Exception:
                await riding.settle()  # its refusal, if any, comes first
                raise
            await riding.settle()
        return response

    return handle


class _Throttled:
    """Credentials the rate limit refused in the last few seconds (this process only)."""

    def __init__(self, seconds: float, most: int) -> None:
        self.seconds, self.most = seconds, most
        self.until: dict[str, float] = {}

    def holds(self, credential: str) -> bool:
        deadline = self.until.get(credential)
        if deadline is None:
            return False
        if deadline > time.monotonic():
            return True
        del self.until[credential]
        return False

    def remember(self, credential: str) -> None:
        if len(self.until) >= self.most:
            self.until.clear()  # a flood of distinct refused credentials: start over
        self.until[credential] = time.monotonic() + self.seconds


_THROTTLED = _Throttled(seconds=5.0, most=10_000)


async def _admitted(request: Request, credential: str, caller: Principal | None) -> Principal:
    """`admit`, remembering a credential the rate limit refused (keyed by what its lookup
    is keyed by: a token's digest, an access token's user id; never the credential)."""
    try:
        return await admit(request, caller)
    except RateLimited:
        _THROTTLED.remember(credential)
        raise


async def _answer(
    endpoint: Callable[..., Any], plan: _Plan, request: Request, reader: Reader
) -> Response:
    """The endpoint's response. It never sees its caller (`_plan` holds it to `_`)."""
    response: Response = await endpoint(
        **{plan.request: request, plan.reader: reader, plan.principal: None},
        **_path_value(request, plan),
    )
    return response
