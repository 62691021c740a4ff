"""url_for through remembered routes builds the same URLs, and still refuses unknown names."""

from __future__ import annotations

import pytest
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, NoMatchFound, Route, Router

from app.url_names import remember_url_routes


def endpoint() -> PlainTextResponse:
    return PlainTextResponse("")


def build_router() -> Router:
    admin = Router(
        routes=[
            Route("/{identity}/list", endpoint, name="list"),
            Route("/{identity}/details/{pk}", endpoint, name="details"),
        ]
    )
    return Router(
        routes=[
            *(Route(f"/api/thing{i}", endpoint, name=f"thing{i}") for i in range(50)),
            Mount("/admin", app=admin, name="admin"),
        ]
    )


def test_remembered_routes_build_the_same_urls_as_the_full_walk() -> None:
    plain, remembering = build_router(), build_router()
    remember_url_routes(remembering)

    for _ in range(3):  # the first call walks and remembers, the next ones go straight
        for name, params in [
            ("admin:details", {"identity": "product", "pk": 7}),
            ("admin:details", {"identity": "order", "pk": 12}),
            ("admin:list", {"identity": "product"}),
            ("thing3", {}),
        ]:
            assert remembering.url_path_for(name, **params) == plain.url_path_for(name, **params)


def test_unknown_names_and_wrong_parameters_are_still_refused() -> None:
    router = build_router()
    remember_url_routes(router)
    router.url_path_for("admin:details", identity="product", pk=1)

    with pytest.raises(NoMatchFound):
        router.url_path_for("admin:nothing")
    with pytest.raises(NoMatchFound):
        router.url_path_for("admin:details", identity="product")  # pk missing
