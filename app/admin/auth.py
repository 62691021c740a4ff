"""Admin authentication: the signed `bo_session` cookie → a live staff session → a Principal."""

from __future__ import annotations

from typing import Any

from sqladmin.authentication import AuthenticationBackend
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import Response

from app.admin.csrf import MAX_UPLOAD_BYTES, CSRFMiddleware
from app.admin.paths import HostlessUrlsMiddleware
from app.auth.principal import PRINCIPAL_STATE, Principal, principal_in
from app.edge.callers import request_meta, staff_page_caller
from app.infra.db import Database
from app.infra.settings import Settings

SESSION_TOKEN_KEY = "sid"


def current_principal(request: Request) -> Principal | None:
    """The Principal `authenticate` put on the request (None before login)."""
    return principal_in(request.scope)


class StaffAuthBackend(AuthenticationBackend):
    """sqladmin's authentication hook on our server-side sessions.

    Login and logout are handled by BackofficeAdmin (they need CSRF, throttling and
    session rotation); this class answers "who is this request" for every admin page.
    """

    def __init__(self, database: Database, settings: Settings, cookie_name: str) -> None:
        self.database = database
        self.settings = settings
        # Our session middleware replaces sqladmin's (which would set a `session` cookie).
        # The cookie carries only the opaque session token and the CSRF secret.
        self.middlewares = [
            Middleware(
                SessionMiddleware,
                secret_key=settings.secret_key,
                session_cookie=cookie_name,
                max_age=settings.session_max_hours * 3600,
                path="/",
                same_site="lax",
                https_only=settings.is_production,
            ),
            # The product import's upload is read after the login check (SPEC §14).
            Middleware(
                CSRFMiddleware,
                secret_key=settings.secret_key,
                uploads={"/product-import": MAX_UPLOAD_BYTES},
            ),
            Middleware(HostlessUrlsMiddleware),
        ]

    async def login(self, request: Request) -> Response | bool:  # pragma: no cover
        raise NotImplementedError("BackofficeAdmin.login handles the form")

    async def logout(self, request: Request) -> Response | bool:  # pragma: no cover
        raise NotImplementedError("BackofficeAdmin.logout handles logout")

    async def authenticate(self, request: Request) -> Response | bool:
        token = request.session.get(SESSION_TOKEN_KEY)
        if not isinstance(token, str) or not token:
            return False
        # A page's caller is read through the request reader (app/infra/db.py): on
        # PostgreSQL one statement on a pooled connection, no BEGIN/COMMIT around it. The
        # one write, the last-seen stamp (once a minute), commits on its own: a repeat of
        # it sets the same value, so a retried page never needs it undone.
        async with self.database.reader() as reader:
            caller = await staff_page_caller(reader, token, self.settings, request_meta(request))
        if caller is None:
            request.session.pop(SESSION_TOKEN_KEY, None)
            return False
        request.scope.setdefault("state", {})[PRINCIPAL_STATE] = caller.principal
        request.state.staff_session_id = caller.session_id
        request.state.user_id = caller.principal.user_id
        return True

    async def get_user_id(self, request: Request) -> Any:
        principal = current_principal(request)
        return principal.user_id if principal else None
