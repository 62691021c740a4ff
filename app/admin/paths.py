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
from starlette.routing import Mount, NoMatchFound
from starlette.types import ASGIApp, Receive, Scope, Send


class PathsOnly:
    """The app's router for `request.url_for`, answering paths without a scheme.

    A route's URLPath says "http", which makes Starlette prefix a scheme even when the
    request has no host (`http:///admin/`, which a browser reads as host "admin").

    A name of a mount (`admin:list`) is asked of that mount first: the app's router would
    ask every API route before reaching the admin, mounted last. Same answer (names are
    unique); a name the mount does not know still gets the whole walk.

    One instance serves every request of an app, and remembers each path it answered: a
    page's menu, assets and links are a few dozen names, the same on every page, and a
    path depends only on the name, the parameters and the (fixed) route table. The memory
    is bounded: past MEMORY_LIMIT answers it starts again.
    """

    MEMORY_LIMIT = 4096

    def __init__(self, router: Any) -> None:
        self.router = router
        self.mounts: dict[str, Mount] | None = None
        self.known: dict[tuple[str, tuple[tuple[str, type, Any], ...]], URLPath] = {}

    def url_path_for(self, name: str, /, **path_params: Any) -> URLPath:
        # Each value with its type: 1, 1.0 and True are equal keys but different paths.
        key = (name, tuple(sorted((k, type(v), v) for k, v in path_params.items())))
        try:
            return self.known[key]
        except KeyError:
            pass
        except TypeError:  # a parameter that cannot be a key: answer without remembering
            return self.walk(name, path_params)
        if len(self.known) >= self.MEMORY_LIMIT:
            self.known.clear()
        path = self.known[key] = self.walk(name, path_params)
        return path

    def walk(self, name: str, path_params: dict[str, Any]) -> URLPath:
        mount = self.mount_of(name)
        if mount is not None:
            try:
                return URLPath(str(mount.url_path_for(name, **path_params)))
            except NoMatchFound:
                pass
        return URLPath(str(self.router.url_path_for(name, **path_params)))

    def mount_of(self, name: str) -> Mount | None:
        prefix, colon, _ = name.partition(":")
        if not colon:
            return None
        if self.mounts is None:
            routes = getattr(self.router, "routes", ())
            self.mounts = {r.name: r for r in routes if isinstance(r, Mount) and r.name}
        return self.mounts.get(prefix)


class HostlessUrlsMiddleware:
    """Drops `Host` (and the server address) from the scope the admin's pages see, and
    builds their URLs as paths.

    Runs after the checks that compare the request's origin with its host (CSRF).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.paths: PathsOnly | None = None  # the app's router, as paths (one app per stack)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = [(key, value) for key, value in scope.get("headers", ()) if key != b"host"]
            scope = {**scope, "headers": headers, "server": None}
            router = scope.get("router") or scope.get("app")
            if router is not None and not isinstance(router, PathsOnly):
                if self.paths is None or self.paths.router is not router:
                    self.paths = PathsOnly(router)
                scope["router"] = self.paths
        await self.app(scope, receive, send)
