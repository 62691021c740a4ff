"""Every URL the admin builds is a path: the caller's `Host` header never reaches a link.

Starlette builds `request.url_for(...)` from the request's `Host` header, so sqladmin's
redirects, menu links and asset URLs pointed wherever a request said it was sent
(`Host: evil.example` → `Location: http://evil.example/admin/`): a poisoned cache or a
password-reset-style link away from an attack. Below this middleware the request has no
host at all, and Starlette's URLs are relative (`/admin/...`): correct behind any proxy,
under any name the site answers to, and never someone else's.
"""

from __future__ import annotations

from typing import Any

from starlette.datastructures import URLPath
from starlette.types import ASGIApp, Receive, Scope, Send


class PathsOnly:
    """The app's router for `request.url_for`, answering paths without a scheme.

    A route's URLPath says "http", which makes Starlette prefix a scheme even when the
    request has no host (`http:///admin/`, which a browser reads as host "admin").
    """

    def __init__(self, router: Any) -> None:
        self.router = router

    def url_path_for(self, name: str, /, **path_params: Any) -> URLPath:
        return URLPath(str(self.router.url_path_for(name, **path_params)))


class HostlessUrlsMiddleware:
    """Drops `Host` (and the server address) from the scope the admin's pages see, and
    builds their URLs as paths.

    Runs after the checks that compare the request's origin with its host (CSRF).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = [(key, value) for key, value in scope.get("headers", ()) if key != b"host"]
            scope = {**scope, "headers": headers, "server": None}
            router = scope.get("router") or scope.get("app")
            if router is not None and not isinstance(router, PathsOnly):
                scope["router"] = PathsOnly(router)
        await self.app(scope, receive, send)
