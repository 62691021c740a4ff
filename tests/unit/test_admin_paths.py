"""app.admin.paths: PathsOnly answers as the router does, remembers within bounds, per app."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.datastructures import URLPath
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, NoMatchFound, Route, Router
from starlette.types import Receive, Scope, Send

from app.admin.paths import HostlessUrlsMiddleware, PathsOnly


async def _page(_: Request) -> Response:
    return PlainTextResponse("")


def make_router() -> Router:
    """A top-level route, an API-like mount and the admin mount, mounted last."""
    admin = [
        Route("/", _page, name="index"),
        Route("/{identity}/list", _page, name="list"),
        Route("/{identity}/details/{pk}", _page, name="details"),
    ]
    return Router(
        routes=[
            Route("/healthz", _page, name="health"),
            Mount("/api", routes=[Route("/items/{key}", _page, name="item")], name="api"),
            Mount("/admin", routes=admin, name="admin"),
        ]
    )


def counting_walks(paths: PathsOnly) -> list[str]:
    """Record every name PathsOnly has to look up in the route table (not from memory)."""
    walked: list[str] = []
    walk = paths.walk

    def counted(name: str, path_params: dict[str, Any]) -> URLPath:
        walked.append(name)
        return walk(name, path_params)

    paths.walk = counted  # type: ignore[method-assign]
    return walked


CASES: list[tuple[str, dict[str, Any], str]] = [
    ("health", {}, "/healthz"),
    ("admin:index", {}, "/admin/"),
    ("admin:list", {"identity": "product"}, "/admin/product/list"),
    ("admin:details", {"identity": "order", "pk": 7}, "/admin/order/details/7"),
    ("admin:details", {"pk": "7", "identity": "order"}, "/admin/order/details/7"),
    ("api:item", {"key": "k-1"}, "/api/items/k-1"),
]


@pytest.mark.parametrize(("name", "params", "expected"), CASES)
def test_an_answer_is_the_routers_own(name: str, params: dict[str, Any], expected: str) -> None:
    router = make_router()
    paths = PathsOnly(router)

    answer = paths.url_path_for(name, **params)

    assert str(answer) == str(router.url_path_for(name, **params)) == expected
    # A path only: no scheme or host for Starlette to put in front of it.
    assert answer.protocol == "" and answer.host == ""


def test_a_second_call_is_answered_from_memory() -> None:
    paths = PathsOnly(make_router())
    walked = counting_walks(paths)

    first = paths.url_path_for("admin:list", identity="customer")
    second = paths.url_path_for("admin:list", identity="customer")
    other = paths.url_path_for("admin:list", identity="order")

    assert walked == ["admin:list", "admin:list"]  # once per distinct parameters
    assert second is first and str(first) == "/admin/customer/list"
    assert str(other) == "/admin/order/list"
    assert paths.known == {
        ("admin:list", (("identity", str, "customer"),)): first,
        ("admin:list", (("identity", str, "order"),)): other,
    }


def test_parameters_in_another_order_are_the_same_remembered_answer() -> None:
    paths = PathsOnly(make_router())
    walked = counting_walks(paths)

    first = paths.url_path_for("admin:details", identity="order", pk=3)
    second = paths.url_path_for("admin:details", pk=3, identity="order")

    assert second is first and walked == ["admin:details"]


def test_an_unhashable_parameter_is_answered_without_being_remembered() -> None:
    router = make_router()
    paths = PathsOnly(router)
    walked = counting_walks(paths)

    answers = [paths.url_path_for("admin:list", identity=["a"]) for _ in range(2)]

    expected = str(router.url_path_for("admin:list", identity=["a"]))
    assert [str(answer) for answer in answers] == [expected, expected]
    assert walked == ["admin:list", "admin:list"]
    assert paths.known == {}


def test_at_the_memory_limit_the_memory_starts_again_and_answers_stay_right() -> None:
    router = make_router()
    paths = PathsOnly(router)
    paths.MEMORY_LIMIT = 3
    identities = ["a", "b", "c", "d", "e"]

    answers = [str(paths.url_path_for("admin:list", identity=i)) for i in identities]

    assert answers == [str(router.url_path_for("admin:list", identity=i)) for i in identities]
    # a, b, c filled it; d cleared it and was remembered, then e.
    assert [key[1][0][2] for key in paths.known] == ["d", "e"]
    walked = counting_walks(paths)
    assert str(paths.url_path_for("admin:list", identity="a")) == "/admin/a/list"
    assert str(paths.url_path_for("admin:list", identity="e")) == "/admin/e/list"
    assert walked == ["admin:list"]  # "a" was forgotten, "e" was not


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("nowhere", {}),
        ("admin:nowhere", {}),  # a mount's name, but not one of its routes
        ("other:list", {"identity": "x"}),  # no such mount
        ("admin:list", {}),  # a known name without its parameter
    ],
)
def test_an_unknown_name_raises_and_is_not_remembered(name: str, params: dict[str, Any]) -> None:
    paths = PathsOnly(make_router())
    walked = counting_walks(paths)

    for _ in range(2):
        with pytest.raises(NoMatchFound):
            paths.url_path_for(name, **params)

    assert paths.known == {}
    assert walked == [name, name]  # asked of the route table both times


def test_a_mount_name_is_asked_of_the_mount_first() -> None:
    router = make_router()
    paths = PathsOnly(router)
    asked: list[str] = []
    router_url_path_for = router.url_path_for

    def spy(name: str, /, **params: Any) -> URLPath:
        asked.append(name)
        return router_url_path_for(name, **params)

    router.url_path_for = spy  # type: ignore[method-assign]

    assert str(paths.url_path_for("admin:list", identity="x")) == "/admin/x/list"
    assert str(paths.url_path_for("health")) == "/healthz"
    assert asked == ["health"]  # the admin name never walked the whole table


# --- the middleware ------------------------------------------------------------------------


def recording_app(seen: list[Any]) -> Callable[[Scope, Receive, Send], Any]:
    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope["router"])
        await PlainTextResponse("")(scope, receive, send)

    return inner


async def test_the_middleware_keeps_one_paths_only_per_router_across_requests() -> None:
    seen: list[Any] = []
    middleware = HostlessUrlsMiddleware(recording_app(seen))
    first, second = make_router(), make_router()

    async def call(router: Router) -> None:
        scope = {"type": "http", "headers": [(b"host", b"evil.example")], "router": router}

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b""}

        async def send(_: Any) -> None:
            return None

        await middleware(scope, receive, send)

    for router in (first, first, first, second, second):
        await call(router)

    assert all(isinstance(paths, PathsOnly) for paths in seen)
    assert seen[0] is seen[1] is seen[2] and seen[0].router is first
    assert seen[3] is seen[4] and seen[3].router is second and seen[3] is not seen[0]


async def test_a_starlette_app_behind_the_middleware_remembers_across_requests() -> None:
    routers: list[Any] = []

    async def endpoint(request: Request) -> Response:
        routers.append(request.scope["router"])
        return PlainTextResponse(str(request.url_for("admin:list", identity="product")))

    admin = Mount("/admin", routes=[Route("/{identity}/list", endpoint, name="list")], name="admin")
    app = Starlette(
        routes=[admin],
        middleware=[Middleware(HostlessUrlsMiddleware)],
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://evil.example") as client:
        bodies = [(await client.get("/admin/x/list")).text for _ in range(3)]

    assert bodies == ["/admin/product/list"] * 3  # a path: no host, no scheme
    assert len({id(router) for router in routers}) == 1
    [paths] = set(routers)
    assert isinstance(paths, PathsOnly) and paths.router is app
    assert list(paths.known) == [("admin:list", (("identity", str, "product"),))]


def test_equal_values_of_different_types_are_different_paths() -> None:
    """1, 1.0 and True compare equal, but a route prints them differently."""
    router = Router([Route("/items/{key}", endpoint=_page, name="item")])
    paths = PathsOnly(router)
    for value in (1, True, 1.0, "1"):
        assert str(paths.url_path_for("item", key=value)) == str(
            router.url_path_for("item", key=value)
        )
